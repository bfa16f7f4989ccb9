//! The demo host's hook specifications, shared by hookwire's examples, tests and benches.
//!
//! - lifecycle: [`OnStartup`], [`OnShutdown`] (collect-all);
//! - requests: [`BeforeRequest`] (first result: a plugin may answer the request itself),
//!   [`AfterRequest`] (collect-all);
//! - auth: [`Authenticate`] (first result);
//! - configuration: [`OnConfigLoaded`] (historic: replayed to plugins registered later);
//! - [`Compute`]: `u64 -> u64`, collect-all, and [`ComputeFirst`], its first-result twin, for
//!   benchmarks.
//!
//! Every type is a serde type, so every spec can also be declared with `json_spec` and reached
//! from the dynamic (JSON) layer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Who the host is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    /// Application name.
    pub name: String,
    /// Application version.
    pub version: String,
}

/// An incoming HTTP-like request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, e.g. `/health`.
    pub path: String,
    /// Request headers.
    pub headers: BTreeMap<String, String>,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Body text.
    pub body: String,
}

/// A request together with the response sent for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// The request.
    pub request: Request,
    /// The response.
    pub response: Response,
}

/// Credentials to check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    /// A bearer token.
    pub token: String,
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// User name.
    pub user: String,
    /// Roles granted.
    pub roles: Vec<String>,
}

/// The host's loaded configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Config {
    /// Key/value settings.
    pub values: BTreeMap<String, String>,
}

hookwire::hookspec! {
    /// Runs once at start-up in every plugin; each answers a line for the start-up log.
    #[name = "on_startup"]
    pub struct OnStartup(AppInfo) -> String;

    /// Runs once at shutdown in every plugin.
    #[name = "on_shutdown"]
    pub struct OnShutdown(AppInfo) -> ();

    /// Before a request is handled; the first plugin that answers with a response handles it.
    #[firstresult]
    #[name = "before_request"]
    pub struct BeforeRequest(Request) -> Response;

    /// After a request was handled; every plugin sees it (logging, metrics).
    #[name = "after_request"]
    pub struct AfterRequest(Exchange) -> ();

    /// Who is calling? The first plugin that recognises the credentials answers.
    #[firstresult]
    #[name = "authenticate"]
    pub struct Authenticate(AuthRequest) -> Principal;

    /// The configuration was loaded; replayed to plugins registered later.
    #[historic]
    #[name = "on_config_loaded"]
    pub struct OnConfigLoaded(Config) -> ();

    /// A pure function of a number; used by benchmarks and tests.
    #[name = "compute"]
    pub struct Compute(u64) -> u64;

    /// [`Compute`]'s first-result twin: the first plugin that answers gives the number.
    #[firstresult]
    #[name = "compute_first"]
    pub struct ComputeFirst(u64) -> u64;
}
