//! Plugins in other languages: the host finds a Python plugin (`plugins/python/greeter`, with
//! the Python SDK) and a Rust one (`plugins/rust-process`, with `serve_stdio`) in plugin
//! folders (`kind = "process"` manifests), starts their processes, calls their hooks, lives
//! through a crash of one (it is restarted) and prints the call statistics. The Rust plugin's
//! manifest is `plugins/process/rust-greeter/plugin.toml` (a plugin's folder is named after
//! it).
//!
//! Run: `cargo run -p hookwire-examples --example external --features external`
//!
//! The Rust plugin's manifest runs `target/debug/rust-process-plugin` (the workspace's default
//! target directory): when it is missing, this example builds it first with
//! `cargo build -p rust-process-plugin` (`$CARGO`, else `cargo` from `PATH`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hookspecs::{AppInfo, BeforeRequest, OnShutdown, OnStartup, Request};
use hookwire::discovery::DiscoveryOptions;
use hookwire::plugin::PluginEvent;
use hookwire::spec::SpecInfo;
use hookwire::{HookManager, PluginHost};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

fn plugins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins")
}

/// Builds the Rust plugin if its executable is not where its manifest says.
fn ensure_rust_plugin() -> Result<(), Box<dyn std::error::Error>> {
    let exe = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/rust-process-plugin");
    if exe.exists() {
        return Ok(());
    }
    println!("building rust-process-plugin (once)...");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "rust-process-plugin",
            "--target-dir",
        ])
        .arg(workspace.join("target"))
        .current_dir(&workspace)
        .status()?;
    if !status.success() {
        return Err("`cargo build -p rust-process-plugin` failed".into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ensure_rust_plugin()?;

    // The hooks offered to process plugins: typed specs with their serde bridge (the Python
    // greeter's) and dynamic JSON hooks (the Rust plugin's). Statistics on.
    let pm = HookManager::builder()
        .stats(true)
        .json_spec::<OnStartup>()
        .json_spec::<BeforeRequest>()
        .json_spec::<OnShutdown>()
        .dynamic_spec(SpecInfo::json("greet"))
        .dynamic_spec(SpecInfo::json("relay"))
        .build();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let mut events = host.events();

    let report = host.discover(
        &DiscoveryOptions::new()
            .folder(plugins().join("python"))
            .folder(plugins().join("process")),
    );
    println!("{report}");
    let started = host.start().await?;
    println!("started: {}", started.started.join(", "));
    for (plugin, why) in &started.failed {
        println!("failed: {plugin}: {why}");
    }

    // Typed calls reach the Python plugin through the JSON layer.
    let app = AppInfo {
        name: "demo".into(),
        version: "1.0.0".into(),
    };
    for (plugin, line) in pm.hook::<OnStartup>().call(&app).await?.answers() {
        println!("on_startup: {plugin} says {line:?}");
    }
    let mut request = Request {
        method: "GET".into(),
        path: "/greet".into(),
        ..Request::default()
    };
    request.headers.insert("x-name".into(), "Ada".into());
    if let Some(response) = pm
        .hook::<BeforeRequest>()
        .call(&request)
        .await?
        .into_value()
    {
        println!("GET /greet: {} {}", response.status, response.body);
    }

    // JSON calls reach the Rust plugin; `relay` calls `greet` back through the host.
    let out = pm.call_json("greet", json!("Grace")).await?;
    println!("greet: {}", out.into_value().unwrap_or_default());
    let out = pm.call_json("relay", json!("Linus")).await?;
    println!("relay: {}", out.into_value().unwrap_or_default());

    // A crash: the Rust plugin exits on `crash`. Only its call fails; it is restarted.
    let out = pm.call_json("greet", json!("crash")).await?;
    for (plugin, outcome) in out.iter() {
        if let Some(failure) = outcome.failure() {
            println!("crash: {plugin} {failure}");
        }
    }
    // The host tells its subscribers (an audit log, a dashboard) about the crash and the
    // restart.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
            Ok(Ok(PluginEvent::Crashed { plugin, detail, .. })) => {
                println!("event: {plugin} crashed: {detail}");
            }
            Ok(Ok(PluginEvent::Restarted {
                plugin, attempt, ..
            })) => {
                println!("event: {plugin} restarted (attempt {attempt})");
                break;
            }
            Ok(Ok(_) | Err(RecvError::Lagged(_))) => {}
            Ok(Err(RecvError::Closed)) | Err(_) => {
                println!("event: no restart");
                break;
            }
        }
    }
    let out = pm.call_json("greet", json!("again")).await?;
    println!(
        "after the restart: {}",
        out.into_value()
            .map_or("no answer".to_owned(), |v| v.to_string())
    );

    pm.hook::<OnShutdown>().call(&app).await?;
    println!("statistics:");
    for hook in &pm.stats().hooks {
        for i in &hook.impls {
            println!(
                "  {:<15} {:<13} calls {:>2}  answers {:>2}  errors {:>2}  p50 {} us",
                hook.hook,
                i.plugin,
                i.calls,
                i.answers,
                i.errors,
                i.p50_us.map_or("-".to_owned(), |p| p.to_string())
            );
        }
    }
    let stopped = host.shutdown(Duration::from_secs(5)).await;
    println!("stopped cleanly: {}", stopped.is_clean());
    Ok(())
}
