//! Untrusted input is bounded: JSON nested too deep is refused without overflowing the stack,
//! and error messages quote at most 200 bytes of what they embed, then `… (N bytes)`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookwire::{
    async_trait, error::JsonMismatch, json::MAX_JSON_DEPTH, monitor::CallInfo,
    monitor::HookMonitor, monitor::ImplReport, plugin::Health, plugin::PluginState,
    plugin::StopOutcome, spec::SpecInfo, BoxError, CallError, FutureExt, HookManager, ImplOutcome,
    Plugin, PluginContext, PluginHost, PluginMeta, RegisterError, Registrar,
};
use serde_json::{json, Value};

hookwire::hookspec! {
    /// A typed spec whose argument and answer are JSON values.
    #[name = "echo"]
    pub struct Echo(Value) -> Value;

    /// A typed spec of plain serde types.
    #[name = "square"]
    pub struct Square(u64) -> u64;
}

/// `levels` arrays nested in one another around `0`, built without recursion.
fn nested(levels: usize) -> Value {
    let mut v = json!(0);
    for _ in 0..levels {
        v = Value::Array(vec![v]);
    }
    v
}

/// Runs `f` in a current-thread runtime on a thread with a 2 MiB stack (a common default for
/// spawned threads), so that recursion on input depth shows as a crash.
fn on_small_stack(
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send + 'static,
) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a runtime")
                .block_on(f());
        })
        .expect("a thread")
        .join()
        .expect("no panic on the small stack");
}

const DEPTHS: [usize; 2] = [2_000, 100_000];

fn assert_too_deep(message: &str) {
    assert!(
        message.contains(&format!("deeper than {MAX_JSON_DEPTH} levels")),
        "{message}"
    );
}

#[test]
fn deeply_nested_arguments_to_a_dynamic_hook_are_refused_without_overflowing() {
    for levels in DEPTHS {
        on_small_stack(move || {
            async move {
                let pm = HookManager::builder()
                    .dynamic_spec(SpecInfo::json("event"))
                    .build();
                let calls = Arc::new(Mutex::new(0));
                let seen = calls.clone();
                pm.register("counter", move |r| {
                    r.json_fn("event", move |_| {
                        *seen.lock().unwrap() += 1;
                        Ok(None)
                    })
                    .add()
                })
                .unwrap();
                let err = pm.call_json("event", nested(levels)).await.unwrap_err();
                assert!(matches!(err, CallError::BadArgs { .. }), "{err}");
                assert!(err
                    .to_string()
                    .starts_with("malformed JSON arguments for hook `event`: the value nests"));
                assert_too_deep(&err.to_string());
                assert_eq!(*calls.lock().unwrap(), 0, "no impl sees refused arguments");
            }
            .boxed_local()
        });
    }
}

#[test]
fn deeply_nested_arguments_to_a_typed_json_hook_are_refused_without_overflowing() {
    for levels in DEPTHS {
        on_small_stack(move || {
            async move {
                let pm = HookManager::builder().json_spec::<Echo>().build();
                pm.register("echo", |r| r.sync_fn::<Echo>(|v| Ok(Some(v.clone()))).add())
                    .unwrap();
                let err = pm.call_json("echo", nested(levels)).await.unwrap_err();
                assert!(matches!(err, CallError::BadArgs { .. }), "{err}");
                assert_too_deep(&err.to_string());
            }
            .boxed_local()
        });
    }
}

#[test]
fn deeply_nested_arguments_to_an_unknown_hook_are_refused_without_overflowing() {
    for levels in DEPTHS {
        on_small_stack(move || {
            async move {
                let pm = HookManager::new();
                let err = pm.call_json("nowhere", nested(levels)).await.unwrap_err();
                assert!(matches!(err, CallError::BadArgs { .. }), "{err}");
                assert_too_deep(&err.to_string());
            }
            .boxed_local()
        });
    }
}

/// The error a JSON impl's too-deep answer becomes, from an outcome's failure.
fn mismatch_of(outcome: &ImplOutcome<impl Sized>) -> &JsonMismatch {
    outcome
        .failure()
        .and_then(|f| f.as_error())
        .and_then(|e| e.downcast_ref::<JsonMismatch>())
        .expect("a JsonMismatch failure")
}

