//! Registration semantics of the `HookManager`: handles belong to their manager, constraints
//! on absent plugins wait for them, historic hooks refuse wrappers and replay without letting
//! a callback's panic or (under isolation) an impl's failure escape `register`, fail-fast
//! replays roll a registration back, and plugins can be looked up by name.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookwire::{
    hook::ConstraintRelation, hook::WaitingConstraint, BoxError, FutureExt, HookManager,
    ImplOutcome, RegisterError,
};

hookwire::hookspec! {
    /// Collect-all: every impl answers its plugin's name.
    pub struct Who(()) -> String;
    /// A historic event, isolated by default.
    #[historic]
    pub struct Loaded(u32) -> u32;
    /// A historic event whose spec fails fast.
    #[historic]
    #[fail_fast]
    pub struct StrictLoaded(u32) -> u32;
}

fn named(pm: &HookManager, name: &str) -> Result<hookwire::hook::PluginHandle, RegisterError> {
    let me = name.to_owned();
    pm.register(name, move |r| {
        r.sync_fn::<Who>(move |_| Ok(Some(me.clone()))).add()
    })
}

fn with_constraint(
    pm: &HookManager,
    name: &str,
    relation: ConstraintRelation,
    target: &str,
) -> Result<hookwire::hook::PluginHandle, RegisterError> {
    let me = name.to_owned();
    pm.register(name, move |r| {
        let b = r.sync_fn::<Who>(move |_| Ok(Some(me.clone())));
        match relation {
            ConstraintRelation::Before => b.before(target),
            ConstraintRelation::After => b.after(target),
        }
        .add()
    })
}

fn order(pm: &HookManager) -> Vec<String> {
    let out = futures::executor::block_on(pm.hook::<Who>().call(&())).unwrap();
    out.into_values()
}

/// The waiting constraints as `(plugin, hook, relation, target)`.
fn waiting(pm: &HookManager) -> Vec<(String, String, ConstraintRelation, String)> {
    pm.waiting_constraints()
        .into_iter()
        .map(|w: WaitingConstraint| (w.plugin, w.hook, w.relation, w.target))
        .collect()
}

fn wait(
    plugin: &str,
    relation: ConstraintRelation,
    target: &str,
) -> (String, String, ConstraintRelation, String) {
    (plugin.into(), "Who".into(), relation, target.into())
}

// ----------------------------------------------------------------------------------------------
// 1. Handles belong to their manager
// ----------------------------------------------------------------------------------------------

#[test]
fn a_handle_from_another_manager_is_refused_and_changes_nothing() {
    let first = HookManager::new();
    let second = HookManager::new();
    let foreign = named(&first, "a").unwrap();
    // Same per-manager number, another plugin; then the same name, another plugin.
    named(&second, "x").unwrap();
    named(&second, "a").unwrap();
    let before = second.plugins();

    assert!(!second.unregister(&foreign));
    assert_eq!(
        second.plugins(),
        before,
        "the foreign handle changed nothing"
    );
    assert_eq!(order(&second), ["a", "x"]);
    // The handle still works where it came from.
    assert!(first.unregister(&foreign));
    assert!(!first.is_registered("a"));
}

// ----------------------------------------------------------------------------------------------
// 2. Constraints on absent plugins wait for them
// ----------------------------------------------------------------------------------------------

#[test]
fn a_constraint_on_an_absent_plugin_waits_and_applies_when_it_registers() {
    let pm = HookManager::new();
    // `b` must run before `a`, which is not registered yet.
    with_constraint(&pm, "b", ConstraintRelation::Before, "a").unwrap();
    assert_eq!(waiting(&pm), [wait("b", ConstraintRelation::Before, "a")]);
    assert_eq!(
        pm.waiting_constraints()[0].to_string(),
        "impl of hook `Who` in plugin `b` runs before `a`, which is not registered"
    );
    // Registered later, `a` would run first (LIFO); the constraint puts `b` first.
    named(&pm, "a").unwrap();
    assert_eq!(order(&pm), ["b", "a"]);
    assert!(pm.waiting_constraints().is_empty());
    assert!(
        pm.check_pending().is_ok(),
        "a waiting constraint is no error"
    );
}

