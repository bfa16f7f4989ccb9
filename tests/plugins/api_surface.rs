//! The shape of the public API: the prelude is enough for a host and a plugin, every public
//! type is `Debug`, the renamed items are where the CHANGELOG says, and the plumbing that left
//! the public API stays out (see also `ui/tests/ui/plugin_state_advance_is_private.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod prelude_only {
    //! Nothing but the prelude: a small host and a plugin.
    use hookwire::prelude::*;
    use std::sync::Arc;

    hookspec! {
        /// Who is calling?
        #[firstresult]
        pub struct Authenticate(String) -> String;
        /// Every plugin says hello.
        #[name = "hello"]
        pub struct Hello(()) -> String;
    }

    struct TokenAuth;

    #[async_trait]
    impl Hook<Authenticate> for TokenAuth {
        async fn call(&self, token: &String) -> HookReturn<String> {
            Ok((token == "abc").then(|| "ada".to_owned()))
        }
    }

    impl SyncHook<Hello> for TokenAuth {
        fn call(&self, _: &()) -> HookReturn<String> {
            Ok(Some("token-auth".to_owned()))
        }
    }

    #[async_trait]
    impl Plugin for TokenAuth {
        fn meta(&self) -> PluginMeta {
            PluginMeta::new("token-auth", "1.2.0")
        }

        fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
            r.hook::<Authenticate>(self.clone()).tryfirst().add()?;
            r.sync_hook::<Hello>(self).add()
        }

        async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
            assert_eq!(ctx.name(), "token-auth");
            Ok(())
        }
    }

    /// A plugin written with the macros, also from the prelude.
    struct Greeter;

    #[plugin(name = "greeter", version = "0.1.0")]
    impl Greeter {
        #[hookimpl]
        fn hello(&self, _: &()) -> HookReturn<String> {
            Ok(Some("greeter".to_owned()))
        }
    }

    #[tokio::test]
    async fn the_prelude_alone_is_enough_for_a_host_and_a_plugin() {
        assert_eq!(Authenticate::MODE, CallMode::FirstResult);
        let host = PluginHost::new();
        host.add(TokenAuth).unwrap();
        host.add(Greeter).unwrap();
        host.start().await.unwrap();

        let who: HookOutcome<String> = host
            .hook::<Authenticate>()
            .call(&"abc".into())
            .await
            .unwrap();
        assert_eq!(who.into_value().as_deref(), Some("ada"));

        let hello = host.hook::<Hello>().call(&()).await.unwrap();
        let answers: Vec<(&str, &String)> = hello.answers().collect();
        assert_eq!(
            answers,
            [
                ("greeter", &"greeter".to_owned()),
                ("token-auth", &"token-auth".to_owned())
            ]
        );
        assert!(matches!(hello.get("greeter"), Some(ImplOutcome::Value(_))));

        // The hook manager alone (no lifecycle) is in the prelude too.
        let pm = HookManager::new();
        pm.add_plugin(TokenAuth).unwrap();
        let who = pm
            .hook::<Authenticate>()
            .call(&"nope".into())
            .await
            .unwrap();
        assert_eq!(who.into_value(), None);
    }
}

hookwire::hookspec! {
    /// A hook for the tests below.
    pub struct Compute(u64) -> u64;
}

fn is_debug<T: std::fmt::Debug>() {}

