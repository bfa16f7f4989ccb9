//! `hookwire`: the operator CLI for plugin folders (`hookwire plugins list|check|graph|new`).
//! See [`hookwire::cli`]. This standalone binary links no plugins, so dependencies on linked
//! plugins are reported as unchecked; a host embeds [`hookwire::cli::run`] to check those too.

use std::process::ExitCode;

fn main() -> ExitCode {
    hookwire::cli::run(
        std::env::args_os(),
        None,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}