#[test]
fn a_json_impl_answering_a_deeply_nested_value_fails_alone_naming_its_plugin() {
    for levels in DEPTHS {
        on_small_stack(move || {
            async move {
                let pm = HookManager::builder()
                    .dynamic_spec(SpecInfo::json("event"))
                    .build();
                pm.register("fine", |r| {
                    r.json_fn("event", |_| Ok(Some(json!("ok")))).add()
                })
                .unwrap();
                pm.register("deep-sync", move |r| {
                    r.json_fn("event", move |_| Ok(Some(nested(levels)))).add()
                })
                .unwrap();
                pm.register("deep-async", move |r| {
                    r.json_async_fn("event", move |_| {
                        async move { Ok(Some(nested(levels))) }.boxed()
                    })
                    .add()
                })
                .unwrap();
                let out = pm.call_json("event", json!({})).await.unwrap();
                assert_eq!(out.answers().collect::<Vec<_>>(), [("fine", &json!("ok"))]);
                for plugin in ["deep-sync", "deep-async"] {
                    let m = mismatch_of(out.get(plugin).expect("the plugin ran"));
                    assert_eq!(m.hook, "event");
                    assert_too_deep(&m.detail);
                    assert!(m.detail.starts_with("the answer nests"), "{}", m.detail);
                }
            }
            .boxed_local()
        });
    }
}

#[test]
fn a_json_impl_of_a_typed_hook_answering_a_deeply_nested_value_fails_alone() {
    for levels in DEPTHS {
        on_small_stack(move || {
            async move {
                let pm = HookManager::builder().json_spec::<Echo>().build();
                pm.register("typed", |r| {
                    r.sync_fn::<Echo>(|v| Ok(Some(v.clone()))).add()
                })
                .unwrap();
                pm.register("deep", move |r| {
                    r.json_fn("echo", move |_| Ok(Some(nested(levels)))).add()
                })
                .unwrap();
                let out = pm.hook::<Echo>().call(&json!(1)).await.unwrap();
                assert_eq!(out.answers().collect::<Vec<_>>(), [("typed", &json!(1))]);
                assert_too_deep(&mismatch_of(out.get("deep").unwrap()).detail);
                // Through JSON too.
                let out = pm.call_json("echo", json!(2)).await.unwrap();
                assert_eq!(out.answers().collect::<Vec<_>>(), [("typed", &json!(2))]);
                assert_too_deep(&mismatch_of(out.get("deep").unwrap()).detail);
            }
            .boxed_local()
        });
    }
}

#[test]
fn values_at_the_depth_limit_cross_the_dynamic_layer_both_ways() {
    on_small_stack(|| {
        async {
            let pm = HookManager::builder()
                .dynamic_spec(SpecInfo::json("event"))
                .json_spec::<Echo>()
                .build();
            pm.register("echo", |r| {
                r.json_fn("event", |v| Ok(Some(v.clone()))).add()?;
                r.json_fn("echo", |v| Ok(Some(v.clone()))).add()
            })
            .unwrap();
            for hook in ["event", "echo"] {
                let out = pm.call_json(hook, nested(MAX_JSON_DEPTH)).await.unwrap();
                assert_eq!(
                    out.answers().collect::<Vec<_>>(),
                    [("echo", &nested(MAX_JSON_DEPTH))],
                    "{hook}"
                );
                let err = pm
                    .call_json(hook, nested(MAX_JSON_DEPTH + 1))
                    .await
                    .unwrap_err();
                assert_too_deep(&err.to_string());
            }
            // Anything serde_json parses fits.
            let parsed: Value =
                serde_json::from_str(&format!("{}{}", "[".repeat(127), "]".repeat(127))).unwrap();
            assert!(pm.call_json("event", parsed).await.is_ok());
        }
        .boxed_local()
    });
}

/// Asserts that `message` quotes a text of `len` bytes: at most 200 bytes of it, then
/// `… (N bytes)` with `N >= len` (serde's text around a quoted value is longer than the value).
fn assert_quoted(message: &str, len: usize) {
    let (_, tail) = message
        .rsplit_once("… (")
        .unwrap_or_else(|| panic!("no `… (N bytes)` in {message:.300}"));
    let n: usize = tail
        .split_once(" bytes)")
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {message:.300}"));
    assert!(n >= len, "{n} < {len}");
    assert!(
        message.len() < 450,
        "{} bytes: {message:.500}",
        message.len()
    );
}

const BIG: usize = 16 << 20;

#[tokio::test]
async fn json_arguments_that_do_not_fit_are_quoted_at_most_200_bytes() {
    let pm = HookManager::builder().json_spec::<Square>().build();
    let err = pm
        .call_json("square", json!("x".repeat(BIG)))
        .await
        .unwrap_err();
    let CallError::BadArgs { detail, .. } = &err else {
        panic!("{err:.300}")
    };
    assert!(
        detail.starts_with("invalid type: string \"xxx"),
        "{detail:.300}"
    );
    assert_quoted(detail, BIG);
    assert_quoted(&err.to_string(), BIG);
}

