//! The Rust process plugin of `benches/external.rs`: the Rust SDK with one trivial hook,
//! `ping(u64) -> u64` (answers its argument plus one), so that the bench measures the protocol
//! and the SDK, not the work of an impl.
//!
//! By default it runs as every SDK plugin does, with `serve_stdio` (tokio's `stdin`/`stdout`,
//! which do each read and write on a thread of tokio's blocking pool). With `--async-pipes` it
//! runs the same server with `serve` over stdin/stdout opened as tokio's non-blocking unix
//! pipes (reads and writes on the runtime's own thread, readiness from epoll): the bench's
//! `rust-pipes` row, which shows what the blocking stdio costs.

use std::os::fd::AsFd;

use hookwire::external::{serve, serve_stdio, PluginServer, ServeError};
use tokio::net::unix::pipe;

hookwire::hookspec! {
    /// Answers its argument plus one.
    #[name = "ping"]
    pub struct Ping(u64) -> u64;
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = PluginServer::new("ping-rs", env!("CARGO_PKG_VERSION"))
        .hook::<Ping, _, _>(|n, _call| async move { Ok(Some(n + 1)) });
    if std::env::args().nth(1).as_deref() != Some("--async-pipes") {
        return Ok(serve_stdio(server)?);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    rt.block_on(async {
        let stdin = std::io::stdin().as_fd().try_clone_to_owned()?;
        let stdout = std::io::stdout().as_fd().try_clone_to_owned()?;
        let reader = pipe::Receiver::from_owned_fd(stdin)?;
        let writer = pipe::Sender::from_owned_fd(stdout)?;
        serve(server, reader, writer).await;
        Ok::<(), std::io::Error>(())
    })?;
    rt.shutdown_background();
    Ok(())
}
