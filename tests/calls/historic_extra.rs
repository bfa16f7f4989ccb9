//! Historic calls, call_extra and subset callers.

use std::sync::{Arc, Mutex};

use hookspecs::{Compute, Config, OnConfigLoaded};
use hookwire::{hook::AdHocImpl, CallError, FutureExt, HookManager, ImplOutcome};

type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn config(k: &str, v: &str) -> Config {
    let mut c = Config::default();
    c.values.insert(k.into(), v.into());
    c
}

fn register_listener(pm: &HookManager, name: &'static str, log: &Arc<Mutex<Vec<String>>>) {
    let log = log.clone();
    pm.register(name, move |r| {
        r.sync_fn::<OnConfigLoaded>(move |c| {
            log.lock()
                .unwrap()
                .push(format!("{name}:{}", c.values["env"]));
            Ok(Some(()))
        })
        .add()
    })
    .unwrap();
}

#[tokio::test]
async fn historic_calls_replay_to_late_impls_in_order() {
    let pm = HookManager::builder().spec::<OnConfigLoaded>().build();
    let log = Arc::new(Mutex::new(Vec::new()));
    let results: Seen = Arc::default();
    register_listener(&pm, "early", &log);

    for env in ["dev", "prod"] {
        let results = results.clone();
        pm.hook::<OnConfigLoaded>()
            .call_historic(config("env", env), move |plugin, o| {
                results
                    .lock()
                    .unwrap()
                    .push((plugin.to_owned(), format!("{}", o.kind())));
            })
            .await
            .unwrap();
    }
    assert_eq!(*log.lock().unwrap(), ["early:dev", "early:prod"]);

    // A late plugin gets both calls replayed, in order, during registration.
    register_listener(&pm, "late", &log);
    assert_eq!(
        *log.lock().unwrap(),
        ["early:dev", "early:prod", "late:dev", "late:prod"]
    );
    assert_eq!(
        *results.lock().unwrap(),
        [
            ("early".to_owned(), "value".to_owned()),
            ("early".to_owned(), "value".to_owned()),
            ("late".to_owned(), "value".to_owned()),
            ("late".to_owned(), "value".to_owned()),
        ]
    );
}