#[tokio::test]
async fn a_json_answer_that_does_not_fit_is_quoted_at_most_200_bytes() {
    let pm = HookManager::builder().json_spec::<Square>().build();
    pm.register("chatty", |r| {
        r.json_fn("square", |_| Ok(Some(json!("y".repeat(BIG)))))
            .add()
    })
    .unwrap();
    let typed = pm.hook::<Square>().call(&3).await.unwrap();
    let json = pm.call_json("square", json!(3)).await.unwrap();
    for shown in [
        typed.get("chatty").unwrap().failure().unwrap().to_string(),
        json.get("chatty").unwrap().failure().unwrap().to_string(),
    ] {
        assert!(
            shown.starts_with("returned an error: malformed JSON for hook `square`: answer does not fit the hook's output type: invalid type: string \"yyy"),
            "{shown:.300}"
        );
        assert_quoted(&shown, BIG);
    }
}

#[derive(Default)]
struct Reports(Mutex<Vec<ImplReport>>);

impl HookMonitor for Reports {
    fn after_call(&self, _: &CallInfo<'_>, results: &[ImplReport], _: Duration) {
        self.0.lock().unwrap().extend(results.iter().cloned());
    }
}

#[tokio::test]
async fn a_16_mib_impl_error_is_quoted_at_most_200_bytes_wherever_it_is_shown() {
    let pm = HookManager::builder().stats(true).spec::<Square>().build();
    let reports = Arc::new(Reports::default());
    pm.add_monitor(reports.clone());
    pm.register("loud", |r| {
        r.sync_fn::<Square>(|_| Err("e".repeat(BIG).into())).add()
    })
    .unwrap();
    let out = pm.hook::<Square>().call(&2).await.unwrap();
    let failure = out.get("loud").unwrap().failure().unwrap();
    // The error itself is kept whole; its display is bounded.
    assert_eq!(failure.as_error().unwrap().to_string().len(), BIG);
    let shown = failure.to_string();
    assert_eq!(
        shown,
        format!("returned an error: {}… ({BIG} bytes)", "e".repeat(200))
    );
    let report = reports.0.lock().unwrap()[0].error.clone().unwrap();
    assert_eq!(report, shown);
    let stats = pm.stats();
    assert_eq!(
        stats.get("square", "loud").unwrap().last_error.as_deref(),
        Some(shown.as_str())
    );
    let err = pm.hook::<Square>().fail_fast().call(&2).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("impl of hook `square` in plugin `loud` {shown}")
    );
}

#[tokio::test]
async fn a_long_panic_message_is_quoted_at_most_200_bytes() {
    let pm = HookManager::builder().spec::<Square>().build();
    let long = 1 << 20;
    pm.register("boom", move |r| {
        r.sync_fn::<Square>(move |_| panic!("{}", "p".repeat(long)))
            .add()
    })
    .unwrap();
    let out = pm.hook::<Square>().call(&2).await.unwrap();
    let failure = out.get("boom").unwrap().failure().unwrap();
    assert!(failure.is_panic());
    assert_eq!(
        failure.to_string(),
        format!("panicked: {}… ({long} bytes)", "p".repeat(200))
    );
}

#[tokio::test]
async fn a_16_mib_hook_name_is_quoted_at_most_200_bytes() {
    let pm = HookManager::builder().json_spec::<Square>().build();
    let name = "n".repeat(BIG);
    let err = pm.call_json(&name, json!(1)).await.unwrap_err();
    let CallError::UnknownHook { hook, known } = &err else {
        panic!("{err:.300}")
    };
    assert_eq!(*hook, format!("{}… ({BIG} bytes)", "n".repeat(200)));
    assert_eq!(known, "square");
    assert_quoted(&err.to_string(), BIG);
    // Refused for its depth before it is looked up: the name is still bounded.
    let err = pm
        .call_json(&name, nested(MAX_JSON_DEPTH + 1))
        .await
        .unwrap_err();
    assert_quoted(&err.to_string(), BIG);
}

