//! `#[hookwire::plugin]` / `#[hookimpl]`: one annotated impl block is a whole plugin, with the
//! same behaviour as the hand-written `impl Hook<S>` + `impl Plugin` it expands to.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookspecs::{AppInfo, AuthRequest, Authenticate, BeforeRequest, Compute, OnStartup, Principal};
use hookwire::{
    error::PluginError, hook::Next, hook::Placement, hook::WrapResult, outcome::OutcomeKind,
    plugin::PluginState, policy::BreakerConfig, policy::RetryPolicy, policy::Retryable, BoxError,
    HookManager, HookReturn, Plugin, PluginContext, PluginHost, PluginMeta,
};

fn app() -> AppInfo {
    AppInfo {
        name: "demo".into(),
        version: "1.0.0".into(),
    }
}

fn principal(user: &str) -> Principal {
    Principal {
        user: user.into(),
        roles: vec![],
    }
}

// ---- the example ------------------------------------------------------------------

#[derive(Default)]
struct TokenAuth {
    journal: Mutex<Vec<&'static str>>,
}

#[hookwire::plugin(
    name = "token-auth",
    version = "1.2.0",
    description = "Checks tokens",
    authors = ["Ada <ada@example.com>"],
    capabilities = ["auth"],
    requires = ["db ^1"],
    optional = "metrics >=0.3",
    conflicts = ["legacy-auth <2"],
    host_api = "^1"
)]
impl TokenAuth {
    #[hookimpl(tryfirst, timeout_ms = 50)]
    async fn authenticate(&self, req: &AuthRequest) -> HookReturn<Principal> {
        Ok((req.token == "t0k").then(|| principal("ada")))
    }

    #[hookimpl(spec = OnStartup)]
    fn banner(&self, info: &AppInfo) -> HookReturn<String> {
        Ok(Some(self.greeting(info)))
    }

    /// A helper: not a hook, stays an ordinary method.
    fn greeting(&self, info: &AppInfo) -> String {
        format!("token-auth ready for {}", info.name)
    }

    async fn init(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        self.journal.lock().unwrap().push("init");
        Ok(())
    }

    async fn start(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        self.journal.lock().unwrap().push("start");
        Ok(())
    }
}

#[test]
fn plugin_arguments_are_the_plugins_metadata() {
    let meta = TokenAuth::default().meta();
    let expected = PluginMeta::new("token-auth", "1.2.0")
        .description("Checks tokens")
        .author("Ada <ada@example.com>")
        .capability("auth")
        .requires("db", "^1")
        .optional("metrics", ">=0.3")
        .conflicts("legacy-auth", "<2")
        .host_api("^1");
    assert_eq!(meta, expected);
    assert!(meta.validate().is_ok());
}

