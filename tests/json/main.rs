//! The dynamic (JSON) layer and bounds on untrusted input.
//!
//! One test binary of several modules (one per former test file), so that the suite links a
//! few binaries rather than one per file: add a new test file of this area as a module here.

mod bounded_input;
mod dynamic;
mod registration;
