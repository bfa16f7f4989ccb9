//! The operator CLI (feature `cli`): the `hookwire` binary, and [`run`], which a host embeds
//! so that its own binary checks its linked plugins too.
//!
//! ```text
//! hookwire plugins list  <DIRS>... [--json] [--feature F]...   a table: name, version, kind,
//!                                                              enabled, lazy, source, status
//! hookwire plugins check <DIRS>... [--feature F]...            every problem; exit 1 if any
//! hookwire plugins graph <DIRS>... [--format text|dot]         the dependency graph, cycles marked
//! hookwire plugins new   <NAME> [--dir DIR]                    a plugin folder with a valid manifest
//! ```
//!
//! `<DIRS>` are plugin folders in order (a later folder wins a name), as for
//! [`DiscoveryOptions::folders`](crate::discovery::DiscoveryOptions::folders); `--feature`
//! declares a feature for manifests' `conditions.features`. Output is sorted by name.
//!
//! - **Standalone** (`run(args, None, ..)`, the `hookwire` binary): the manifests are read and
//!   checked; linked plugins are not visible, so a `kind = "linked"` manifest is listed as
//!   unchecked and a dependency on it (or a conflict with it) is reported as unchecked, not as
//!   an error. A dependency on a name that has no manifest is missing.
//! - **Embedded** (`run(args, Some(&host), ..)`): [`PluginHost::discover`] runs on the host,
//!   so its linked plugins and the plugins its code added are listed and checked with the
//!   manifests, against the host's API version — what [`PluginHost::start`] would find.
//!   Pass a host that has not started: `discover` adds the plugins it finds to it.
//!
//! Dependencies are checked by the same resolver as [`Resolution::compute`](crate::deps::Resolution::compute).
//!
//! Build and run: `cargo run --features cli --bin hookwire -- plugins check plugins/`.
//!
//! Embedding it in a host's binary (with `hookwire` as a dependency with feature `cli`):
//!
//! ```no_run
//! use hookwire::PluginHost;
//! // use my_plugin_crate as _; // link the plugin crates, so that `discover` sees them
//!
//! fn main() -> std::process::ExitCode {
//!     let host = PluginHost::new();
//!     hookwire::cli::run(std::env::args_os(), Some(&host), &mut std::io::stdout(), &mut std::io::stderr())
//! }
//! ```

mod inspect;
mod output;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::PluginHost;

/// The operator CLI's arguments.
#[derive(Debug, Parser)]
#[command(
    name = "hookwire",
    version,
    about = "Inspect and check hookwire plugin folders"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Plugin folders: list, check, graph, new.
    #[command(subcommand)]
    Plugins(Plugins),
}

#[derive(Debug, Subcommand)]
enum Plugins {
    /// A table of the plugins found: name, version, kind, enabled, lazy, source, status.
    List {
        /// Plugin folders, in order (a later folder wins a name).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// JSON for scripts instead of the table.
        #[arg(long)]
        json: bool,
        /// A feature the host declares, for manifests' `conditions.features` (repeatable).
        #[arg(long = "feature", value_name = "FEATURE")]
        features: Vec<String>,
    },
    /// Validates manifests, dependencies, conflicts and conditions; exit code 1 on any problem.
    Check {
        /// Plugin folders, in order (a later folder wins a name).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// A feature the host declares, for manifests' `conditions.features` (repeatable).
        #[arg(long = "feature", value_name = "FEATURE")]
        features: Vec<String>,
    },
    /// The dependency graph of the plugins that would run; cycles marked.
    Graph {
        /// Plugin folders, in order (a later folder wins a name).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// `text` (one plugin per line with its dependencies) or `dot` (Graphviz).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// A feature the host declares, for manifests' `conditions.features` (repeatable).
        #[arg(long = "feature", value_name = "FEATURE")]
        features: Vec<String>,
    },
    /// Creates `<DIR>/<NAME>/plugin.toml`, a valid manifest to edit.
    New {
        /// The plugin's name: `[a-z0-9][a-z0-9_-]*`.
        name: String,
        /// The plugin folder to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// The graph's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Dot,
}

/// Runs the CLI with `args` (the first is the program's name, as in
/// [`std::env::args_os`]), writing its output to `out` and its errors to `err`, and returns
/// the process's exit code: 0 on success, 1 when `check` found a problem or a command failed,
/// 2 for bad arguments (clap's usage error).
///
/// With `host`, plugins are discovered into it ([`PluginHost::discover`]), so the host's
/// linked plugins and its own are listed and checked too; without, only the manifests are
/// (see the [module docs](self)).
///
/// Writing to `out` or `err` failing (a closed pipe) ends the command with exit code 1.
pub fn run<I, T>(
    args: I,
    host: Option<&PluginHost>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            let _ = if e.use_stderr() {
                err.write_all(text.as_bytes())
            } else {
                out.write_all(text.as_bytes())
            };
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let Command::Plugins(command) = cli.command;
    let result = match command {
        Plugins::List {
            dirs,
            json,
            features,
        } => {
            let found = inspect::inspect(&dirs, &features, host);
            if json {
                output::list_json(&found, out)
            } else {
                output::list_table(&found, out)
            }
            .map(|()| true)
        }
        Plugins::Check { dirs, features } => {
            let found = inspect::inspect(&dirs, &features, host);
            output::check(&found, out)
        }
        Plugins::Graph {
            dirs,
            format,
            features,
        } => {
            let found = inspect::inspect(&dirs, &features, host);
            match format {
                Format::Text => output::graph_text(&found, out),
                Format::Dot => output::graph_dot(&found, out),
            }
            .map(|()| true)
        }
        Plugins::New { name, dir } => match output::new_plugin(&name, &dir) {
            Ok(path) => writeln!(out, "created {}", path.display()).map(|()| true),
            Err(message) => {
                let _ = writeln!(err, "error: {message}");
                Ok(false)
            }
        },
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            let _ = writeln!(err, "error: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}
