//! Finding plugins: a plugin linked from another crate (`greeter-linked`, which registers
//! itself with `hookwire::submit_plugin!`), configured by a manifest in a plugin folder, next to
//! a process plugin (found, not loadable yet) and a broken manifest (reported, nothing else
//! lost).
//!
//! Run: `cargo run -p hookwire-examples --example discovery --features discovery`

use std::path::Path;

use hookspecs::{AppInfo, OnStartup};
use hookwire::discovery::DiscoveryOptions;
use hookwire::PluginHost;

// The trap: `greeter-linked` in Cargo.toml alone is not linked (nothing refers to it), and its
// plugin would not be found. This line links it.
use greeter_linked as _;

fn write(folder: &Path, name: &str, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(folder.join(name))?;
    std::fs::write(folder.join(name).join("plugin.toml"), text)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let plugins = std::env::temp_dir().join(format!("hookwire-discovery-{}", std::process::id()));
    write(
        &plugins,
        "greeter",
        r#"name = "greeter"
version = "1.0.0"
kind = "linked"
description = "Greets the application"

[config]
greeting = "Howdy"
"#,
    )?;
    write(
        &plugins,
        "reporter",
        r#"name = "reporter"
version = "0.3.0"
kind = "process"

[process]
command = ["python3", "main.py"]
restart = "on-failure"
"#,
    )?;
    write(
        &plugins,
        "broken",
        "name = \"broken\"\nkind = \"linked\"\nversion = \"1.2\"\n",
    )?;

    let host = PluginHost::new();
    let report = host.discover(&DiscoveryOptions::new().folder(&plugins));
    println!("{report}");

    host.start().await?;
    let app = AppInfo {
        name: "shop".into(),
        version: "1.0.0".into(),
    };
    for line in host.hook::<OnStartup>().call(&app).await?.into_values() {
        println!("on_startup: {line}");
    }
    host.shutdown(std::time::Duration::from_secs(1)).await;
    std::fs::remove_dir_all(&plugins)?;
    Ok(())
}
