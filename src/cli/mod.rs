//! The operator CLI (feature `cli`): the `hookwire` binary, and [`run`], which a host embeds
//! so that its own binary checks its linked plugins too.
//!
//! ```text
//! hookwire plugins list  <DIRS>... [--json] [--feature F]...   a table: name, version, kind,
//!                                                              enabled, lazy, source, status
//! hookwire plugins check <DIRS>... [--feature F]...            every problem; exit 1 if any
//! hookwire plugins graph <DIRS>... [--format text|dot]         the dependency graph, cycles marked
//! hookwire plugins new   <NAME> [--dir DIR]                    a plugin folder with a valid manifest
//!
//! with feature `security`:
//! hookwire keys generate [--out FILE]                 a signing key: FILE (0600) and FILE.pub
//! hookwire plugins sign <DIR> --key FILE              writes <DIR>/plugin.toml.sig
//! hookwire plugins verify <DIRS>... [--trusted-key KEY|FILE]... [--config FILE]
//!                                                     signatures and pinned files; exit 1 if any fails
//! ```
//!
//! `plugins verify` takes plugin folders (holding `plugin.toml`) or folders of them; every
//! plugin must be signed by a trusted key (`--trusted-key`, or the `[security]` table of the
//! host's `--config` file) and every pinned file must match its sha256.
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
#[cfg(feature = "security")]
mod integrity;
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
    /// Signing keys for plugins: generate.
    #[cfg(feature = "security")]
    #[command(subcommand)]
    Keys(Keys),
}

#[cfg(feature = "security")]
#[derive(Debug, Subcommand)]
enum Keys {
    /// Generates an ed25519 signing key: the private key file (mode 0600) and `<FILE>.pub`;
    /// prints the public key and its id.
    Generate {
        /// The private key file to create (never overwritten).
        #[arg(long, default_value = "hookwire-signing.key")]
        out: PathBuf,
    },
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
    /// Signs `<DIR>/plugin.toml` (after checking its pinned files): writes `plugin.toml.sig`.
    #[cfg(feature = "security")]
    Sign {
        /// The plugin's folder (holding `plugin.toml`).
        dir: PathBuf,
        /// The private key file (`hookwire keys generate`).
        #[arg(long)]
        key: PathBuf,
    },
    /// Checks signatures (by a trusted key) and pinned files; every problem printed, exit
    /// code 1 on any.
    #[cfg(feature = "security")]
    Verify {
        /// Plugin folders, or folders of plugin folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// A trusted public key (base64 or hex) or a file holding one (repeatable).
        #[arg(long = "trusted-key", value_name = "KEY|FILE")]
        trusted_keys: Vec<String>,
        /// The host's config file: its `[security]` trusted keys are trusted too.
        #[arg(long)]
        config: Option<PathBuf>,
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
    // One arm only without the feature `security`.
    #[allow(clippy::infallible_destructuring_match)]
    let command = match cli.command {
        Command::Plugins(command) => command,
        #[cfg(feature = "security")]
        Command::Keys(Keys::Generate { out: file }) => {
            return finish(integrity::generate(&file, out, err), err)
        }
    };
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
        #[cfg(feature = "security")]
        Plugins::Sign { dir, key } => integrity::sign(&dir, &key, out, err),
        #[cfg(feature = "security")]
        Plugins::Verify {
            dirs,
            trusted_keys,
            config,
        } => integrity::verify(&dirs, &trusted_keys, config.as_deref(), out, err),
        Plugins::New { name, dir } => match output::new_plugin(&name, &dir) {
            Ok(path) => writeln!(out, "created {}", path.display()).map(|()| true),
            Err(message) => {
                let _ = writeln!(err, "error: {message}");
                Ok(false)
            }
        },
    };
    finish(result, err)
}

/// The exit code of a command's result (`Ok(false)`: it failed and said why).
fn finish(result: std::io::Result<bool>, err: &mut dyn Write) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            let _ = writeln!(err, "error: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}
