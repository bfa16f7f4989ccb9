// Only the host moves a plugin's state: `advance` and `can_advance_to` are not public.
use hookwire::plugin::PluginState;

fn main() {
    let mut state = PluginState::Discovered;
    let _ = state.can_advance_to(&PluginState::Registered);
    let _ = state.advance(PluginState::Registered);
}
