//! Hot reload: a linked plugin (`greeter-linked`) configured by a manifest in a plugin folder,
//! watched with `PluginHost::watch`. While a task keeps calling the hook, the manifest is
//! edited (the plugin is replaced: calls switch to the new greeting), then broken (the reload
//! fails, the old greeting keeps answering), then fixed.
//!
//! Run: `cargo run -p hookwire-examples --example hot_reload --features watch`

use std::path::Path;
use std::time::Duration;

use hookspecs::{AppInfo, OnStartup};
use hookwire::discovery::DiscoveryOptions;
use hookwire::plugin::PluginEvent;
use hookwire::PluginHost;

// Links the plugin crate, so that its `submit_plugin!` is found.
use greeter_linked as _;

/// Saves the manifest as an editor does: a temporary file renamed over the old one.
fn save(folder: &Path, greeting: &str) -> std::io::Result<()> {
    let dir = folder.join("greeter");
    std::fs::create_dir_all(&dir)?;
    let text = format!(
        "name = \"greeter\"\nversion = \"1.0.0\"\nkind = \"linked\"\n\n[config]\ngreeting = \"{greeting}\"\n"
    );
    std::fs::write(dir.join("plugin.toml.tmp"), text)?;
    std::fs::rename(dir.join("plugin.toml.tmp"), dir.join("plugin.toml"))
}

/// Waits (at most 5 s) for the next reload outcome and prints it.
async fn reloaded(events: &mut tokio::sync::broadcast::Receiver<PluginEvent>) {
    let wait = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.recv().await {
                Ok(e @ (PluginEvent::Replaced { .. } | PluginEvent::ReloadFailed { .. })) => {
                    return e
                }
                Ok(_) => {}
                Err(e) => panic!("event stream: {e}"),
            }
        }
    });
    match wait.await {
        Ok(event) => println!("event: {event:?}"),
        Err(_) => println!("no reload within 5 s"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let plugins = std::env::temp_dir().join(format!("hookwire-hot-reload-{}", std::process::id()));
    save(&plugins, "Hello")?;
    let options = DiscoveryOptions::new()
        .folder(&plugins)
        .debounce(Duration::from_millis(200));

    let host = PluginHost::new();
    host.discover(&options);
    host.start().await?;
    let mut events = host.events();
    let watcher = host.watch(&options)?;

    // Calls keep flowing while the plugin is edited.
    let caller = {
        let host = host.clone();
        tokio::spawn(async move {
            let app = AppInfo {
                name: "shop".into(),
                version: "1.0.0".into(),
            };
            let mut last = String::new();
            loop {
                let lines = host.hook::<OnStartup>().call(&app).await;
                let line = lines
                    .map(|o| o.into_values().join(" | "))
                    .unwrap_or_default();
                if line != last {
                    println!("calls now answer: {line}");
                    last = line;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;

    println!("-- edit: greeting = Howdy");
    save(&plugins, "Howdy")?;
    reloaded(&mut events).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    println!("-- bad edit: not TOML");
    std::fs::write(plugins.join("greeter/plugin.toml"), "name = \"greeter\n")?;
    reloaded(&mut events).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!("(the old version kept serving: no change in the answers)");

    println!("-- fixed: greeting = Bonjour");
    save(&plugins, "Bonjour")?;
    reloaded(&mut events).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    caller.abort();
    drop(watcher);
    host.shutdown(Duration::from_secs(1)).await;
    std::fs::remove_dir_all(&plugins)?;
    Ok(())
}
