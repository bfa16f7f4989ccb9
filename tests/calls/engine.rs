//! Call modes, wrappers, error and panic isolation, fail-fast: through the public API.

use std::sync::{Arc, Mutex};

use hookspecs::{AuthRequest, Authenticate, Compute, Principal};
use hookwire::{
    async_trait, hook::HookWrapper, hook::Next, hook::WrapResult, outcome::OutcomeKind, CallError,
    FutureExt, Hook, HookFailure, HookManager, HookReturn, ImplOutcome,
};

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn principal(user: &str) -> Principal {
    Principal {
        user: user.into(),
        roles: vec![],
    }
}

#[derive(Debug)]
struct Denied(&'static str);
impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "denied: {}", self.0)
    }
}
impl std::error::Error for Denied {}

#[tokio::test]
async fn collect_all_keeps_every_answer_in_call_order_and_names_plugins() {
    let pm = HookManager::builder().spec::<Compute>().build();
    pm.register("a", |r| r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).add())
        .unwrap();
    pm.register("b", |r| r.sync_fn::<Compute>(|_| Ok(None)).add())
        .unwrap();
    pm.register("c", |r| {
        r.hook_fn::<Compute>(|x| async move { Ok(Some(x * 10)) }.boxed())
            .add()
    })
    .unwrap();

    let out = pm.hook::<Compute>().call(&2).await.unwrap();
    // LIFO: c, b, a. "No answer" entries are reported but not values.
    let seen: Vec<(&str, OutcomeKind)> = out.iter().map(|(p, o)| (p, o.kind())).collect();
    assert_eq!(
        seen,
        [
            ("c", OutcomeKind::Value),
            ("b", OutcomeKind::NoAnswer),
            ("a", OutcomeKind::Value)
        ]
    );
    assert_eq!(out.values().copied().collect::<Vec<_>>(), [20, 3]);
    assert_eq!(out.answers().collect::<Vec<_>>(), [("c", &20), ("a", &3)]);
    assert_eq!(out.hook(), "compute");
    assert_eq!(out.into_result().unwrap(), [20, 3]);
}

#[tokio::test]
async fn firstresult_stops_at_first_answer_and_falsy_values_count() {
    hookwire::hookspec! {
        #[firstresult]
        pub struct Count(()) -> u64;
    }
    let calls = log();
    let pm = HookManager::new();
    for (name, answer) in [("late", Some(5u64)), ("zero", Some(0)), ("none", None)] {
        let calls = calls.clone();
        pm.register(name, move |r| {
            r.sync_fn::<Count>(move |_| {
                calls.lock().unwrap().push(name.to_owned());
                Ok(answer)
            })
            .add()
        })
        .unwrap();
    }
    let out = pm.hook::<Count>().call(&()).await.unwrap();
    // "none" declines, "zero" answers 0 (an answer), "late" never runs.
    assert_eq!(take(&calls), ["none", "zero"]);
    assert_eq!(out.len(), 2);
    assert_eq!(out.into_value(), Some(0));
}

#[tokio::test]
async fn firstresult_with_no_answer_is_none() {
    let pm = HookManager::new();
    pm.register("nobody", |r| r.sync_fn::<Authenticate>(|_| Ok(None)).add())
        .unwrap();
    let out = pm
        .hook::<Authenticate>()
        .call(&AuthRequest { token: "x".into() })
        .await
        .unwrap();
    assert_eq!(out.into_value_result().unwrap(), None);
}

struct TokenAuth;
#[async_trait]
impl Hook<Authenticate> for TokenAuth {
    async fn call(&self, req: &AuthRequest) -> HookReturn<Principal> {
        tokio::task::yield_now().await; // really goes pending once
        if req.token == "secret" {
            Ok(Some(principal("alice")))
        } else if req.token == "bad" {
            Err(Box::new(Denied("bad token")))
        } else {
            Ok(None)
        }
    }
}