#[test]
fn a_constraint_waits_again_while_its_target_is_unregistered_and_applies_on_re_registration() {
    let pm = HookManager::new();
    with_constraint(&pm, "b", ConstraintRelation::Before, "a").unwrap();
    named(&pm, "a").unwrap();
    assert!(pm.unregister_name("a"));
    assert_eq!(waiting(&pm), [wait("b", ConstraintRelation::Before, "a")]);
    named(&pm, "c").unwrap();
    named(&pm, "a").unwrap();
    assert_eq!(order(&pm), ["c", "b", "a"]);
    // The constraint goes with the plugin that declared it.
    assert!(pm.unregister_name("b"));
    assert!(pm.waiting_constraints().is_empty());
    named(&pm, "b").unwrap();
    assert_eq!(order(&pm), ["b", "a", "c"]);
}

#[test]
fn the_registration_that_closes_a_cycle_through_waiting_constraints_is_refused_and_changes_nothing()
{
    let pm = HookManager::new();
    // b before a (absent), c before b: registering a "before c" closes a -> c -> b -> a.
    with_constraint(&pm, "b", ConstraintRelation::Before, "a").unwrap();
    with_constraint(&pm, "c", ConstraintRelation::Before, "b").unwrap();
    let before = (pm.plugins(), pm.waiting_constraints());
    let err = with_constraint(&pm, "a", ConstraintRelation::Before, "c").unwrap_err();
    let RegisterError::OrderingCycle { hook, cycle } = &err else {
        panic!("expected a cycle, got {err:?}")
    };
    assert_eq!(hook, "Who");
    assert_eq!(cycle.first(), cycle.last());
    let mut on_cycle = cycle[..cycle.len() - 1].to_vec();
    on_cycle.sort();
    assert_eq!(on_cycle, ["a", "b", "c"]);
    assert!(err.to_string().contains(&cycle.join(" -> ")), "{err}");
    assert_eq!((pm.plugins(), pm.waiting_constraints()), before);
    assert!(!pm.is_registered("a"));
    // Without the closing constraint, `a` registers and the waiting one applies.
    named(&pm, "a").unwrap();
    assert_eq!(order(&pm), ["c", "b", "a"]);
}

// ----------------------------------------------------------------------------------------------
// 3. No wrappers on historic hooks
// ----------------------------------------------------------------------------------------------

#[test]
fn a_wrapper_on_a_historic_hook_is_refused_at_registration() {
    // Declared by the host, and not declared (the wrapper's spec type creates the hook).
    for pm in [
        HookManager::builder().spec::<Loaded>().build(),
        HookManager::new(),
    ] {
        let before = pm.plugins();
        let err = pm
            .register("wrap", |r| {
                r.wrapper_fn::<Loaded>(|_, next| async move { Ok(next.run().await) }.boxed())
                    .add()
            })
            .unwrap_err();
        let RegisterError::InvalidImpl { hook, plugin, .. } = &err else {
            panic!("expected InvalidImpl, got {err:?}")
        };
        assert_eq!((hook.as_str(), plugin.as_str()), ("Loaded", "wrap"));
        assert!(
            err.to_string()
                .contains("the hook is historic, and a wrapper cannot be replayed to"),
            "{err}"
        );
        assert_eq!(pm.plugins(), before);
        assert!(!pm.is_registered("wrap"));
    }
}

// ----------------------------------------------------------------------------------------------
// 4 and 5. Historic replays inside `register`
// ----------------------------------------------------------------------------------------------

type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn recorder(seen: &Seen) -> impl Fn(&str, ImplOutcome<u32>) + Send + Sync + 'static {
    let seen = seen.clone();
    move |plugin, o| {
        let what = match &o {
            ImplOutcome::Value(v) => format!("value {v}"),
            ImplOutcome::Failed(f) => f.to_string(),
            other => format!("{:?}", other.kind()),
        };
        seen.lock().unwrap().push((plugin.to_owned(), what));
    }
}

fn failing_loaded(
    pm: &HookManager,
    name: &str,
) -> Result<hookwire::hook::PluginHandle, RegisterError> {
    pm.register(name, |r| {
        r.sync_fn::<Loaded>(|_| Err(BoxError::from("no disk")))
            .add()?;
        r.sync_fn::<Who>(|_| Ok(Some("bad".into()))).add()
    })
}

