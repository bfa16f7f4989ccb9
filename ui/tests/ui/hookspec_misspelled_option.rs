hookwire::hookspec! {
    #[firstresul]
    pub struct Lookup(u64) -> u32;
}

fn main() {}