#[tokio::test]
async fn errors_and_panics_are_isolated_and_named() {
    let pm = HookManager::new();
    pm.register("panicky", |r| {
        r.sync_fn::<Compute>(|_| panic!("boom {}", 42))
            .tryfirst()
            .add()
    })
    .unwrap();
    pm.register("failing", |r| {
        r.hook_fn::<Compute>(|_| async { Err("no luck".into()) }.boxed())
            .add()
    })
    .unwrap();
    pm.register("async-panic", |r| {
        r.hook_fn::<Compute>(|_| {
            async {
                tokio::task::yield_now().await;
                panic!("late boom")
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    pm.register("ok", |r| {
        r.sync_fn::<Compute>(|x| Ok(Some(*x))).trylast().add()
    })
    .unwrap();

    let out = pm.hook::<Compute>().call(&7).await.unwrap();
    assert_eq!(out.values().copied().collect::<Vec<_>>(), [7]);
    let errors: Vec<(String, String)> = out
        .errors()
        .map(|(p, f)| (p.to_owned(), f.to_string()))
        .collect();
    assert_eq!(
        errors,
        [
            ("panicky".to_owned(), "panicked: boom 42".to_owned()),
            ("async-panic".to_owned(), "panicked: late boom".to_owned()),
            (
                "failing".to_owned(),
                "returned an error: no luck".to_owned()
            ),
        ]
    );
    assert!(out.get("panicky").unwrap().failure().unwrap().is_panic());
    // into_result reports the first failure with hook and plugin.
    let err = out.into_result().unwrap_err();
    assert_eq!(err.plugin(), Some("panicky"));
    assert!(err.is_panic());
    assert_eq!(
        err.to_string(),
        "impl of hook `compute` in plugin `panicky` panicked: boom 42"
    );

    // The manager is still usable.
    let again = pm.hook::<Compute>().call(&1).await.unwrap();
    assert_eq!(again.len(), 4);
}

#[tokio::test]
async fn impl_errors_keep_their_type() {
    let pm = HookManager::new();
    pm.register("token", |r| {
        r.hook::<Authenticate>(Arc::new(TokenAuth)).add()
    })
    .unwrap();
    let out = pm
        .hook::<Authenticate>()
        .call(&AuthRequest {
            token: "bad".into(),
        })
        .await
        .unwrap();
    let (plugin, failure) = out.errors().next().unwrap();
    assert_eq!(plugin, "token");
    let HookFailure::Error(e) = failure else {
        panic!("expected an error, got {failure:?}")
    };
    assert_eq!(e.downcast_ref::<Denied>().unwrap().0, "bad token");
}

#[tokio::test]
async fn fail_fast_stops_at_first_failure_per_call_and_per_spec() {
    let ran = log();
    let pm = HookManager::new();
    for (name, fail) in [("third", false), ("second", true), ("first", false)] {
        let ran = ran.clone();
        pm.register(name, move |r| {
            r.sync_fn::<Compute>(move |x| {
                ran.lock().unwrap().push(name.to_owned());
                if fail {
                    Err(Box::new(Denied("stop")))
                } else {
                    Ok(Some(*x))
                }
            })
            .add()
        })
        .unwrap();
    }
    // Default: isolation, all three run.
    let out = pm.hook::<Compute>().call(&1).await.unwrap();
    assert_eq!(take(&ran), ["first", "second", "third"]);
    assert_eq!(out.errors().count(), 1);

    // Per call: pluggy's behaviour.
    let err = pm.hook::<Compute>().fail_fast().call(&1).await.unwrap_err();
    assert_eq!(take(&ran), ["first", "second"]);
    assert!(matches!(&err, CallError::ImplFailed { plugin, .. } if &**plugin == "second"));
    assert_eq!(
        err.to_string(),
        "impl of hook `compute` in plugin `second` returned an error: denied: stop"
    );

    // Per spec.
    hookwire::hookspec! {
        #[fail_fast]
        pub struct Strict(u64) -> u64;
    }
    let pm = HookManager::new();
    pm.register("bad", |r| r.sync_fn::<Strict>(|_| Err("nope".into())).add())
        .unwrap();
    pm.register("good", |r| {
        r.sync_fn::<Strict>(|x| Ok(Some(*x))).trylast().add()
    })
    .unwrap();
    assert!(pm.hook::<Strict>().call(&1).await.is_err());
    // ...and the per-call override wins.
    let out = pm.hook::<Strict>().isolate().call(&1).await.unwrap();
    assert_eq!(out.values().copied().collect::<Vec<_>>(), [1]);
}

struct Recorder {
    name: &'static str,
    log: Log,
}

#[async_trait]
impl HookWrapper<Compute> for Recorder {
    async fn wrap(&self, _x: &u64, next: Next<'_, Compute>) -> WrapResult<u64> {
        self.log.lock().unwrap().push(format!("{} pre", self.name));
        let out = next.run().await;
        self.log.lock().unwrap().push(format!("{} post", self.name));
        Ok(out)
    }
}

#[tokio::test]
async fn wrappers_nest_like_pluggy() {
    let l = log();
    let pm = HookManager::new();
    let l2 = l.clone();
    pm.register("impl", move |r| {
        r.sync_fn::<Compute>(move |x| {
            l2.lock().unwrap().push("impl".into());
            Ok(Some(*x))
        })
        .tryfirst()
        .add()
    })
    .unwrap();
    for name in ["w1", "w2"] {
        let w = Arc::new(Recorder {
            name,
            log: l.clone(),
        });
        pm.register(name, |r| r.wrapper::<Compute>(w).add())
            .unwrap();
    }
    let w3 = Arc::new(Recorder {
        name: "w3",
        log: l.clone(),
    });
    pm.register("w3", |r| r.wrapper::<Compute>(w3).trylast().add())
        .unwrap();

    let out = pm.hook::<Compute>().call(&3).await.unwrap();
    assert_eq!(out.into_values(), [3]);
    // Wrappers run before every plain impl, even tryfirst ones; LIFO among wrappers, trylast
    // innermost; pre-code outermost first, post-code innermost first.
    assert_eq!(
        take(&l),
        ["w2 pre", "w1 pre", "w3 pre", "impl", "w3 post", "w1 post", "w2 post"]
    );
}

#[tokio::test]
async fn wrappers_replace_swallow_and_raise() {
    let pm = HookManager::new();
    pm.register("failing", |r| {
        r.sync_fn::<Compute>(|_| Err("inner".into())).add()
    })
    .unwrap();
    pm.register("ok", |r| r.sync_fn::<Compute>(|x| Ok(Some(*x))).add())
        .unwrap();
    // Swallows failures and adds an answer of its own.
    pm.register("fixer", |r| {
        r.wrapper_fn::<Compute>(|_x, next| {
            async move {
                let me = next.me();
                let mut out = next.run().await;
                out.retain(|_, o| !o.is_failed());
                out.push(me, ImplOutcome::Value(100));
                Ok(out)
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&5).await.unwrap();
    assert!(!out.has_errors());
    assert_eq!(
        out.answers().collect::<Vec<_>>(),
        [("ok", &5), ("fixer", &100)]
    );
    // Fail-fast: the inner error was swallowed, so the call succeeds.
    assert!(pm.hook::<Compute>().fail_fast().call(&5).await.is_ok());

    // An outer wrapper that raises replaces everything with its own failure.
    pm.register("gate", |r| {
        r.wrapper_fn::<Compute>(|x, next| {
            async move {
                if *x > 10 {
                    return Err("too big".into());
                }
                Ok(next.run().await)
            }
            .boxed()
        })
        .tryfirst()
        .add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&11).await.unwrap();
    assert_eq!(out.len(), 1);
    let (who, failure) = out.errors().next().unwrap();
    assert_eq!(
        (who, failure.to_string().as_str()),
        ("gate", "returned an error: too big")
    );
    let err = pm
        .hook::<Compute>()
        .fail_fast()
        .call(&11)
        .await
        .unwrap_err();
    assert_eq!(err.plugin(), Some("gate"));
    // A panicking wrapper is isolated too.
    pm.register("bomb", |r| {
        r.wrapper_fn::<Compute>(|_, _next| async move { panic!("wrapper boom") }.boxed())
            .tryfirst()
            .add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&1).await.unwrap();
    assert_eq!(out.errors().next().unwrap().0, "bomb");
    assert!(out.errors().next().unwrap().1.is_panic());
}

#[tokio::test]
async fn firstresult_wrapper_sees_the_single_answer() {
    let pm = HookManager::new();
    pm.register("token", |r| {
        r.hook::<Authenticate>(Arc::new(TokenAuth)).add()
    })
    .unwrap();
    pm.register("upper", |r| {
        r.wrapper_fn::<Authenticate>(|_req, next| {
            async move {
                let mut out = next.run().await;
                for (_, o) in out.iter_mut() {
                    if let ImplOutcome::Value(p) = o {
                        p.user = p.user.to_uppercase();
                    }
                }
                Ok(out)
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let who = pm
        .hook::<Authenticate>()
        .call(&AuthRequest {
            token: "secret".into(),
        })
        .await
        .unwrap()
        .into_value();
    assert_eq!(who, Some(principal("ALICE")));
}

#[tokio::test]
async fn dropping_a_call_drops_its_impl_futures() {
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pm = HookManager::new();
    let f = flag.clone();
    pm.register("slow", move |r| {
        let f = f.clone();
        r.hook_fn::<Compute>(move |_| {
            let f = f.clone();
            async move {
                futures::future::pending::<()>().await;
                f.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(Some(1))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let caller = pm.hook::<Compute>();
    let mut call = Box::pin(caller.call(&1));
    assert!(futures::poll!(call.as_mut()).is_pending());
    drop(call);
    assert!(!flag.load(std::sync::atomic::Ordering::SeqCst));
}

#[tokio::test]
async fn all_sync_calls_isolate_errors_and_panics_too() {
    // Only plain sync impls: the engine's tight loop runs them.
    let pm = HookManager::new();
    pm.register("ok", |r| {
        r.sync_fn::<Compute>(|x| Ok(Some(*x))).trylast().add()
    })
    .unwrap();
    pm.register("err", |r| r.sync_fn::<Compute>(|_| Err("bad".into())).add())
        .unwrap();
    pm.register("boom", |r| {
        r.sync_fn::<Compute>(|_| panic!("sync boom")).add()
    })
    .unwrap();
    pm.register("none", |r| {
        r.sync_fn::<Compute>(|_| Ok(None)).tryfirst().add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&9).await.unwrap();
    let seen: Vec<(&str, OutcomeKind)> = out.iter().map(|(p, o)| (p, o.kind())).collect();
    assert_eq!(
        seen,
        [
            ("none", OutcomeKind::NoAnswer),
            ("boom", OutcomeKind::Panic),
            ("err", OutcomeKind::Error),
            ("ok", OutcomeKind::Value)
        ]
    );
    let err = pm.hook::<Compute>().fail_fast().call(&9).await.unwrap_err();
    assert_eq!(err.plugin(), Some("boom"));
}

hookwire::hookspec! {
    /// A second hook, to carry an `ImplId` over from.
    pub struct Other(u64) -> u64;
}

#[tokio::test]
async fn pushing_an_impl_ref_of_another_hook_is_the_wrappers_panic() {
    let pm = HookManager::new();
    let kept: Arc<Mutex<Option<hookwire::outcome::ImplId>>> = Arc::default();
    // Three wrappers of `Compute`: the innermost one's `me` is the third impl of that hook.
    for name in ["w1", "w2", "w3"] {
        let kept = kept.clone();
        pm.register(name, move |r| {
            r.wrapper_fn::<Compute>(move |_, next| {
                *kept.lock().unwrap() = Some(next.me());
                async move { Ok(next.run().await) }.boxed()
            })
            .add()
        })
        .unwrap();
    }
    pm.hook::<Compute>().call(&1).await.unwrap();
    let foreign = kept.lock().unwrap().expect("a wrapper ran");
    // `Other` has one wrapper and no impl at that index.
    pm.register("misuse", move |r| {
        r.wrapper_fn::<Other>(move |_, next| {
            async move {
                let mut out = next.run().await;
                out.push(foreign, hookwire::ImplOutcome::Value(7));
                Ok(out)
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let out = pm.hook::<Other>().call(&1).await.unwrap();
    let got: Vec<(String, String)> = out
        .iter()
        .map(|(p, o)| (p.to_owned(), format!("{o:?}")))
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "misuse");
    assert!(
        got[0].1.contains("is not an impl of hook `Other`"),
        "{got:?}"
    );
}
