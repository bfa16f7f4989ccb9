//! `hookwire::web` over real HTTP: servers on 127.0.0.1:0, `reqwest` clients — plugin routes,
//! health, admin and metrics; the request hooks layer, fail-closed answers, the extractors, the
//! server's lifecycle and the `web_app` demo.
//!
//! One test binary of several modules: add a new test file of this area as a module here.

mod admin;
mod common;
mod composition;
mod demo;
mod extract;
mod fail_closed;
mod fixture;
mod health;
mod layer;
mod metrics;
mod not_running;
mod route_guard;
mod routes;
mod serve;
