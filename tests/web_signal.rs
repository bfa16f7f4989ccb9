//! `Server` shuts down gracefully on a real SIGTERM sent to this process: the request in
//! flight finishes, the shutdown hook runs, the plugins stop in reverse dependency order.
//! Alone in its binary: the signal handler it installs is process-wide (SIGINT is
//! `web_signal_int`).
#![cfg(unix)]

#[path = "common/web_signal.rs"]
mod web_signal;

#[tokio::test]
async fn sigterm_stops_the_server_after_the_request_in_flight_then_the_plugins() {
    web_signal::stops_gracefully_on("TERM").await;
}