#[tokio::test]
async fn a_panicking_on_result_callback_during_a_replay_does_not_fail_register() {
    let pm = HookManager::builder().spec::<Loaded>().build();
    pm.hook::<Loaded>()
        .call_historic(7, |plugin, _| {
            if plugin == "late" {
                panic!("callback bug");
            }
        })
        .await
        .unwrap();
    let handle = pm
        .register("late", |r| r.sync_fn::<Loaded>(|x| Ok(Some(x + 1))).add())
        .expect("the callback's panic does not escape register");
    assert!(pm.is_registered("late"));
    assert_eq!(pm.plugin("late").unwrap().impls.len(), 1);
    assert!(pm.unregister(&handle));
}

#[tokio::test]
async fn under_isolation_a_failing_replay_goes_to_on_result_and_register_succeeds() {
    let pm = HookManager::builder().spec::<Loaded>().build();
    let seen = Seen::default();
    pm.hook::<Loaded>()
        .call_historic(1, recorder(&seen))
        .await
        .unwrap();
    failing_loaded(&pm, "bad").expect("isolation: the replay's failure is an outcome");
    assert!(pm.is_registered("bad"));
    assert_eq!(
        *seen.lock().unwrap(),
        [("bad".to_owned(), "returned an error: no disk".to_owned())]
    );
}

#[tokio::test]
async fn under_fail_fast_a_failing_replay_fails_register_and_rolls_it_back() {
    let pm = HookManager::builder().spec::<Loaded>().build();
    let seen = Seen::default();
    pm.register("good", |r| r.sync_fn::<Loaded>(|x| Ok(Some(*x))).add())
        .unwrap();
    // The caller's fail-fast policy is the replays' too.
    pm.hook::<Loaded>()
        .fail_fast()
        .call_historic(1, recorder(&seen))
        .await
        .unwrap();
    let before = pm.plugins();
    let err = failing_loaded(&pm, "bad").unwrap_err();
    assert_eq!(
        err,
        RegisterError::ReplayFailed {
            plugin: "bad".into(),
            hook: "Loaded".into(),
            detail: "returned an error: no disk".into(),
        }
    );
    assert!(err.to_string().starts_with(
        "plugin `bad` was not registered: the replay of a stored call of historic hook `Loaded` failed under fail-fast: the impl returned an error: no disk"
    ), "{err}");
    // Rolled back: no trace of `bad`, also not in the other hook it registered.
    assert!(!pm.is_registered("bad"));
    assert_eq!(pm.plugins(), before);
    assert!(order(&pm).is_empty());
    assert_eq!(
        *seen.lock().unwrap(),
        [("good".to_owned(), "value 1".to_owned())],
        "the failed replay passes nothing to on_result"
    );
    // The name is free again; a plugin that succeeds is registered.
    pm.register("bad", |r| r.sync_fn::<Loaded>(|x| Ok(Some(x + 1))).add())
        .unwrap();
    assert_eq!(seen.lock().unwrap().last().unwrap().1, "value 2");
}

#[tokio::test]
async fn a_spec_that_fails_fast_makes_its_failing_replays_fail_register_unless_the_call_isolates() {
    let pm = HookManager::builder().spec::<StrictLoaded>().build();
    pm.hook::<StrictLoaded>()
        .call_historic(1, |_, _| {})
        .await
        .unwrap();
    let err = pm
        .register("bad", |r| {
            r.sync_fn::<StrictLoaded>(|_| panic!("boom")).add()
        })
        .unwrap_err();
    assert!(
        matches!(&err, RegisterError::ReplayFailed { detail, .. } if detail == "panicked: boom"),
        "{err:?}"
    );
    assert!(!pm.is_registered("bad"));

    // A call made with `isolate()` overrides the spec: its replay failures are outcomes.
    let pm = HookManager::builder().spec::<StrictLoaded>().build();
    let seen = Seen::default();
    pm.hook::<StrictLoaded>()
        .isolate()
        .call_historic(1, recorder(&seen))
        .await
        .unwrap();
    pm.register("bad", |r| {
        r.sync_fn::<StrictLoaded>(|_| panic!("boom")).add()
    })
    .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [("bad".to_owned(), "panicked: boom".to_owned())]
    );
}

#[tokio::test]
async fn under_fail_fast_earlier_stored_calls_reach_on_result_before_a_later_one_fails() {
    let pm = HookManager::builder().spec::<Loaded>().build();
    let seen = Seen::default();
    for n in [1, 2, 3] {
        pm.hook::<Loaded>()
            .fail_fast()
            .call_historic(n, recorder(&seen))
            .await
            .unwrap();
    }
    let err = pm
        .register("picky", |r| {
            r.sync_fn::<Loaded>(|&x| {
                if x == 2 {
                    Err(BoxError::from("two"))
                } else {
                    Ok(Some(x))
                }
            })
            .add()
        })
        .unwrap_err();
    assert!(matches!(err, RegisterError::ReplayFailed { .. }), "{err:?}");
    assert!(!pm.is_registered("picky"));
    // Call 1 reached the impl and its callback; call 2 failed; call 3 was not replayed.
    assert_eq!(
        *seen.lock().unwrap(),
        [("picky".to_owned(), "value 1".to_owned())]
    );
}

