//! `hookwire::web` over real HTTP: servers on 127.0.0.1:0, `reqwest` clients.
//!
//! One test binary of several modules: add a new test file of this area as a module here.

mod admin;
mod fixture;
mod health;
mod metrics;
mod routes;
