//! Wrappers editing the inner outcome while keeping who produced what: `force_result`,
//! `replace_value`, `take_failure`/`take_first_failure`, `recover` — in collect-all and
//! first-result hooks.

use std::sync::{Arc, Mutex};

use hookwire::{
    hook::Next, outcome::OutcomeKind, CallError, FutureExt, HookManager, HookOutcome, ImplOutcome,
};

hookwire::hookspec! {
    /// Collect-all.
    #[name = "all"]
    pub struct All(u64) -> u64;
    /// First result.
    #[firstresult]
    #[name = "first"]
    pub struct First(u64) -> u64;
}

/// Every entry as `(plugin, kind, value)`, in call order.
fn entries(out: &HookOutcome<u64>) -> Vec<(String, OutcomeKind, Option<u64>)> {
    out.iter()
        .map(|(p, o)| (p.to_owned(), o.kind(), o.value().copied()))
        .collect()
}

fn entry(p: &str, kind: OutcomeKind, v: Option<u64>) -> (String, OutcomeKind, Option<u64>) {
    (p.to_owned(), kind, v)
}

use OutcomeKind::{Error, NoAnswer, Value};

/// `All`: in call order `c` (x * 10), `b` (fails "b down"), `a` (x + 1).
fn collect_all() -> HookManager {
    let pm = HookManager::new();
    pm.register("a", |r| r.sync_fn::<All>(|x| Ok(Some(x + 1))).add())
        .unwrap();
    pm.register("b", |r| r.sync_fn::<All>(|_| Err("b down".into())).add())
        .unwrap();
    pm.register("c", |r| r.sync_fn::<All>(|x| Ok(Some(x * 10))).add())
        .unwrap();
    pm
}

/// `First`: in call order `quiet` (no answer), `broken` (fails "broken down"), `answers`
/// (x + 1), `late` (never reached).
fn first_result() -> HookManager {
    let pm = HookManager::new();
    pm.register("late", |r| r.sync_fn::<First>(|_| Ok(Some(1000))).add())
        .unwrap();
    pm.register("answers", |r| r.sync_fn::<First>(|x| Ok(Some(x + 1))).add())
        .unwrap();
    pm.register("broken", |r| {
        r.sync_fn::<First>(|_| Err("broken down".into())).add()
    })
    .unwrap();
    pm.register("quiet", |r| r.sync_fn::<First>(|_| Ok(None)).add())
        .unwrap();
    pm
}

