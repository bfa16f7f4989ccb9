//! Registration: names, blocking, unregistering, check_pending, late specs, and bad input that
//! gets a clear error and changes nothing.

use hookspecs::{Compute, OnConfigLoaded, OnStartup};
use hookwire::{hook::PluginImpls, spec::SpecInfo, FutureExt, HookManager, RegisterError};

fn snapshot(pm: &HookManager) -> (Vec<PluginImpls>, Vec<String>) {
    (pm.plugins(), pm.hook_names())
}

fn plus(pm: &HookManager, name: &str) {
    pm.register(name, |r| r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).add())
        .unwrap();
}

#[tokio::test]
async fn register_list_and_unregister_by_handle_and_name() {
    let pm = HookManager::builder().spec::<Compute>().build();
    let a = pm
        .register("a", |r| {
            r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).priority(3).add()
        })
        .unwrap();
    plus(&pm, "b");
    assert!(pm.is_registered("a") && pm.is_registered("b"));
    let plugins = pm.plugins();
    assert_eq!(
        plugins.iter().map(|p| &*p.name).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(&*plugins[0].impls[0].hook, "compute");
    assert_eq!(plugins[0].impls[0].options.priority, 3);

    assert!(pm.unregister(&a));
    assert!(!pm.unregister(&a), "a second unregister finds nothing");
    assert!(!pm.is_registered("a"));
    assert_eq!(pm.hook::<Compute>().call(&1).await.unwrap().len(), 1);
    assert!(pm.unregister_name("b"));
    assert!(!pm.unregister_name("b"));
    assert!(pm.hook::<Compute>().call(&1).await.unwrap().is_empty());
    // The name is free again.
    plus(&pm, "a");
}

#[test]
fn duplicate_name_is_an_error_and_changes_nothing() {
    let pm = HookManager::new();
    plus(&pm, "a");
    let before = snapshot(&pm);
    let err = pm
        .register("a", |r| r.sync_fn::<OnStartup>(|_| Ok(None)).add())
        .unwrap_err();
    assert_eq!(err, RegisterError::DuplicatePlugin { plugin: "a".into() });
    assert!(err.to_string().contains("plugin `a` is already registered"));
    assert_eq!(snapshot(&pm), before);
}

#[test]
fn blocked_names_cannot_register_until_unblocked() {
    let pm = HookManager::new();
    plus(&pm, "spam");
    pm.block("spam");
    assert!(!pm.is_registered("spam"), "blocking unregisters");
    assert!(pm.is_blocked("spam"));
    let before = snapshot(&pm);
    let err = pm
        .register("spam", |r| r.sync_fn::<Compute>(|_| Ok(None)).add())
        .unwrap_err();
    assert_eq!(
        err,
        RegisterError::Blocked {
            plugin: "spam".into()
        }
    );
    assert!(err.to_string().contains("unblock(\"spam\")"));
    assert_eq!(snapshot(&pm), before);
    assert!(pm.unblock("spam"));
    assert!(!pm.unblock("spam"));
    plus(&pm, "spam");
}

#[test]
fn ordering_cycle_is_an_error_naming_the_cycle() {
    let pm = HookManager::new();
    plus(&pm, "a");
    pm.register("b", |r| r.sync_fn::<Compute>(|_| Ok(None)).after("a").add())
        .unwrap();
    let before = snapshot(&pm);
    // c after b, and before a: a -> b -> c -> a.
    let err = pm
        .register("c", |r| {
            r.sync_fn::<Compute>(|_| Ok(None))
                .after("b")
                .before("a")
                .add()
        })
        .unwrap_err();
    let RegisterError::OrderingCycle { hook, cycle } = &err else {
        panic!("expected a cycle, got {err:?}")
    };
    assert_eq!(hook, "compute");
    assert_eq!(cycle.first(), cycle.last());
    let mut on_cycle = cycle[..cycle.len() - 1].to_vec();
    on_cycle.sort();
    assert_eq!(on_cycle, ["a", "b", "c"]);
    assert!(err.to_string().contains(&cycle.join(" -> ")));
    assert_eq!(snapshot(&pm), before);
}

#[test]
fn contradictory_options_are_rejected() {
    let pm = HookManager::new();
    let err = pm
        .register("x", |r| {
            r.sync_fn::<Compute>(|_| Ok(None))
                .tryfirst()
                .trylast()
                .add()
        })
        .unwrap_err();
    assert!(matches!(err, RegisterError::InvalidImpl { .. }));
    assert!(err.to_string().contains("tryfirst/trylast"));
    let err = pm
        .register("x", |r| {
            r.sync_fn::<Compute>(|_| Ok(None)).before("x").add()
        })
        .unwrap_err();
    assert!(err.to_string().contains("before or after itself"));
    assert!(pm.plugins().is_empty());
}

#[test]
fn a_failing_plugin_registers_none_of_its_impls() {
    let pm = HookManager::new();
    let before = snapshot(&pm);
    let err = pm
        .register("half", |r| {
            r.sync_fn::<Compute>(|_| Ok(None)).add()?;
            // Refused when the plugin is committed: a historic hook takes no wrapper.
            r.wrapper_fn::<OnConfigLoaded>(|_, next| async move { Ok(next.run().await) }.boxed())
                .add()
        })
        .unwrap_err();
    assert!(matches!(err, RegisterError::InvalidImpl { .. }), "{err:?}");
    assert_eq!(snapshot(&pm), before);
}

