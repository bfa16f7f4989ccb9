// A second `#[name]` is a compile error that names the option.
hookwire::hookspec! {
    #[name = "lookup.v1"]
    #[name = "lookup.v2"]
    pub struct Lookup(u64) -> u32;
}

fn main() {}