#[tokio::test]
async fn each_hookimpl_method_is_registered_with_its_options() {
    let pm = HookManager::new();
    pm.add_plugin(TokenAuth::default()).unwrap();

    let auth = pm.hook::<Authenticate>().impls();
    assert_eq!(auth.len(), 1);
    assert_eq!(&*auth[0].plugin, "token-auth");
    assert_eq!(auth[0].options.placement, Placement::TryFirst);
    assert_eq!(auth[0].options.timeout, Some(Duration::from_millis(50)));
    let startup = pm.hook::<OnStartup>().impls();
    assert_eq!(startup.len(), 1);
    assert_eq!(startup[0].options, hookwire::hook::ImplOptions::default());

    let who = pm
        .hook::<Authenticate>()
        .call(&AuthRequest {
            token: "t0k".into(),
        })
        .await
        .unwrap()
        .into_value();
    assert_eq!(who, Some(principal("ada")));
    let nobody = pm
        .hook::<Authenticate>()
        .call(&AuthRequest {
            token: "nope".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        nobody.get("token-auth").map(|o| o.kind()),
        Some(OutcomeKind::NoAnswer)
    );
    let lines = pm.hook::<OnStartup>().call(&app()).await.unwrap();
    assert_eq!(lines.into_values(), ["token-auth ready for demo"]);
}

#[tokio::test]
async fn hook_methods_stay_callable_as_ordinary_methods() {
    let p = TokenAuth::default();
    assert_eq!(
        p.banner(&app()).unwrap().as_deref(),
        Some("token-auth ready for demo")
    );
    let who = p
        .authenticate(&AuthRequest {
            token: "t0k".into(),
        })
        .await;
    assert_eq!(who.unwrap(), Some(principal("ada")));
}

#[tokio::test]
async fn lifecycle_methods_and_requires_are_used_by_the_plugin_manager() {
    // Its required `db` is missing: resolution names it, nothing starts.
    let pm = PluginHost::new();
    pm.add(TokenAuth::default()).unwrap();
    match pm.start().await {
        Err(PluginError::Dependencies { error, .. }) => {
            let e = error;
            let msg = e.to_string();
            assert!(msg.contains("token-auth") && msg.contains("db"), "{msg}");
        }
        other => panic!("expected a dependency error, got {other:?}"),
    }

    // With `db` present: `init` then `start` run, and the impls answer.
    struct Db;
    #[hookwire::plugin(name = "db", version = "1.4.0")]
    impl Db {}

    let auth = Arc::new(TokenAuth::default());
    let pm = PluginHost::new();
    pm.add(Db).unwrap();
    pm.add(Shared(auth.clone())).unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(report.started, ["db", "token-auth"]);
    assert_eq!(pm.state("token-auth"), Some(PluginState::Started));
    assert_eq!(*auth.journal.lock().unwrap(), ["init", "start"]);
    let lines = pm.hook::<OnStartup>().call(&app()).await.unwrap();
    assert_eq!(lines.into_values(), ["token-auth ready for demo"]);
}

/// Shares one `TokenAuth` with the test, to read its journal: a plugin generic over its
/// contents, written with the macro too.
struct Shared<T>(Arc<T>);

#[hookwire::plugin(name = "token-auth", version = "1.2.0", requires = "db ^1")]
impl Shared<TokenAuth> {
    #[hookimpl(spec = OnStartup)]
    fn banner(&self, info: &AppInfo) -> HookReturn<String> {
        self.0.banner(info)
    }

    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        Plugin::init(&*self.0, ctx).await
    }

    async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        Plugin::start(&*self.0, ctx).await
    }
}

// ---- specs from method names, defaults ----------------------------------------------------

struct AddOne;

#[hookwire::plugin]
impl AddOne {
    #[hookimpl]
    fn compute(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(x + 1))
    }
}

#[tokio::test]
async fn a_bare_hookimpl_takes_its_spec_from_the_method_name() {
    assert_eq!(AddOne.meta(), PluginMeta::new("AddOne", "0.0.0"));
    let pm = HookManager::new();
    pm.add_plugin(AddOne).unwrap();
    let out = pm.hook::<Compute>().call(&41).await.unwrap();
    assert_eq!(out.iter().map(|(p, _)| p).collect::<Vec<_>>(), ["AddOne"]);
    assert_eq!(out.into_values(), [42]);
}

// ---- ordering options ---------------------------------------------------------------------

macro_rules! ordered_plugin {
    ($ty:ident, $name:literal, $($opt:tt)*) => {
        struct $ty;
        #[hookwire::plugin(name = $name)]
        impl $ty {
            #[hookimpl($($opt)*)]
            fn compute(&self, _: &u64) -> HookReturn<u64> {
                Ok(Some(0))
            }
        }
    };
}

ordered_plugin!(Plain, "plain",);
ordered_plugin!(High, "high", priority = 10);
ordered_plugin!(Last, "last", trylast);
ordered_plugin!(BeforePlain, "before-plain", before = "plain", priority = -5);
ordered_plugin!(AfterAll, "after-all", after = ["plain", "high"], optional);

