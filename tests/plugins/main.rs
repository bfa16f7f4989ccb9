//! The plugin host: lifecycle, dependencies, configuration, the test kit, the `#[hookwire::plugin]` macro, messages.
//!
//! One test binary of several modules (one per former test file), so that the suite links a
//! few binaries rather than one per file: add a new test file of this area as a module here.

mod api_surface;
mod display;
mod plugin_config;
mod plugin_configured;
mod plugin_deps;
mod plugin_edges;
mod plugin_enable;
mod plugin_host;
mod plugin_macro;
mod plugin_reload;
mod plugin_simple;
mod registration_semantics_host;