#[test]
fn every_public_type_is_debug() {
    use hookwire::*;
    // Root.
    is_debug::<HookManager>();
    is_debug::<HookManagerBuilder>();
    is_debug::<HookCaller<Compute>>();
    is_debug::<HookOutcome<u64>>();
    is_debug::<ImplOutcome<u64>>();
    is_debug::<HookFailure>();
    is_debug::<PluginHost>();
    is_debug::<PluginMeta>();
    is_debug::<PluginContext>();
    is_debug::<Registrar>();
    is_debug::<BoxError>();
    is_debug::<CallError>();
    is_debug::<RegisterError>();
    is_debug::<CallMode>();
    is_debug::<CancellationToken>();
    // spec
    is_debug::<spec::SpecInfo>();
    is_debug::<spec::DynamicHook>();
    // hook
    is_debug::<hook::ImplOptions>();
    is_debug::<hook::Placement>();
    is_debug::<hook::ImplBuilder<'static>>();
    is_debug::<hook::PluginHandle>();
    is_debug::<hook::PluginImpls>();
    is_debug::<hook::ImplInfo>();
    is_debug::<hook::ConstraintRelation>();
    is_debug::<hook::WaitingConstraint>();
    is_debug::<hook::AdHocImpl<Compute>>();
    is_debug::<hook::Next<'static, Compute>>();
    is_debug::<hook::WrapResult<u64>>();
    // policy
    is_debug::<policy::RetryPolicy>();
    is_debug::<policy::RetryPolicyError>();
    is_debug::<policy::Retryable>();
    is_debug::<policy::BudgetConfig>();
    is_debug::<policy::BreakerConfig>();
    is_debug::<policy::BreakerState>();
    // outcome
    is_debug::<outcome::OutcomeKind>();
    is_debug::<outcome::OutcomeEntry<'static, u64>>();
    is_debug::<outcome::ImplId>();
    // monitor
    is_debug::<monitor::CallInfo<'static>>();
    is_debug::<monitor::ImplReport>();
    is_debug::<monitor::MonitorHandle>();
    // stats
    is_debug::<stats::HookStats>();
    is_debug::<stats::ImplStatsSnapshot>();
    is_debug::<stats::StatsSnapshot>();
    // plugin
    is_debug::<plugin::PluginHostBuilder>();
    is_debug::<plugin::PluginState>();
    is_debug::<plugin::PluginInfo>();
    is_debug::<plugin::PluginList>();
    is_debug::<plugin::PluginEvent>();
    is_debug::<plugin::Health>();
    is_debug::<plugin::StartReport>();
    is_debug::<plugin::StopReport>();
    is_debug::<plugin::StopOutcome>();
    is_debug::<plugin::PluginStop>();
    // config
    is_debug::<config::HostConfig>();
    is_debug::<config::DisabledBy>();
    is_debug::<config::ConfigError>();
    // deps
    is_debug::<deps::Dependency>();
    is_debug::<deps::Conflict>();
    is_debug::<deps::Resolution>();
    is_debug::<deps::DependencyError>();
    is_debug::<deps::DependencyProblem>();
    // error (the ones not listed above)
    is_debug::<error::PendingImplsError>();
    is_debug::<error::JsonMismatch>();
    is_debug::<error::ContextError>();
    is_debug::<error::MetaError>();
    is_debug::<error::PluginError>();
    // json
    is_debug::<json::JsonMismatch>();
    // testing
    is_debug::<testing::FakePlugin>();
    is_debug::<testing::Script<u64>>();
    is_debug::<testing::Reply<u64>>();
    is_debug::<testing::Step>();
    is_debug::<testing::Journal>();
    is_debug::<testing::PluginHarness>();
    is_debug::<testing::RunningPlugin>();
    is_debug::<testing::RecordingPlugin>();
}

#[test]
fn debug_output_names_what_a_builder_or_caller_is_for() {
    let pm = hookwire::HookManager::new();
    let caller = pm.hook::<Compute>();
    let text = format!("{caller:?}");
    assert!(text.starts_with("HookCaller { hook: \"Compute\""), "{text}");
    let text = format!("{:?}", hookwire::HookManager::builder().stats(true));
    assert_eq!(text, "HookManagerBuilder { steps: 0, stats: true }");
    pm.register("doubler", |r| {
        let b = r.sync_fn::<Compute>(|x| Ok(Some(x * 2)));
        let text = format!("{b:?}");
        assert!(
            text.starts_with("ImplBuilder { plugin: \"doubler\", hook: \"Compute\""),
            "{text}"
        );
        b.add()
    })
    .unwrap();
}