#[tokio::test]
async fn ordering_options_order_the_impls_as_their_builder_calls_do() {
    let pm = HookManager::new();
    pm.add_plugin(Last).unwrap();
    pm.add_plugin(Plain).unwrap();
    pm.add_plugin(High).unwrap();
    pm.add_plugin(BeforePlain).unwrap();
    pm.add_plugin(AfterAll).unwrap();
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    let order: Vec<&str> = out.iter().map(|(p, _)| p).collect();
    assert_eq!(
        order,
        ["high", "before-plain", "plain", "after-all", "last"]
    );

    let impls = pm.hook::<Compute>().impls();
    let after_all = impls.iter().find(|i| &*i.plugin == "after-all").unwrap();
    assert!(after_all.options.optional);
    assert_eq!(
        after_all.options.after,
        [Arc::<str>::from("plain"), Arc::from("high")]
    );
    let before_plain = impls.iter().find(|i| &*i.plugin == "before-plain").unwrap();
    assert_eq!(before_plain.options.priority, -5);
    assert_eq!(before_plain.options.before, [Arc::<str>::from("plain")]);
}

// ---- policies -----------------------------------------------------------------------------

struct Slow;

#[hookwire::plugin(name = "slow")]
impl Slow {
    #[hookimpl(timeout_ms = 50)]
    async fn compute(&self, x: &u64) -> HookReturn<u64> {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(Some(*x))
    }
}

#[tokio::test(start_paused = true)]
async fn timeout_ms_limits_an_async_hookimpl() {
    let pm = HookManager::new();
    pm.add_plugin(Slow).unwrap();
    let out = pm.hook::<Compute>().call(&1).await.unwrap();
    let failure = out
        .get("slow")
        .and_then(|o| o.failure())
        .expect("a failure");
    assert!(failure.is_timeout(), "{failure}");
}

#[derive(Default)]
struct Flaky {
    calls: AtomicU32,
}

#[hookwire::plugin(name = "flaky")]
impl Flaky {
    #[hookimpl(retry = RetryPolicy::new(3).no_jitter(), timeout = Duration::from_millis(10))]
    async fn compute(&self, x: &u64) -> HookReturn<u64> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < 2 {
            return Err(Retryable::new("busy").into());
        }
        Ok(Some(*x))
    }
}

#[tokio::test(start_paused = true)]
async fn retry_retries_a_hookimpl_as_its_policy_says() {
    let pm = HookManager::new();
    pm.add_plugin(Flaky::default()).unwrap();
    let out = pm.hook::<Compute>().call(&7).await.unwrap();
    let attempts: Vec<u32> = out.entries().map(|e| e.attempts).collect();
    assert_eq!(out.into_values(), [7]);
    assert_eq!(attempts, [3]);
}

struct Broken;

#[hookwire::plugin(name = "broken")]
impl Broken {
    #[hookimpl(breaker = BreakerConfig::new(1, Duration::from_secs(60)), retry = 1)]
    fn compute(&self, _: &u64) -> HookReturn<u64> {
        Err("down".into())
    }
}

#[tokio::test(start_paused = true)]
async fn breaker_skips_a_hookimpl_after_its_failures() {
    let pm = HookManager::new();
    pm.add_plugin(Broken).unwrap();
    let first = pm.hook::<Compute>().call(&1).await.unwrap();
    assert_eq!(
        first.get("broken").map(|o| o.kind()),
        Some(OutcomeKind::Error)
    );
    let second = pm.hook::<Compute>().call(&1).await.unwrap();
    assert!(matches!(
        second.get("broken"),
        Some(hookwire::ImplOutcome::CircuitOpen)
    ));
    let options = &pm.hook::<Compute>().impls()[0].options;
    assert!(options.retry.is_some() && options.breaker.is_some());
}

struct Cpu {
    main: std::thread::ThreadId,
}

#[hookwire::plugin(name = "cpu")]
impl Cpu {
    #[hookimpl(blocking)]
    fn compute(&self, x: &u64) -> HookReturn<u64> {
        let off_thread = std::thread::current().id() != self.main;
        Ok(Some(if off_thread { *x * 2 } else { 0 }))
    }
}

#[tokio::test]
async fn blocking_runs_a_sync_hookimpl_off_the_calling_thread() {
    let pm = HookManager::new();
    pm.add_plugin(Cpu {
        main: std::thread::current().id(),
    })
    .unwrap();
    assert!(pm.hook::<Compute>().impls()[0].options.blocking);
    let out = pm.hook::<Compute>().call(&21).await.unwrap();
    assert_eq!(out.into_values(), [42]);
}

// ---- wrappers -----------------------------------------------------------------------------

