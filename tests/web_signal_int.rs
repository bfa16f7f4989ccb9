//! `Server` shuts down gracefully on a real SIGINT (what Ctrl-C sends) to this process: the
//! request in flight finishes, the shutdown hook runs, the plugins stop in reverse dependency
//! order. Alone in its binary: the signal handler it installs is process-wide (SIGTERM is
//! `web_signal`).
#![cfg(unix)]

#[path = "common/web_signal.rs"]
mod web_signal;

#[tokio::test]
async fn sigint_stops_the_server_after_the_request_in_flight_then_the_plugins() {
    web_signal::stops_gracefully_on("INT").await;
}
