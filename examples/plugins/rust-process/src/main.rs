//! A process plugin in Rust: the host starts this program and talks to it over stdio
//! (`docs/protocol.md`). Run by hand, it says so and exits.

use std::time::Duration;

use hookwire::external::{serve_stdio, PluginServer, ServeError};
use serde_json::Value;

hookwire::hookspec! {
    /// Greets someone.
    #[name = "greet"]
    pub struct Greet(String) -> String;
}

hookwire::hookspec! {
    /// Greets someone through the host: calls `greet` back (every plugin's impl, this one's
    /// too) and answers what the host answered.
    #[name = "relay"]
    pub struct Relay(String) -> Value;
}

fn main() -> Result<(), ServeError> {
    let server = PluginServer::new("rust-greeter", env!("CARGO_PKG_VERSION"))
        .hook::<Greet, _, _>(|name, call| async move {
            match name.as_str() {
                "nobody" => Ok(None),
                // A crash on purpose, for the host's tests.
                "crash" => std::process::exit(7),
                // A stray `println!`, for the host's tests: it goes to stderr (the host's
                // log), never into the protocol on stdout.
                _ if name.starts_with("print") => {
                    println!("stray output: {name}");
                    Ok(Some(format!("printed {name}")))
                }
                _ => {
                    let greeting = call.config()["greeting"].as_str().unwrap_or("Hello");
                    Ok(Some(format!("{greeting} from Rust, {name}")))
                }
            }
        })
        .priority(5)
        .hook::<Relay, _, _>(|name, call| async move {
            // With `relay_timeout_ms` in its configuration, it waits at most that long for the
            // host's answer (and fails the call when none came).
            let answer = match call.config()["relay_timeout_ms"].as_u64() {
                Some(ms) => {
                    let limit = Duration::from_millis(ms);
                    call.host_call_with_timeout("greet", Value::from(name), limit)
                        .await?
                }
                None => call.host_call("greet", Value::from(name)).await?,
            };
            Ok(Some(serde_json::to_value(answer)?))
        });
    serve_stdio(server)
}
