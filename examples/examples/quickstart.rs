//! The main demo, in one file: a host declares four hooks, four plugins implement them, and
//! each numbered section of the output shows one way to call a hook and what came back from
//! which plugin.
//!
//! Run with `cargo run -p hookwire-examples --example quickstart`.

use std::collections::HashMap;

use hookwire::{hook::Next, hook::WrapResult, HookManager, HookReturn, ImplOutcome};
use serde::{Deserialize, Serialize};

// ---- The host's side: the data its hooks carry, and the hooks (specs) themselves. ----------

#[derive(Debug, Clone)]
pub struct AppInfo {
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Serde types, so that `authenticate` can also be called by name with JSON (section 6).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Principal {
    pub user: String,
    pub roles: Vec<String>,
}

hookwire::hookspec! {
    /// Runs once at start-up in every plugin; each answers a line for the start-up log.
    /// (Collect-all, the default: every impl runs and every answer is kept.)
    #[name = "on_startup"]
    pub struct OnStartup(AppInfo) -> String;

    /// Who is calling? The first plugin that recognises the token answers.
    #[firstresult]
    #[name = "authenticate"]
    pub struct Authenticate(AuthRequest) -> Principal;

    /// Before a request is handled: a plugin may answer it itself.
    #[firstresult]
    #[name = "before_request"]
    pub struct BeforeRequest(Request) -> Response;

    /// The host's settings were loaded. Historic: a plugin registered later gets it too.
    #[historic]
    #[name = "on_config_loaded"]
    pub struct OnConfigLoaded(HashMap<String, String>) -> ();
}

// ---- The plugins' side: one annotated impl block is a whole plugin. ---------------------------
// Each `#[hookimpl]` method implements the spec named after it (`on_startup` → `OnStartup`).

/// Answers `authenticate` from a token table; runs first (`tryfirst`).
struct TokenAuth {
    tokens: HashMap<String, Principal>,
}

#[hookwire::plugin(name = "token-auth", version = "1.0.0")]
impl TokenAuth {
    #[hookimpl(tryfirst)]
    async fn authenticate(&self, req: &AuthRequest) -> HookReturn<Principal> {
        // `Ok(None)`: "not mine, ask the next plugin".
        Ok(self.tokens.get(&req.token).cloned())
    }

    #[hookimpl]
    fn on_startup(&self, app: &AppInfo) -> HookReturn<String> {
        Ok(Some(format!("token-auth ready for {}", app.name)))
    }
}

/// Answers `/health` itself; its start-up check returns an error.
struct Health;

#[hookwire::plugin(name = "health", version = "1.0.0")]
impl Health {
    #[hookimpl]
    fn before_request(&self, req: &Request) -> HookReturn<Response> {
        Ok((req.path == "/health").then(|| Response {
            status: 200,
            body: "ok".into(),
        }))
    }

    #[hookimpl]
    fn on_startup(&self, _: &AppInfo) -> HookReturn<String> {
        Err("disk check failed: /var/data is read-only".into())
    }
}

/// Has a bug: its start-up code panics.
struct Banner;

#[hookwire::plugin(name = "banner", version = "0.1.0")]
impl Banner {
    #[hookimpl]
    fn on_startup(&self, _: &AppInfo) -> HookReturn<String> {
        panic!("terminal width is 0")
    }
}

/// Logs every request around the other plugins (a wrapper) and reads the settings.
struct AccessLog;

#[hookwire::plugin(name = "access-log", version = "1.0.0")]
impl AccessLog {
    #[hookimpl(wrapper)]
    async fn before_request(
        &self,
        req: &Request,
        next: Next<'_, BeforeRequest>,
    ) -> WrapResult<Response> {
        println!("   [access-log] before: {} {}", req.method, req.path);
        let outcome = next.run().await; // the other impls run here
        match outcome.answers().next() {
            Some((plugin, _)) => println!("   [access-log] after: answered by {plugin}"),
            None => println!("   [access-log] after: no plugin answered"),
        }
        Ok(outcome) // a wrapper could also change or replace it
    }

