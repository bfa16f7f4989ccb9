//! The web integration (feature `axum`) over real HTTP on 127.0.0.1: the request hooks layer,
//! fail-closed answers, the extractors, the server's lifecycle and the `web_app` demo.

mod common;
mod demo;
mod extract;
mod fail_closed;
mod layer;
mod serve;
