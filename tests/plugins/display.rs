//! What an operator prints: `Display` of a call's `HookOutcome`, of a `StartReport` and of a
//! `StopReport`, checked to the character.

use std::sync::Arc;
use std::time::Duration;

use hookwire::{
    async_trait, config::HostConfig, policy::BreakerConfig, policy::RetryPolicy, policy::Retryable,
    BoxError, FutureExt, HookManager, Plugin, PluginContext, PluginHost, PluginMeta, RegisterError,
    Registrar,
};

hookwire::hookspec! {
    #[name = "greet"]
    pub struct Greet(String) -> String;

    #[firstresult]
    #[name = "lookup"]
    pub struct Lookup(u32) -> String;
}

#[tokio::test]
async fn a_call_outcome_displays_a_summary_then_what_each_plugin_did() {
    let pm = HookManager::builder().spec::<Greet>().build();
    pm.register("polite", |r| {
        r.sync_fn::<Greet>(|name| Ok(Some(format!("hello {name}"))))
            .add()
    })
    .unwrap();
    pm.register("shy", |r| r.sync_fn::<Greet>(|_| Ok(None)).add())
        .unwrap();
    pm.register("grumpy", |r| {
        r.sync_fn::<Greet>(|_| Err("not today".into())).add()
    })
    .unwrap();
    pm.register("fragile", |r| {
        r.sync_fn::<Greet>(|_| panic!("no terminal attached")).add()
    })
    .unwrap();

    let outcome = pm.hook::<Greet>().call(&"ann".to_owned()).await.unwrap();
    assert_eq!(
        outcome.to_string(),
        "hook `greet`, 4 impls: 1 answered, 1 no answer, 2 failed\n  \
         fragile: panicked: no terminal attached\n  \
         grumpy: returned an error: not today\n  \
         shy: no answer\n  \
         polite: answered"
    );
}

#[tokio::test]
async fn a_call_no_impl_ran_displays_as_such() {
    let pm = HookManager::builder().spec::<Greet>().build();
    let outcome = pm.hook::<Greet>().call(&"ann".to_owned()).await.unwrap();
    assert_eq!(outcome.to_string(), "hook `greet`: no impl ran");
}

#[tokio::test(start_paused = true)]
async fn a_call_outcome_displays_timeouts_retries_an_open_breaker_and_the_deadline() {
    let pm = HookManager::builder().spec::<Lookup>().build();
    let flips = Arc::new(std::sync::atomic::AtomicU32::new(0));
    pm.register("flaky", move |r| {
        let flips = flips.clone();
        r.hook_fn::<Lookup>(move |n| {
            let first = flips
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                .is_multiple_of(2);
            let n = *n;
            async move {
                if first {
                    Err(Retryable::new("connection reset").into())
                } else {
                    Ok(Some(format!("flaky:{n}")))
                }
            }
            .boxed()
        })
        .retry(RetryPolicy::new(3).backoff(Duration::from_millis(5), Duration::from_millis(5)))
        .add()
    })
    .unwrap();
    pm.register("stuck", |r| {
        r.hook_fn::<Lookup>(|_| std::future::pending().boxed())
            .tryfirst()
            .add()
    })
    .unwrap();
    pm.register("slow", |r| {
        r.hook_fn::<Lookup>(|_| {
            async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(Some("slow".to_owned()))
            }
            .boxed()
        })
        .timeout(Duration::from_millis(30))
        .tryfirst()
        .add()
    })
    .unwrap();
    pm.register("down", |r| {
        r.sync_fn::<Lookup>(|_| Err("connection refused".into()))
            .circuit_breaker(BreakerConfig::new(1, Duration::from_secs(60)))
            .tryfirst()
            .add()
    })
    .unwrap();

    let lookup = pm
        .hook::<Lookup>()
        .parallel()
        .deadline(Duration::from_millis(100));
    let first = lookup.call(&1).await.unwrap();
    assert_eq!(
        first.to_string(),
        "hook `lookup`, 4 impls: 1 answered, 3 failed\n  \
         down: returned an error: connection refused\n  \
         slow: timed out after 30ms\n  \
         stuck: was cut off by the call's deadline of 100ms\n  \
         flaky: answered (2 attempts)"
    );
    let second = lookup.call(&2).await.unwrap();
    assert_eq!(
        second.to_string(),
        "hook `lookup`, 4 impls: 1 answered, 2 failed, 1 skipped\n  \
         down: skipped: its circuit breaker is open\n  \
         slow: timed out after 30ms\n  \
         stuck: was cut off by the call's deadline of 100ms\n  \
         flaky: answered (2 attempts)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_outcome_displays_impls_a_first_result_cancelled() {
    let pm = HookManager::builder().spec::<Lookup>().build();
    pm.register("slow", |r| {
        r.hook_fn::<Lookup>(|_| {
            async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(Some("slow".to_owned()))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    pm.register("quick", |r| {
        r.hook_fn::<Lookup>(|_| {
            async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(Some("quick".to_owned()))
            }
            .boxed()
        })
        .tryfirst()
        .add()
    })
    .unwrap();
    let outcome = pm.hook::<Lookup>().parallel().call(&1).await.unwrap();
    assert_eq!(
        outcome.to_string(),
        "hook `lookup`, 2 impls: 1 answered, 1 cancelled\n  \
         quick: answered\n  \
         slow: cancelled: the call no longer needed it"
    );
}

/// What a test plugin does in each step.
#[derive(Clone, Copy, Default)]
enum Stop {
    #[default]
    Ok,
    Fails,
    Hangs,
}

#[derive(Clone, Copy, Default)]
enum Task {
    #[default]
    None,
    IgnoresCancellation,
    Panics,
}

#[derive(Clone, Default)]
struct TestPlugin {
    name: &'static str,
    requires: &'static [&'static str],
    optional: &'static [&'static str],
    init_error: Option<&'static str>,
    stop: Stop,
    task: Task,
}

#[async_trait]
impl Plugin for TestPlugin {
    fn meta(&self) -> PluginMeta {
        let mut meta = PluginMeta::new(self.name, "1.0.0");
        for dep in self.requires {
            meta = meta.requires(*dep, "^1");
        }
        for dep in self.optional {
            meta = meta.optional(*dep, "^1");
        }
        meta
    }

    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }

    async fn init(&self, _: &PluginContext) -> Result<(), BoxError> {
        match self.init_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        match self.task {
            Task::None => {}
            Task::IgnoresCancellation => {
                ctx.spawn("flush", std::future::pending::<()>())?;
            }
            Task::Panics => {
                ctx.spawn("warm-up", async { panic!("cache file is corrupt") })?;
            }
        }
        Ok(())
    }

    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        match self.stop {
            Stop::Ok => Ok(()),
            Stop::Fails => Err("flush refused".into()),
            Stop::Hangs => std::future::pending().await,
        }
    }
}

