//! Compile-fail tests: type errors in specs, impls and registrations must be caught by the
//! compiler, with messages that point at the user's mistake.
//!
//! The expected `.stderr` files depend on the compiler version; regenerate them with
//! `TRYBUILD=overwrite cargo test -p hookwire-ui-tests` after a toolchain upgrade, and read them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
