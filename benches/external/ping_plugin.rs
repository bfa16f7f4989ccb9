//! The Rust process plugin of `benches/external.rs`: the Rust SDK with one trivial hook,
//! `ping(u64) -> u64` (answers its argument plus one), so that the bench measures the protocol
//! and the SDK, not the work of an impl. It runs as every SDK plugin does, with `serve_stdio`.

use hookwire::external::{serve_stdio, PluginServer, ServeError};

hookwire::hookspec! {
    /// Answers its argument plus one.
    #[name = "ping"]
    pub struct Ping(u64) -> u64;
}

fn main() -> Result<(), ServeError> {
    let server = PluginServer::new("ping-rs", env!("CARGO_PKG_VERSION"))
        .hook::<Ping, _, _>(|n, _call| async move { Ok(Some(n + 1)) });
    serve_stdio(server)
}
