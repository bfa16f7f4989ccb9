// A repeated option is a compile error that names the option.
hookwire::hookspec! {
    #[version = 2]
    #[version = 3]
    pub struct Lookup(u64) -> u32;
}

fn main() {}
