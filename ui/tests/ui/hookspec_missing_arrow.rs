hookwire::hookspec! {
    pub struct OnStartup(());
}

fn main() {}
