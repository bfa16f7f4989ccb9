//! Discovery without linked plugins: `plugin.toml` manifests (parsing, validation, positions in
//! errors) and folder scans (order, duplicates, the scanner's cache). Needs the feature
//! `discovery`.
//!
//! One test binary of several modules: add a new test file of this area as a module here. Tests
//! that submit linked plugins (`submit_plugin!`) stay in binaries of their own, since every
//! submission linked into a binary is seen by every `discover` in it.

mod folders;
mod manifest;
mod warm_rescan;
