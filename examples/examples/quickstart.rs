//! The main demo: a host with the `hookspecs` specs, three plugins, every call mode, and which
//! plugin returned what.
//!
//! Run with `cargo run --example quickstart`.

use std::collections::HashMap;

use hookspecs::{
    AfterRequest, AppInfo, AuthRequest, Authenticate, BeforeRequest, Config, Exchange,
    OnConfigLoaded, OnStartup, Principal, Request, Response,
};
use hookwire::{HookManager, HookOutcome, HookReturn, ImplOutcome, Next, WrapResult};

/// Plugin 1: answers `authenticate` from a token table (async, tryfirst).
///
/// One annotated impl block is the whole plugin: each `#[hookimpl]` method implements the hook
/// named after it (`authenticate` → the `Authenticate` spec, whose name is "authenticate").
struct TokenAuth {
    tokens: HashMap<String, Principal>,
}

#[hookwire::plugin(name = "token-auth", version = "1.0.0")]
impl TokenAuth {
    #[hookimpl(tryfirst)]
    async fn authenticate(&self, req: &AuthRequest) -> HookReturn<Principal> {
        Ok(self.tokens.get(&req.token).cloned())
    }

    #[hookimpl]
    fn on_startup(&self, app: &AppInfo) -> HookReturn<String> {
        Ok(Some(format!("token-auth ready for {}", app.name)))
    }
}

/// Plugin 2: answers `/health` itself, before any handler runs; its start-up check fails.
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

/// Plugin 3: logs requests, wraps `before_request`, and wants the configuration (historic).
struct AccessLog;

#[hookwire::plugin(name = "access-log", version = "1.0.0")]
impl AccessLog {
    #[hookimpl(wrapper)]
    async fn before_request(
        &self,
        req: &Request,
        next: Next<'_, BeforeRequest>,
    ) -> WrapResult<Response> {
        println!("  [access-log wrapper] -> {} {}", req.method, req.path);
        let outcome = next.run().await;
        let answered_by = outcome.answers().next().map(|(p, _)| p.to_owned());
        println!("  [access-log wrapper] <- answered by {answered_by:?}");
        Ok(outcome)
    }

    #[hookimpl]
    fn after_request(&self, ex: &Exchange) -> HookReturn<()> {
        println!(
            "  [access-log] {} {} -> {}",
            ex.request.method, ex.request.path, ex.response.status
        );
        Ok(Some(()))
    }

    #[hookimpl]
    fn on_config_loaded(&self, cfg: &Config) -> HookReturn<()> {
        println!("  [access-log] got config (replayed): {:?}", cfg.values);
        Ok(Some(()))
    }

    #[hookimpl(trylast)]
    fn on_startup(&self, _: &AppInfo) -> HookReturn<String> {
        Ok(Some("access-log writing to stdout".into()))
    }
}

fn report<T: std::fmt::Debug>(title: &str, outcome: &HookOutcome<T>) {
    println!(
        "{title}: hook `{}`, {} impl(s) ran",
        outcome.hook(),
        outcome.len()
    );
    for (plugin, o) in outcome.iter() {
        match o {
            ImplOutcome::Value(v) => println!("  {plugin:<11} answered {v:?}"),
            ImplOutcome::NoAnswer => println!("  {plugin:<11} had no answer"),
            ImplOutcome::Failed(f) => println!("  {plugin:<11} {f}"),
            _ => println!("  {plugin:<11} {:?}", o.kind()),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pm = HookManager::builder()
        .spec::<OnStartup>()
        .spec::<BeforeRequest>()
        .spec::<AfterRequest>()
        .json_spec::<Authenticate>()
        .spec::<OnConfigLoaded>()
        .build();

    // The configuration is announced before every plugin is there: historic.
    pm.hook::<OnConfigLoaded>()
        .call_historic(
            Config {
                values: [("log_level".to_owned(), "info".to_owned())].into(),
            },
            |plugin, o| println!("  historic on_config_loaded: {plugin} -> {}", o.kind()),
        )
        .await?;

    let alice = Principal {
        user: "alice".into(),
        roles: vec!["admin".into()],
    };
    pm.add_plugin(TokenAuth {
        tokens: [("s3cret".to_owned(), alice)].into(),
    })?;
    pm.add_plugin(Health)?;
    println!("registering access-log (the stored config call is replayed to it):");
    pm.add_plugin(AccessLog)?;
    pm.check_pending()?;

    // 1. Collect-all: every plugin answers; one fails, the others are unaffected.
    let app = AppInfo {
        name: "demo".into(),
        version: "1.0.0".into(),
    };
    report(
        "\n1. collect-all",
        &pm.hook::<OnStartup>().call(&app).await?,
    );

    // 2. First result: the first plugin that recognises the token answers.
    let auth = pm.hook::<Authenticate>();
    let who = auth
        .call(&AuthRequest {
            token: "s3cret".into(),
        })
        .await?;
    report("\n2. firstresult", &who);
    println!("   -> principal: {:?}", who.into_value());

    // 3. First result with a wrapper: `/health` is answered by a plugin, `/users` by nobody.
    for path in ["/health", "/users"] {
        let req = Request {
            method: "GET".into(),
            path: path.into(),
            ..Request::default()
        };
        println!("\n3. before_request {path}:");
        let out = pm.hook::<BeforeRequest>().call(&req).await?;
        let response = out.into_value().unwrap_or(Response {
            status: 404,
            body: "not found".into(),
        });
        pm.hook::<AfterRequest>()
            .call(&Exchange {
                request: req,
                response,
            })
            .await?;
    }

    // 4. Fail-fast, pluggy's behaviour: the first failure is the call's error.
    let err = pm
        .hook::<OnStartup>()
        .fail_fast()
        .call(&app)
        .await
        .unwrap_err();
    println!("\n4. fail-fast: {err}");

    // 5. The dynamic layer: the same typed hook, by name, with JSON.
    let out = pm
        .call_json("authenticate", serde_json::json!({"token": "s3cret"}))
        .await?;
    println!(
        "\n5. call_json(\"authenticate\"): {:?}",
        out.answers().collect::<Vec<_>>()
    );
    Ok(())
}