/// Registers wrapper `w` of hook `S`, which runs the inner call and applies `edit` to it.
fn wrap<S: hookwire::HookSpec<Output = u64>>(
    pm: &HookManager,
    edit: impl Fn(&mut HookOutcome<u64>, hookwire::outcome::ImplId) -> Result<(), hookwire::BoxError>
        + Send
        + Sync
        + 'static,
) {
    let edit = Arc::new(edit);
    pm.register("w", move |r| {
        let edit = edit.clone();
        r.wrapper_fn::<S>(move |_, next: Next<'_, S>| {
            let edit = edit.clone();
            async move {
                let me = next.me();
                let mut out = next.run().await;
                edit(&mut out, me)?;
                Ok(out)
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
}

#[tokio::test]
async fn the_inner_outcomes_are_attributed_to_their_impls_before_any_edit() {
    let pm = collect_all();
    let out = pm.hook::<All>().call(&2).await.unwrap();
    assert_eq!(
        entries(&out),
        [
            entry("c", Value, Some(20)),
            entry("b", Error, None),
            entry("a", Value, Some(3))
        ]
    );
    let pm = first_result();
    let out = pm.hook::<First>().call(&2).await.unwrap();
    assert_eq!(
        entries(&out),
        [
            entry("quiet", NoAnswer, None),
            entry("broken", Error, None),
            entry("answers", Value, Some(3))
        ]
    );
}

#[tokio::test]
async fn force_result_replaces_every_entry_with_one_answer_in_the_wrappers_name() {
    let pm = collect_all();
    wrap::<All>(&pm, |out, me| {
        out.force_result(me, 99);
        Ok(())
    });
    let out = pm.hook::<All>().call(&2).await.unwrap();
    assert_eq!(entries(&out), [entry("w", Value, Some(99))]);
    assert_eq!(out.entries().next().unwrap().attempts, 1);
    // The inner failure went with the rest: a fail-fast call succeeds.
    let out = pm.hook::<All>().fail_fast().call(&2).await.unwrap();
    assert_eq!(out.into_values(), [99]);

    let pm = first_result();
    wrap::<First>(&pm, |out, me| {
        out.force_result(me, 7);
        Ok(())
    });
    let out = pm.hook::<First>().call(&2).await.unwrap();
    assert_eq!(entries(&out), [entry("w", Value, Some(7))]);
    assert_eq!(out.into_value(), Some(7));
}

#[tokio::test]
async fn replace_value_changes_an_answer_but_keeps_its_impls_name() {
    let pm = collect_all();
    let old = Arc::new(Mutex::new(Vec::new()));
    let o = old.clone();
    wrap::<All>(&pm, move |out, _| {
        let mut o = o.lock().unwrap();
        o.push(out.replace_value("a", 300));
        // Only answers are replaced: a failure or an unknown plugin is left alone.
        o.push(out.replace_value("b", 301));
        o.push(out.replace_value("nobody", 302));
        Ok(())
    });
    let out = pm.hook::<All>().call(&2).await.unwrap();
    assert_eq!(
        entries(&out),
        [
            entry("c", Value, Some(20)),
            entry("b", Error, None),
            entry("a", Value, Some(300))
        ]
    );
    assert_eq!(*old.lock().unwrap(), [Some(3), None, None]);

    let pm = first_result();
    let old = Arc::new(Mutex::new(Vec::new()));
    let o = old.clone();
    wrap::<First>(&pm, move |out, _| {
        o.lock().unwrap().push(out.replace_value("quiet", 41));
        o.lock().unwrap().push(out.replace_value("answers", 42));
        Ok(())
    });
    let out = pm.hook::<First>().call(&2).await.unwrap();
    assert_eq!(out.answers().collect::<Vec<_>>(), [("answers", &42)]);
    assert_eq!(out.get("quiet").unwrap().kind(), NoAnswer);
    assert_eq!(*old.lock().unwrap(), [None, Some(3)]);
}

/// A wrapper's own error around the failure it took out (pluggy's `raise ... from e`).
#[derive(Debug)]
struct Refused(CallError);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[tokio::test]
async fn take_failure_hands_over_an_impls_error_naming_it_to_chain_it() {
    let pm = collect_all();
    wrap::<All>(&pm, |out, _| {
        // Nothing to take from plugins that did not fail.
        assert!(out.take_failure("a").is_none());
        assert!(out.take_failure("nobody").is_none());
        assert_eq!(out.len(), 3);
        match out.take_failure("b") {
            Some(e) => Err(Refused(e).into()),
            None => Ok(()),
        }
    });
    let out = pm.hook::<All>().call(&2).await.unwrap();
    // The wrapper's failure replaces the outcome, in its name...
    assert_eq!(entries(&out), [entry("w", Error, None)]);
    let (who, failure) = out.errors().next().unwrap();
    assert_eq!(who, "w");
    assert_eq!(failure.to_string(), "returned an error: refused");
    // ...and the chained error still says which plugin failed, and how.
    let refused = failure
        .as_error()
        .unwrap()
        .downcast_ref::<Refused>()
        .unwrap();
    assert_eq!(refused.0.plugin(), Some("b"));
    assert_eq!(
        refused.0.to_string(),
        "impl of hook `all` in plugin `b` returned an error: b down"
    );
    let inner = std::error::Error::source(refused).unwrap();
    assert_eq!(inner.to_string(), refused.0.to_string());
    // Under fail-fast the call's error is the wrapper's.
    let err = pm.hook::<All>().fail_fast().call(&2).await.unwrap_err();
    assert_eq!(err.plugin(), Some("w"));
}

#[tokio::test]
async fn take_first_failure_removes_the_first_failed_entry_in_call_order() {
    let pm = first_result();
    let taken = Arc::new(Mutex::new(Vec::new()));
    let t = taken.clone();
    wrap::<First>(&pm, move |out, _| {
        while let Some(e) = out.take_first_failure() {
            t.lock().unwrap().push(e.to_string());
        }
        Ok(())
    });
    let out = pm.hook::<First>().call(&2).await.unwrap();
    assert_eq!(
        entries(&out),
        [
            entry("quiet", NoAnswer, None),
            entry("answers", Value, Some(3))
        ]
    );
    assert_eq!(
        *taken.lock().unwrap(),
        ["impl of hook `first` in plugin `broken` returned an error: broken down"]
    );
    // Under fail-fast the impls stop at the failure; the wrapper took it out, so the call
    // succeeds with what ran.
    let out = pm.hook::<First>().fail_fast().call(&2).await.unwrap();
    assert_eq!(entries(&out), [entry("quiet", NoAnswer, None)]);
}

#[tokio::test]
async fn recover_turns_a_failure_into_an_answer_in_the_wrappers_name_where_it_was() {
    let pm = collect_all();
    let taken = Arc::new(Mutex::new(Vec::new()));
    let t = taken.clone();
    wrap::<All>(&pm, move |out, me| {
        // A plugin that did not fail is left alone.
        assert!(out.recover("a", me, 1).is_none());
        let e = out.recover("b", me, 7).expect("b failed");
        t.lock()
            .unwrap()
            .push((e.plugin().map(str::to_owned), e.to_string()));
        Ok(())
    });
    let out = pm.hook::<All>().call(&2).await.unwrap();
    assert_eq!(
        entries(&out),
        [
            entry("c", Value, Some(20)),
            entry("w", Value, Some(7)),
            entry("a", Value, Some(3))
        ]
    );
    assert!(!out.has_errors());
    assert_eq!(
        *taken.lock().unwrap(),
        [(
            Some("b".to_owned()),
            "impl of hook `all` in plugin `b` returned an error: b down".to_owned()
        )]
    );

    // First result: the recovered answer stands where the failure was, before the later
    // impl's answer, so it is the call's answer.
    let pm = first_result();
    wrap::<First>(&pm, |out, me| {
        out.recover("broken", me, 5);
        Ok(())
    });
    let out = pm.hook::<First>().call(&2).await.unwrap();
    assert_eq!(
        entries(&out),
        [
            entry("quiet", NoAnswer, None),
            entry("w", Value, Some(5)),
            entry("answers", Value, Some(3))
        ]
    );
    assert_eq!(out.into_value(), Some(5));
}

#[tokio::test]
async fn value_mut_changes_answers_in_place_keeping_attribution() {
    let pm = collect_all();
    wrap::<All>(&pm, |out, _| {
        for (_, o) in out.iter_mut() {
            if let Some(v) = o.value_mut() {
                *v += 1000;
            }
        }
        Ok(())
    });
    let out = pm.hook::<All>().call(&2).await.unwrap();
    assert_eq!(
        entries(&out),
        [
            entry("c", Value, Some(1020)),
            entry("b", Error, None),
            entry("a", Value, Some(1003))
        ]
    );
    // By value, too.
    let o: ImplOutcome<u64> = ImplOutcome::Value(3);
    assert_eq!(o.into_value(), Some(3));
    assert_eq!(ImplOutcome::<u64>::NoAnswer.into_value(), None);
}

#[tokio::test]
async fn an_impl_ref_of_another_hook_makes_recover_the_wrappers_panic() {
    let pm = collect_all();
    let foreign: Arc<Mutex<Option<hookwire::outcome::ImplId>>> = Arc::default();
    // Three wrappers of `All`: the innermost one (run last) is its third impl, index 2;
    // `First` below has two impls.
    for name in ["w1", "w2", "w3"] {
        let foreign = foreign.clone();
        pm.register(name, move |r| {
            r.wrapper_fn::<All>(move |_, next| {
                *foreign.lock().unwrap() = Some(next.me());
                async move { Ok(next.run().await) }.boxed()
            })
            .add()
        })
        .unwrap();
    }
    pm.hook::<All>().call(&2).await.unwrap();
    let foreign = foreign.lock().unwrap().expect("the wrapper ran");
    let other = HookManager::new();
    other
        .register("x", |r| r.sync_fn::<First>(|_| Err("x down".into())).add())
        .unwrap();
    other
        .register("y", |r| {
            r.wrapper_fn::<First>(move |_, next| {
                async move {
                    let mut out = next.run().await;
                    out.recover("x", foreign, 1);
                    Ok(out)
                }
                .boxed()
            })
            .add()
        })
        .unwrap();
    let out = other.hook::<First>().call(&2).await.unwrap();
    let (who, failure) = out.errors().next().unwrap();
    assert_eq!(who, "y");
    assert!(failure.is_panic());
    assert!(
        failure
            .to_string()
            .contains("recover with the `Next::me()` of this call"),
        "{failure}"
    );
}