#[tokio::test(start_paused = true)]
async fn a_fail_fast_replay_that_fails_after_register_returned_goes_to_on_result_and_the_plugin_stays(
) {
    let pm = HookManager::builder().spec::<Loaded>().build();
    let seen = Seen::default();
    pm.hook::<Loaded>()
        .fail_fast()
        .call_historic(5, recorder(&seen))
        .await
        .unwrap();
    let handle = pm
        .register("slow", |r| {
            r.hook_fn::<Loaded>(|_| {
                async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Err(BoxError::from("too late"))
                }
                .boxed()
            })
            .add()
        })
        .expect("the replay went pending: register returns before it fails");
    assert!(seen.lock().unwrap().is_empty(), "still running");
    pm.flush().await;
    assert_eq!(
        *seen.lock().unwrap(),
        [("slow".to_owned(), "returned an error: too late".to_owned())]
    );
    assert!(
        pm.is_registered("slow"),
        "a late failure does not roll back"
    );
    assert!(pm.unregister(&handle));
}

// ----------------------------------------------------------------------------------------------
// 6. Looking plugins up by name, listing blocked names
// ----------------------------------------------------------------------------------------------

#[test]
fn a_plugin_is_found_by_name_and_blocked_names_are_listed() {
    let pm = HookManager::new();
    pm.register("auth", |r| {
        r.sync_fn::<Who>(|_| Ok(None)).priority(4).add()?;
        r.sync_fn::<Loaded>(|x| Ok(Some(*x))).add()
    })
    .unwrap();
    named(&pm, "other").unwrap();

    let info = pm.plugin("auth").expect("registered");
    assert_eq!(&*info.name, "auth");
    let hooks: Vec<(&str, i32)> = info
        .impls
        .iter()
        .map(|i| (&*i.hook, i.options.priority))
        .collect();
    assert_eq!(hooks, [("Loaded", 0), ("Who", 4)]);
    assert_eq!(
        Some(info),
        pm.plugins().into_iter().find(|p| &*p.name == "auth")
    );
    assert!(pm.plugin("nobody").is_none());

    pm.block("zeta");
    pm.block("auth");
    assert_eq!(pm.blocked(), ["auth", "zeta"]);
    assert!(pm.plugin("auth").is_none(), "blocking unregistered it");
    assert!(pm.unblock("zeta"));
    assert_eq!(pm.blocked(), ["auth"]);
}

#[cfg(feature = "plugins")]
#[test]
fn a_second_instance_of_a_plugin_type_is_added_to_a_hook_manager_under_its_own_name() {
    use hookwire::{Plugin, Registrar};
    struct Greeter(&'static str);
    impl Plugin for Greeter {
        fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
            let word = self.0;
            r.sync_fn::<Greet2>(move |who: &String| Ok(Some(format!("{word} {who}"))))
                .add()
        }
    }
    hookwire::hookspec! { pub struct Greet2(String) -> String; }

    let pm = HookManager::new();
    pm.add_plugin(Greeter("hello")).unwrap();
    let err = pm.add_plugin(Greeter("hi")).unwrap_err();
    assert!(matches!(err, RegisterError::DuplicatePlugin { .. }));
    assert!(
        err.to_string().contains("add_plugin_as(name, p)"),
        "the error says how to add a second instance: {err}"
    );
    pm.add_plugin_as("greeter-informal", Greeter("hi")).unwrap();
    let out = futures::executor::block_on(pm.hook::<Greet2>().call(&"bob".to_owned())).unwrap();
    let answers: Vec<(String, String)> = out
        .iter()
        .map(|(p, o)| (p.to_owned(), o.value().cloned().unwrap_or_default()))
        .collect();
    // LIFO: the instance registered last runs first.
    assert_eq!(
        answers,
        vec![
            ("greeter-informal".to_owned(), "hi bob".to_owned()),
            ("Greeter".to_owned(), "hello bob".to_owned()),
        ]
    );
}