#[test]
#[allow(deprecated)]
fn the_deprecated_plugin_manager_aliases_are_the_host_types() {
    let builder: hookwire::PluginManagerBuilder = hookwire::PluginHost::builder();
    let host: hookwire::PluginManager = builder.build();
    let _: &hookwire::PluginHost = &host;
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_is_reported_as_circuit_open() {
    use hookwire::outcome::OutcomeKind;
    use hookwire::policy::BreakerConfig;
    use hookwire::ImplOutcome;

    let pm = hookwire::HookManager::new();
    pm.register("db", |r| {
        r.sync_fn::<Compute>(|_| Err("connection refused".into()))
            .circuit_breaker(BreakerConfig::new(1, Duration::from_secs(60)))
            .add()
    })
    .unwrap();
    let caller = pm.hook::<Compute>();
    let first = caller.call(&1).await.unwrap();
    assert_eq!(
        first.get("db").map(ImplOutcome::kind),
        Some(OutcomeKind::Error)
    );
    let open = caller.call(&1).await.unwrap();
    assert!(matches!(open.get("db"), Some(ImplOutcome::CircuitOpen)));
    assert_eq!(
        open.get("db").map(ImplOutcome::kind),
        Some(OutcomeKind::CircuitOpen)
    );
    assert_eq!(OutcomeKind::CircuitOpen.to_string(), "circuit open");
    assert_eq!(open.entries().next().unwrap().attempts, 0);
    assert!(
        open.to_string()
            .contains("db: skipped: its circuit breaker is open"),
        "{open}"
    );
}

#[tokio::test]
async fn disabled_by_says_what_disabled_a_plugin_as_the_host_listing_does() {
    use hookwire::config::{DisabledBy, HostConfig};
    use hookwire::{Plugin, PluginHost, PluginMeta, RegisterError, Registrar};

    struct Named(&'static str);
    impl Plugin for Named {
        fn meta(&self) -> PluginMeta {
            PluginMeta::new(self.0, "1.0.0")
        }
        fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
            Ok(())
        }
    }

    let text = "[plugins.audit]\nenabled = false\n";
    let mut config = HostConfig::parse(text, "host.toml").unwrap();
    config.disable("metrics");
    let file = Some(DisabledBy::File {
        path: "host.toml".into(),
    });
    assert_eq!(config.disabled_by("audit"), file);
    assert_eq!(config.disabled_by("metrics"), Some(DisabledBy::Host));
    assert_eq!(config.disabled_by("auth"), None);

    let host = PluginHost::builder().config(config).build();
    for name in ["audit", "metrics", "auth"] {
        host.add(Named(name)).unwrap();
    }
    let plugins = host.plugins();
    for name in ["audit", "metrics", "auth"] {
        assert_eq!(
            plugins.get(name).unwrap().disabled,
            host.config().disabled_by(name),
            "{name}"
        );
    }
}

#[test]
fn resolution_compute_orders_dependencies_first_and_reports_every_problem() {
    use hookwire::deps::{DependencyProblem, Resolution};
    use hookwire::PluginMeta;
    use semver::Version;

    let host = Version::new(1, 0, 0);
    let plugins = [
        PluginMeta::new("auth", "1.0.0").requires("audit", "^1"),
        PluginMeta::new("audit", "1.2.0"),
    ];
    let res = Resolution::compute(&plugins, &host).unwrap();
    assert_eq!(res.start_order, ["audit", "auth"]);
    let err = Resolution::compute(&plugins[..1], &host).unwrap_err();
    assert!(matches!(
        err.problems(),
        [DependencyProblem::MissingDependency { dependency, .. }] if dependency == "audit"
    ));
}

#[tokio::test]
async fn the_host_listing_shows_each_plugins_impls() {
    use hookwire::plugin::PluginState;
    use hookwire::{Plugin, PluginHost, PluginMeta, RegisterError, Registrar};

    struct Doubler;
    impl Plugin for Doubler {
        fn meta(&self) -> PluginMeta {
            PluginMeta::new("doubler", "1.0.0")
        }
        fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
            r.sync_fn::<Compute>(|x| Ok(Some(x * 2))).priority(5).add()
        }
    }

    let host = PluginHost::new();
    host.add(Doubler).unwrap();
    assert!(
        host.plugins().get("doubler").unwrap().impls.is_empty(),
        "not registered before start"
    );
    host.start().await.unwrap();
    let plugins = host.plugins();
    let info = plugins.get("doubler").unwrap();
    assert_eq!(info.state, PluginState::Started);
    assert_eq!(info.impls.len(), 1);
    assert_eq!(info.impls[0].hook.as_ref(), "Compute");
    assert_eq!(info.impls[0].plugin.as_ref(), "doubler");
    assert_eq!(info.impls[0].options.priority, 5);
    // The same as the hook manager's own listing of that plugin.
    assert_eq!(host.hooks().plugin("doubler").unwrap().impls, info.impls);
}

#[tokio::test]
async fn add_arc_and_add_arc_lazy_add_shared_plugins_eager_and_lazy() {
    use hookwire::plugin::PluginState;
    use hookwire::{Plugin, PluginContext, PluginHost, PluginMeta, RegisterError, Registrar};

    struct Counted(&'static str, Arc<AtomicUsize>);
    #[hookwire::async_trait]
    impl Plugin for Counted {
        fn meta(&self) -> PluginMeta {
            PluginMeta::new(self.0, "1.0.0")
        }
        fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
            r.sync_fn::<Compute>(|x| Ok(Some(*x))).add()
        }
        async fn start(&self, _: &PluginContext) -> Result<(), hookwire::BoxError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    let starts = Arc::new(AtomicUsize::new(0));
    let host = PluginHost::new();
    host.add_arc(Arc::new(Counted("eager", starts.clone())))
        .unwrap();
    host.add_arc_lazy(Arc::new(Counted("lazy", starts.clone())))
        .unwrap();
    host.start().await.unwrap();
    let plugins = host.plugins();
    assert!(!plugins.get("eager").unwrap().lazy);
    assert!(plugins.get("lazy").unwrap().lazy);
    assert_eq!(host.state("eager"), Some(PluginState::Started));
    assert_ne!(host.state("lazy"), Some(PluginState::Started));
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    host.hook::<Compute>().call(&1).await.unwrap();
    assert_eq!(host.state("lazy"), Some(PluginState::Started));
    assert_eq!(starts.load(Ordering::SeqCst), 2);
}
