hookwire::hookspec! {
    #[firstresult]
    pub struct Lookup(u64) -> ;
}

fn main() {}