#[test]
fn check_pending_lists_impls_of_undeclared_hooks_unless_optional() {
    hookwire::hookspec! {
        pub struct Undeclared(u8) -> u8;
        pub struct AlsoUndeclared(u8) -> u8;
    }
    let pm = HookManager::builder().spec::<Compute>().build();
    plus(&pm, "fine");
    assert!(pm.check_pending().is_ok());
    pm.register("eager", |r| {
        r.sync_fn::<Undeclared>(|x| Ok(Some(*x))).add()?;
        r.sync_fn::<AlsoUndeclared>(|x| Ok(Some(*x)))
            .optional()
            .add()
    })
    .unwrap();
    pm.register("json", |r| r.json_fn("not.declared", |_| Ok(None)).add())
        .unwrap();
    let err = pm.check_pending().unwrap_err();
    assert_eq!(
        err.pending,
        [
            ("eager".to_owned(), "Undeclared".to_owned()),
            ("json".to_owned(), "not.declared".to_owned())
        ]
    );
    assert!(err.to_string().contains("`Undeclared` in plugin `eager`"));
    // Declaring the specs later validates and resolves them.
    pm.add_spec::<Undeclared>().unwrap();
    pm.add_dynamic_spec(SpecInfo::json("not.declared")).unwrap();
    assert!(pm.check_pending().is_ok());
}

#[test]
fn specs_added_after_impls_are_validated_then() {
    mod v1 {
        hookwire::hookspec! {
            #[name = "shared.name"]
            pub struct Hook(u64) -> u64;
        }
    }
    mod v2 {
        hookwire::hookspec! {
            #[name = "shared.name"]
            pub struct Hook(String) -> String;
        }
    }
    let pm = HookManager::new();
    pm.register("old", |r| r.sync_fn::<v1::Hook>(|x| Ok(Some(*x))).add())
        .unwrap();
    let before = snapshot(&pm);
    let err = pm.add_spec::<v2::Hook>().unwrap_err();
    assert!(matches!(err, RegisterError::SpecMismatch { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("shared.name") && msg.contains("`old`"),
        "{msg}"
    );
    assert_eq!(snapshot(&pm), before);
    // An impl of the other type is refused too, naming the plugin.
    let err = pm
        .register("new", |r| {
            r.sync_fn::<v2::Hook>(|s| Ok(Some(s.clone()))).add()
        })
        .unwrap_err();
    assert!(err.to_string().contains("plugin `new`"), "{err}");
    assert_eq!(snapshot(&pm), before);
    // The matching spec is accepted.
    pm.add_spec::<v1::Hook>().unwrap();
    assert!(pm.check_pending().is_ok());
}

#[test]
fn spec_rules_are_checked_when_declared() {
    hookwire::hookspec! {
        #[historic]
        #[firstresult]
        pub struct Both(u8) -> u8;
    }
    let pm = HookManager::new();
    let err = pm.add_spec::<Both>().unwrap_err();
    assert!(
        err.to_string()
            .contains("historic hook cannot be first-result"),
        "{err}"
    );
    let err = pm
        .register("x", |r| r.sync_fn::<Both>(|_| Ok(None)).add())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("historic hook cannot be first-result"),
        "{err}"
    );
    assert!(pm.plugins().is_empty());

    // Declaring a dynamic hook again with other options is an error, not silently ignored.
    pm.add_dynamic_spec(SpecInfo::json("evt")).unwrap();
    pm.add_dynamic_spec(SpecInfo::json("evt")).unwrap();
    let err = pm
        .add_dynamic_spec(SpecInfo::json("evt").firstresult())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("already declared with other options"),
        "{err}"
    );
}

#[test]
fn policies_on_wrappers_are_rejected() {
    let pm = HookManager::new();
    let err = pm
        .register("w", |r| {
            r.wrapper_fn::<Compute>(|_, next| {
                use hookwire::FutureExt;
                async move { Ok(next.run().await) }.boxed()
            })
            .timeout(std::time::Duration::from_secs(1))
            .add()
        })
        .unwrap_err();
    assert!(matches!(err, RegisterError::InvalidImpl { .. }));
    assert!(err.to_string().contains("not to wrappers"), "{err}");
}

#[test]
fn cycles_among_json_impls_of_undeclared_hooks_fail_at_registration() {
    let pm = HookManager::new();
    pm.register("a", |r| r.json_fn("x", |_| Ok(None)).add())
        .unwrap();
    pm.register("b", |r| r.json_fn("x", |_| Ok(None)).before("a").add())
        .unwrap();
    pm.unregister_name("a");
    let err = pm
        .register("a", |r| r.json_fn("x", |_| Ok(None)).before("b").add())
        .unwrap_err();
    assert!(matches!(err, RegisterError::OrderingCycle { .. }), "{err}");
}

#[tokio::test]
async fn calling_a_hook_declares_it_even_when_an_impl_named_it_first() {
    let pm = HookManager::new();
    plus(&pm, "typed");
    assert!(pm.check_pending().is_err());
    pm.hook::<Compute>().call(&1).await.unwrap();
    assert!(pm.check_pending().is_ok());
}