struct Gate;

#[hookwire::plugin(name = "gate")]
impl Gate {
    /// Answers `/health` itself; otherwise runs the other impls.
    #[hookimpl(wrapper)]
    async fn before_request(
        &self,
        req: &hookspecs::Request,
        next: Next<'_, BeforeRequest>,
    ) -> WrapResult<hookspecs::Response> {
        let me = next.me();
        let mut out = next.run().await;
        if req.path == "/health" {
            out.force_result(
                me,
                hookspecs::Response {
                    status: 200,
                    body: "ok".into(),
                },
            );
        }
        Ok(out)
    }

    #[hookimpl(spec = BeforeRequest, trylast)]
    fn not_found(&self, _: &hookspecs::Request) -> HookReturn<hookspecs::Response> {
        Ok(Some(hookspecs::Response {
            status: 404,
            body: String::new(),
        }))
    }
}

#[tokio::test]
async fn wrapper_wraps_the_other_impls_of_its_hook() {
    let pm = HookManager::new();
    pm.add_plugin(Gate).unwrap();
    let impls = pm.hook::<BeforeRequest>().impls();
    assert!(impls[0].options.wrapper);
    assert_eq!(impls[1].options.placement, Placement::TryLast);
    let req = |path: &str| hookspecs::Request {
        method: "GET".into(),
        path: path.into(),
        ..Default::default()
    };
    let health = pm
        .hook::<BeforeRequest>()
        .call(&req("/health"))
        .await
        .unwrap();
    assert_eq!(health.into_value().map(|r| r.status), Some(200));
    let other = pm.hook::<BeforeRequest>().call(&req("/x")).await.unwrap();
    assert_eq!(other.into_value().map(|r| r.status), Some(404));
}

// ---- registration without turbofish noise -------------------------------------------------

struct HandWritten;

#[hookwire::async_trait]
impl hookwire::Hook<Compute> for HandWritten {
    async fn call(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(*x))
    }
}

impl Plugin for HandWritten {
    fn register(
        self: Arc<Self>,
        r: &mut hookwire::Registrar,
    ) -> Result<(), hookwire::RegisterError> {
        r.hook::<Compute>(self).add()
    }
}

#[tokio::test]
async fn registrar_hook_takes_the_spec_alone() {
    let pm = HookManager::new();
    pm.add_plugin(HandWritten).unwrap();
    let out = pm.hook::<Compute>().call(&5).await.unwrap();
    assert_eq!(out.into_values(), [5]);
}

// ---- a hand-written `meta` ----------------------------------------------------------------

struct Named {
    name: String,
}

#[hookwire::plugin]
impl Named {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new(self.name.clone(), "2.0.0")
    }

    #[hookimpl(spec = OnStartup)]
    async fn hello(&self, _: &AppInfo) -> HookReturn<String> {
        Ok(Some(format!("hello from {}", self.name)))
    }
}

#[tokio::test]
async fn a_hand_written_meta_names_the_plugin() {
    let pm = HookManager::new();
    pm.add_plugin(Named { name: "n1".into() }).unwrap();
    pm.add_plugin(Named { name: "n2".into() }).unwrap();
    let out = pm.hook::<OnStartup>().call(&app()).await.unwrap();
    let mut lines = out.into_values();
    lines.sort();
    assert_eq!(lines, ["hello from n1", "hello from n2"]);
}

// ---- `#[cfg]` on a hook method --------------------------------------------------------------

struct Configured;

#[hookwire::plugin(name = "configured")]
impl Configured {
    #[hookimpl]
    fn compute(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(*x))
    }

    // Compiled out: its spec does not even exist, and nothing generated for it remains.
    #[cfg(any())]
    #[hookimpl]
    fn no_such_hook(&self, _: &()) -> HookReturn<()> {
        Ok(None)
    }
}

#[tokio::test]
async fn a_cfg_disabled_hookimpl_is_not_generated_or_registered() {
    let pm = HookManager::new();
    pm.add_plugin(Configured).unwrap();
    assert_eq!(pm.plugins().len(), 1);
    let out = pm.hook::<Compute>().call(&3).await.unwrap();
    assert_eq!(out.into_values(), [3]);
}