#[tokio::test]
async fn async_replays_that_go_pending_finish_on_flush() {
    let pm = HookManager::builder().spec::<OnConfigLoaded>().build();
    let got: Seen = Arc::default();
    let g = got.clone();
    pm.hook::<OnConfigLoaded>()
        .call_historic(config("env", "dev"), move |p, o| {
            g.lock()
                .unwrap()
                .push((p.to_owned(), format!("{}", o.kind())));
        })
        .await
        .unwrap();
    pm.register("slow", |r| {
        r.hook_fn::<OnConfigLoaded>(|_| {
            async {
                tokio::task::yield_now().await;
                Ok(Some(()))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    pm.flush().await;
    assert_eq!(
        *got.lock().unwrap(),
        [("slow".to_owned(), "value".to_owned())]
    );
}

#[tokio::test]
async fn historic_misuse_is_an_error_naming_the_hook() {
    let pm = HookManager::new();
    let err = pm
        .hook::<OnConfigLoaded>()
        .call(&Config::default())
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Historic { .. }));
    assert!(
        err.to_string().contains("`on_config_loaded` is historic"),
        "{err}"
    );
    let err = pm
        .hook::<Compute>()
        .call_historic(1, |_, _: ImplOutcome<u64>| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("`compute` is not historic"),
        "{err}"
    );
    // Nothing was stored: a later plugin gets no replay.
    let log = Arc::new(Mutex::new(Vec::new()));
    register_listener(&pm, "late", &log);
    assert!(log.lock().unwrap().is_empty());
}

fn named(
    pm: &HookManager,
    name: &'static str,
    f: impl FnOnce(hookwire::hook::ImplBuilder<'_>) -> hookwire::hook::ImplBuilder<'_>,
) {
    pm.register(name, move |r| {
        f(r.sync_fn::<Compute>(move |_| Ok(Some(name.len() as u64)))).add()
    })
    .unwrap();
}

#[tokio::test]
async fn call_extra_orders_extras_like_pluggy() {
    let pm = HookManager::new();
    named(&pm, "first", |b| b.tryfirst());
    named(&pm, "plain1", |b| b);
    named(&pm, "plain2", |b| b);
    named(&pm, "last", |b| b.trylast());
    let out = pm
        .hook::<Compute>()
        .call_extra(
            &0,
            [
                AdHocImpl::sync("extra1", |_| Ok(Some(100))),
                AdHocImpl::from_fn("extra2", |_| async { Ok(Some(200)) }.boxed()),
            ],
        )
        .await
        .unwrap();
    let order: Vec<&str> = out.iter().map(|(p, _)| p).collect();
    assert_eq!(
        order,
        ["first", "extra2", "extra1", "plain2", "plain1", "last"]
    );
    // Extras are for one call only.
    assert_eq!(pm.hook::<Compute>().call(&0).await.unwrap().len(), 4);
}

#[tokio::test]
async fn subset_callers_skip_plugins() {
    let pm = HookManager::new();
    named(&pm, "a", |b| b);
    named(&pm, "bb", |b| b);
    named(&pm, "ccc", |b| b);
    let subset = pm.hook::<Compute>().excluding(["bb"]);
    let out = subset.call(&0).await.unwrap();
    assert_eq!(out.iter().map(|(p, _)| p).collect::<Vec<_>>(), ["ccc", "a"]);
    assert_eq!(subset.impls().len(), 2);
    // Exclusion is by name, so a re-registered "bb" stays excluded.
    pm.unregister_name("bb");
    named(&pm, "bb", |b| b);
    assert_eq!(subset.call(&0).await.unwrap().len(), 2);
    assert_eq!(pm.hook::<Compute>().call(&0).await.unwrap().len(), 3);
}

hookwire::hookspec! {
    /// A historic hook with a default deadline.
    #[historic]
    #[deadline_ms = 100]
    pub struct Announce(u64) -> u64;
}

#[tokio::test(start_paused = true)]
async fn replays_keep_the_callers_exclusions_and_the_specs_deadline() {
    let pm = HookManager::builder().spec::<Announce>().build();
    let seen: Seen = Arc::default();
    let s = seen.clone();
    pm.hook::<Announce>()
        .excluding(["skipped"])
        .call_historic(1, move |p, o| {
            s.lock()
                .unwrap()
                .push((p.to_owned(), format!("{}", o.kind())));
        })
        .await
        .unwrap();
    // Excluded by the original caller: never replayed to.
    pm.register("skipped", |r| r.sync_fn::<Announce>(|x| Ok(Some(*x))).add())
        .unwrap();
    // Hangs: the spec's deadline ends its replay.
    pm.register("hung", |r| {
        r.hook_fn::<Announce>(|_| std::future::pending().boxed())
            .add()
    })
    .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), pm.flush())
        .await
        .expect("the replay ends at the spec's deadline");
    assert_eq!(
        *seen.lock().unwrap(),
        [("hung".to_owned(), "timed out".to_owned())]
    );
}

#[tokio::test]
async fn extras_run_after_a_tryfirst_impl_even_one_ordered_after_a_plain_one() {
    let pm = HookManager::new();
    pm.register("plain", |r| r.sync_fn::<Compute>(|_| Ok(Some(1))).add())
        .unwrap();
    pm.register("first", |r| {
        r.sync_fn::<Compute>(|_| Ok(Some(2)))
            .tryfirst()
            .after("plain")
            .add()
    })
    .unwrap();
    let out = pm
        .hook::<Compute>()
        .call_extra(&1, [AdHocImpl::sync("x", |_: &u64| Ok(Some(9)))])
        .await
        .unwrap();
    let names: Vec<&str> = out.iter().map(|(p, _)| p).collect();
    assert_eq!(names, ["plain", "first", "x"]);
}