    #[hookimpl]
    fn on_config_loaded(&self, settings: &HashMap<String, String>) -> HookReturn<()> {
        println!(
            "   [access-log] got the settings: log_level = {}",
            settings["log_level"]
        );
        Ok(Some(()))
    }

    #[hookimpl(trylast)]
    fn on_startup(&self, _: &AppInfo) -> HookReturn<String> {
        Ok(Some("access-log writing to stdout".into()))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pm = HookManager::builder()
        .spec::<OnStartup>()
        .json_spec::<Authenticate>() // typed, and callable by name with JSON
        .spec::<BeforeRequest>()
        .spec::<OnConfigLoaded>()
        .build();

    // A panic in an impl is caught by hookwire and becomes that impl's outcome, but Rust's
    // panic hook runs first, and the default one prints the panic to stderr (with a whole
    // backtrace when RUST_BACKTRACE is set). What to print is the application's choice
    // (hookwire never changes global state); this demo installs a one-line hook.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(ToString::to_string).unwrap_or_default();
        eprintln!("   [panic hook] a panic at {at}; hookwire catches it, see below");
    }));

    println!("1. A historic hook, called before any plugin is registered:");
    let settings: HashMap<String, String> = [("log_level".into(), "info".into())].into();
    pm.hook::<OnConfigLoaded>()
        .call_historic(settings, |_, _| {})
        .await?;
    println!("   no plugin yet; the call is kept and replayed to each plugin that registers:");

    let alice = Principal {
        user: "alice".into(),
        roles: vec!["admin".into()],
    };
    pm.add_plugin(TokenAuth {
        tokens: [("s3cret".to_owned(), alice)].into(),
    })?;
    pm.add_plugin(Health)?;
    pm.add_plugin(Banner)?;
    pm.add_plugin(AccessLog)?;
    pm.check_pending()?; // every impl names a hook the host declared

    println!(
        "\n2. Collect-all (on_startup): every impl runs; one failing does not stop the others."
    );
    let app = AppInfo {
        name: "demo".into(),
    };
    let outcome = pm.hook::<OnStartup>().call(&app).await?;
    for (plugin, result) in outcome.iter() {
        match result {
            ImplOutcome::Value(line) => println!("   {plugin:<10} answered: {line}"),
            ImplOutcome::Failed(failure) => println!("   {plugin:<10} failed: {failure}"),
            other => println!("   {plugin:<10} {}", other.kind()),
        }
    }
    println!("   The same outcome as an operator would log it (its Display):");
    println!("   {}", outcome.to_string().replace('\n', "\n   "));

    println!("\n3. First result (authenticate): the first plugin that answers wins.");
    for token in ["s3cret", "guess"] {
        let outcome = pm
            .hook::<Authenticate>()
            .call(&AuthRequest {
                token: token.into(),
            })
            .await?;
        match outcome.answers().next() {
            Some((plugin, who)) => println!(
                "   token {token:?}: user {} (roles: {}), answered by {plugin}",
                who.user,
                who.roles.join(", ")
            ),
            None => println!("   token {token:?}: no plugin recognised it"),
        };
    }

    println!("\n4. A wrapper (access-log) around the impls of before_request:");
    for path in ["/health", "/users"] {
        let req = Request {
            method: "GET".into(),
            path: path.into(),
        };
        match pm.hook::<BeforeRequest>().call(&req).await?.into_value() {
            Some(resp) => println!("   {path} -> {} {}", resp.status, resp.body),
            None => println!("   {path} -> no plugin answered: the app's own handler would run"),
        }
    }

    println!("\n5. Fail-fast (pluggy's behaviour): the first failure is the call's error:");
    if let Err(err) = pm.hook::<OnStartup>().fail_fast().call(&app).await {
        println!("   {err}");
    }

    println!(
        "\n6. The same authenticate hook called by name, with JSON (e.g. from a config file):"
    );
    let outcome = pm
        .call_json("authenticate", serde_json::json!({"token": "s3cret"}))
        .await?;
    for (plugin, answer) in outcome.answers() {
        println!("   {plugin} answered {answer}");
    }
    Ok(())
}