fn plugin(name: &'static str) -> TestPlugin {
    TestPlugin {
        name,
        ..TestPlugin::default()
    }
}

fn manager(toml: &str) -> PluginHost {
    let mut config = HostConfig::parse(toml, "hookwire.toml").unwrap();
    config.disable("legacy");
    PluginHost::builder()
        .config(config)
        .environment(false)
        .build()
}

#[tokio::test]
async fn a_start_report_displays_one_line_per_kind_of_result() {
    let pm =
        manager("[plugins.storage]\nusers = 3\n[plugins.storagee]\nusers = 3\n[plugins.legacy]\n");
    pm.add(plugin("storage")).unwrap();
    pm.add(TestPlugin {
        requires: &["storage"],
        optional: &["metrics"],
        ..plugin("auth")
    })
    .unwrap();
    pm.add(TestPlugin {
        init_error: Some("smtp host not set"),
        ..plugin("mailer")
    })
    .unwrap();
    pm.add(TestPlugin {
        requires: &["mailer"],
        ..plugin("reports")
    })
    .unwrap();
    pm.add_lazy(plugin("cache")).unwrap();
    pm.add(plugin("legacy")).unwrap();

    let report = pm.start().await.unwrap();
    assert_eq!(
        report.to_string(),
        "started 2: storage, auth\n\
         lazy 1: cache (each starts on its first call)\n\
         failed 2: mailer (init failed: smtp host not set), reports (dependency `mailer` failed)\n\
         disabled 1: legacy (by the host)\n\
         running without optional dependencies 1: auth (without metrics)\n\
         unknown config sections 1: [plugins.storagee]\n\
         unread config keys 1: [plugins.storage] users"
    );
}

#[tokio::test]
async fn a_start_report_with_nothing_started_says_so() {
    let pm = manager("");
    pm.add(plugin("legacy")).unwrap();
    let report = pm.start().await.unwrap();
    assert_eq!(
        report.to_string(),
        "started none\ndisabled 1: legacy (by the host)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_report_displays_one_line_per_kind_of_result() {
    let pm = manager("");
    pm.add(plugin("storage")).unwrap();
    pm.add(TestPlugin {
        stop: Stop::Fails,
        ..plugin("cache")
    })
    .unwrap();
    pm.add(TestPlugin {
        stop: Stop::Hangs,
        ..plugin("mailer")
    })
    .unwrap();
    pm.add(TestPlugin {
        task: Task::IgnoresCancellation,
        ..plugin("metrics")
    })
    .unwrap();
    pm.add(TestPlugin {
        task: Task::Panics,
        ..plugin("warmer")
    })
    .unwrap();
    pm.add(TestPlugin {
        init_error: Some("smtp host not set"),
        ..plugin("broken")
    })
    .unwrap();
    pm.add(plugin("legacy")).unwrap();
    pm.start().await.unwrap();
    // Let the warm-up task run (and panic) before the shutdown.
    tokio::task::yield_now().await;

    let report = pm.shutdown(Duration::from_secs(2)).await;
    assert_eq!(
        report.to_string(),
        "stopped 3: warmer, storage, metrics\n\
         stop timed out 1: mailer (grace period 2s)\n\
         failed 1: cache (stop failed: flush refused)\n\
         not running 2: broken (failed: init failed: smtp host not set), legacy (disabled by the host)\n\
         tasks aborted 1: flush (metrics)\n\
         tasks panicked 1: warm-up (warmer)"
    );
}

#[tokio::test]
async fn a_stop_report_with_nothing_stopped_says_so() {
    let pm = manager("");
    pm.add(plugin("legacy")).unwrap();
    pm.start().await.unwrap();
    let report = pm.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        report.to_string(),
        "stopped none\nnot running 1: legacy (disabled by the host)"
    );
}