#[test]
fn long_plugin_names_and_reasons_are_quoted_at_most_200_bytes_in_registration_errors() {
    let pm = HookManager::new();
    let name = "a".repeat(1 << 20);
    pm.register(&name, |_| Ok(())).unwrap();
    let err = pm.register(&name, |_| Ok(())).unwrap_err();
    assert!(matches!(err, RegisterError::DuplicatePlugin { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "plugin `{}… ({} bytes)` is already registered; unregister it first, or give this one another name (a second instance of a plugin type: `HookManager::add_plugin_as(name, p)`, `PluginHost::add_as(name, p)`)",
            "a".repeat(200),
            1 << 20
        )
    );
    let err = pm
        .register("other", |_| {
            Err(RegisterError::Plugin {
                plugin: "other".into(),
                reason: "r".repeat(BIG),
            })
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "plugin `other` failed to register: {}… ({BIG} bytes)",
            "r".repeat(200)
        )
    );
}

#[test]
fn an_impl_failure_debug_quotes_at_most_200_bytes() {
    let failure = hookwire::HookFailure::Panic("q".repeat(BIG));
    let shown = format!("{failure:?}");
    assert_eq!(
        shown,
        format!("Panic(\"{}… ({} bytes))", "q".repeat(199), BIG + 2)
    );
}

/// A plugin whose every lifecycle step fails with a long text (`step` names the one that
/// fails): `Err` from `start`, a panic from `stop`, `register` or `health`.
struct Loud {
    name: &'static str,
    step: &'static str,
}

const LONG: usize = 1 << 20;

#[async_trait]
impl Plugin for Loud {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new(self.name, "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        if self.step == "register" {
            panic!("{}", "r".repeat(LONG));
        }
        Ok(())
    }
    async fn start(&self, _: &PluginContext) -> Result<(), BoxError> {
        if self.step == "start" {
            return Err("s".repeat(BIG).into());
        }
        Ok(())
    }
    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        if self.step == "stop" {
            panic!("{}", "t".repeat(LONG));
        }
        Ok(())
    }
    async fn health(&self) -> Health {
        if self.step == "health" {
            panic!("{}", "h".repeat(LONG));
        }
        Health::Healthy
    }
}

#[tokio::test]
async fn long_plugin_errors_and_panic_messages_are_quoted_at_most_200_bytes_at_each_end_in_plugin_states(
) {
    let pm = PluginHost::new();
    for (name, step) in [
        ("a-start", "start"),
        ("b-stop", "stop"),
        ("c-register", "register"),
        ("d-health", "health"),
    ] {
        pm.add(Loud { name, step }).unwrap();
    }
    pm.start().await.unwrap();
    let failed = |name: &str| match pm.state(name) {
        Some(PluginState::Failed(reason)) => reason,
        other => panic!("{name}: {other:?}"),
    };
    // A start failure keeps its end too (a process's last stderr line is its cause).
    assert_eq!(
        failed("a-start"),
        format!(
            "start failed: {}… ({BIG} bytes) …{}",
            "s".repeat(200),
            "s".repeat(200)
        )
    );
    let reason = failed("c-register");
    assert!(
        reason.ends_with(&format!(
            "registration panicked: {}… ({LONG} bytes)",
            "r".repeat(200)
        )),
        "{reason:.500}"
    );
    let health = pm.health().await;
    let (_, d) = health.iter().find(|(n, _)| n == "d-health").unwrap();
    assert_eq!(
        *d,
        Health::Unhealthy(format!(
            "health check panicked: {}… ({LONG} bytes)",
            "h".repeat(200)
        ))
    );
    let report = pm.shutdown(Duration::from_secs(1)).await;
    let stop = report
        .plugins
        .iter()
        .find(|p| p.plugin == "b-stop")
        .unwrap();
    assert_eq!(
        stop.outcome,
        StopOutcome::Failed(format!(
            "stop panicked: {}… ({LONG} bytes)",
            "t".repeat(200)
        ))
    );
}

#[test]
fn typed_values_nested_too_deep_do_not_leave_the_json_layer() {
    // Rust code's own values: converted by their `Serialize`, which recurses, so kept within
    // what a 2 MiB stack converts; the JSON made of them is refused all the same.
    on_small_stack(|| {
        async {
            let deep = MAX_JSON_DEPTH + 300;
            let pm = HookManager::builder().json_spec::<Echo>().build();
            pm.register("typed", move |r| {
                r.sync_fn::<Echo>(move |_| Ok(Some(nested(deep)))).add()
            })
            .unwrap();
            pm.register("json", |r| r.json_fn("echo", |v| Ok(Some(v.clone()))).add())
                .unwrap();
            // A typed answer, to a JSON caller.
            let out = pm.call_json("echo", json!(1)).await.unwrap();
            let m = mismatch_of(out.get("typed").unwrap());
            assert!(m.detail.starts_with("the answer nests"), "{}", m.detail);
            assert_too_deep(&m.detail);
            assert_eq!(out.answers().collect::<Vec<_>>(), [("json", &json!(1))]);
            // Typed arguments, to a JSON impl.
            pm.unregister_name("typed");
            let out = pm.hook::<Echo>().call(&nested(deep)).await.unwrap();
            let m = mismatch_of(out.get("json").unwrap());
            assert!(
                m.detail.starts_with("the argument value nests"),
                "{}",
                m.detail
            );
        }
        .boxed_local()
    });
}
