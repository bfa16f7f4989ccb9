use std::cell::Cell;

hookwire::hookspec! {
    // Arguments are shared with every impl, possibly across threads: they must be `Sync`.
    pub struct Count(Cell<u64>) -> u64;
}

fn main() {}
