//! The dynamic layer: string-named hooks with JSON values, and typed serde specs reached by name.

use hookspecs::{AuthRequest, Authenticate, Compute, Principal};
use hookwire::{
    error::JsonMismatch, spec::SpecInfo, CallError, FutureExt, HookManager, RegisterError,
};
use serde_json::{json, Value};

#[tokio::test]
async fn dynamic_hooks_take_and_return_json() {
    let pm = HookManager::builder()
        .dynamic_spec(SpecInfo::json("user.login"))
        .build();
    pm.register("audit", |r| {
        r.json_fn("user.login", |v| Ok(Some(json!({"audited": v["user"]}))))
            .add()
    })
    .unwrap();
    pm.register("greeter", |r| {
        r.json_async_fn("user.login", |v| {
            async move {
                Ok(Some(json!(format!(
                    "hello {}",
                    v["user"].as_str().unwrap_or("?")
                ))))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let out = pm
        .call_json("user.login", json!({"user": "bob"}))
        .await
        .unwrap();
    assert_eq!(
        out.answers().collect::<Vec<_>>(),
        [
            ("greeter", &json!("hello bob")),
            ("audit", &json!({"audited": "bob"}))
        ]
    );
}

#[tokio::test]
async fn unknown_hook_names_the_hook_and_lists_known_ones() {
    let pm = HookManager::builder()
        .dynamic_spec(SpecInfo::json("user.login"))
        .json_spec::<Authenticate>()
        .build();
    let err = pm.call_json("user.logout", json!({})).await.unwrap_err();
    assert!(matches!(err, CallError::UnknownHook { .. }));
    assert_eq!(
        err.to_string(),
        "unknown hook `user.logout`: no spec with this name was added (known hooks: authenticate, user.login)"
    );
}

#[tokio::test]
async fn typed_serde_specs_are_reachable_by_name() {
    let pm = HookManager::builder().json_spec::<Authenticate>().build();
    pm.register("token", |r| {
        r.sync_fn::<Authenticate>(|req| {
            Ok((req.token == "secret").then(|| Principal {
                user: "alice".into(),
                roles: vec!["admin".into()],
            }))
        })
        .add()
    })
    .unwrap();
    let out = pm
        .call_json("authenticate", json!({"token": "secret"}))
        .await
        .unwrap();
    assert_eq!(
        out.into_value(),
        Some(json!({"user": "alice", "roles": ["admin"]}))
    );

    // Malformed arguments: an error naming the hook; nothing ran, nothing changed.
    let err = pm
        .call_json("authenticate", json!({"tok": 1}))
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::BadArgs { .. }));
    assert!(
        err.to_string()
            .starts_with("malformed JSON arguments for hook `authenticate`: missing field `token`"),
        "{err}"
    );
    assert!(pm.is_registered("token"));
    // Inside the arguments, the error says where (as for a plugin's `host/call`).
    let err = pm
        .call_json("authenticate", json!({"token": 5}))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed JSON arguments for hook `authenticate`: $.token: invalid type: integer `5`, expected a string"
    );
}

#[tokio::test]
async fn json_impls_of_typed_specs_and_their_malformed_answers() {
    let pm = HookManager::builder().json_spec::<Authenticate>().build();
    pm.register("typed", |r| {
        r.sync_fn::<Authenticate>(|_| Ok(None)).trylast().add()
    })
    .unwrap();
    pm.register("garbage", |r| {
        r.json_fn("authenticate", |_| Ok(Some(json!({"user": 42}))))
            .add()
    })
    .unwrap();
    pm.register("remote", |r| {
        r.json_fn("authenticate", |v: &Value| {
            Ok((v["token"] == "secret").then(|| json!({"user": "carol", "roles": []})))
        })
        .tryfirst()
        .add()
    })
    .unwrap();

    // Typed call: the JSON impl's answer is decoded into a Principal.
    let who = pm
        .hook::<Authenticate>()
        .call(&AuthRequest {
            token: "secret".into(),
        })
        .await
        .unwrap()
        .into_value();
    assert_eq!(
        who,
        Some(Principal {
            user: "carol".into(),
            roles: vec![]
        })
    );

    // Garbage from a plugin is an error outcome naming it; the call goes on.
    let out = pm
        .hook::<Authenticate>()
        .call(&AuthRequest {
            token: "other".into(),
        })
        .await
        .unwrap();
    let kinds: Vec<(&str, String)> = out.iter().map(|(p, o)| (p, o.kind().to_string())).collect();
    assert_eq!(
        kinds,
        [
            ("remote", "no answer".into()),
            ("garbage", "error".into()),
            ("typed", "no answer".into())
        ]
    );
    let (plugin, failure) = out.errors().next().unwrap();
    assert_eq!(plugin, "garbage");
    let mismatch = failure
        .as_error()
        .unwrap()
        .downcast_ref::<JsonMismatch>()
        .unwrap();
    assert_eq!(mismatch.hook, "authenticate");
    assert!(
        mismatch
            .detail
            .contains("invalid type: integer `42`, expected a string"),
        "{}",
        mismatch.detail
    );
}

#[test]
fn json_impl_for_a_non_json_spec_is_refused_with_a_hint() {
    let pm = HookManager::builder().spec::<Compute>().build();
    let err = pm
        .register("js", |r| r.json_fn("compute", |_| Ok(None)).add())
        .unwrap_err();
    assert!(matches!(err, RegisterError::SpecMismatch { .. }));
    assert!(
        err.to_string()
            .contains("add it with `json_spec::<hookspecs::Compute>()`"),
        "{err}"
    );
    assert!(pm.plugins().is_empty());
    // ...and accepted once the spec is declared JSON-capable.
    pm.add_json_spec::<Compute>().unwrap();
    pm.register("js", |r| {
        r.json_fn("compute", |v| Ok(Some(json!(v.as_u64().unwrap() * 3))))
            .add()
    })
    .unwrap();
}

#[tokio::test]
async fn pending_json_impls_are_adapted_when_the_spec_arrives() {
    let pm = HookManager::new();
    pm.register("early", |r| {
        r.json_fn("compute", |v| Ok(Some(json!(v.as_u64().unwrap() + 1))))
            .add()
    })
    .unwrap();
    assert!(pm.check_pending().is_err());
    pm.add_json_spec::<Compute>().unwrap();
    let out = pm.hook::<Compute>().call(&41).await.unwrap();
    assert_eq!(out.into_values(), [42]);
    assert_eq!(
        pm.call_json("compute", json!(1))
            .await
            .unwrap()
            .into_values(),
        [json!(2)]
    );
}

#[tokio::test]
async fn json_and_typed_impls_wait_for_the_spec_in_either_order() {
    for json_first in [true, false] {
        let pm = HookManager::new();
        let json = |pm: &HookManager| {
            pm.register("js", |r| {
                r.json_fn("compute", |v| Ok(Some(json!(v.as_u64().unwrap() * 10))))
                    .add()
            })
            .unwrap()
        };
        let typed = |pm: &HookManager| {
            pm.register("typed", |r| r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).add())
                .unwrap()
        };
        if json_first {
            json(&pm);
            typed(&pm);
        } else {
            typed(&pm);
            json(&pm);
        }
        // Undeclared: the JSON impl is pending, the typed one is callable.
        let err = pm.check_pending().unwrap_err();
        assert!(err
            .pending
            .contains(&("js".to_owned(), "compute".to_owned())));
        pm.add_json_spec::<Compute>().unwrap();
        let mut values = pm.hook::<Compute>().call(&2).await.unwrap().into_values();
        values.sort();
        assert_eq!(values, [3, 20]);
        assert!(pm.check_pending().is_ok());
    }
}

mod review_fixes {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use hookwire::{
        monitor::CallInfo, monitor::HookMonitor, monitor::ImplReport, spec::SpecInfo, CallError,
        FutureExt, HookManager,
    };
    use serde_json::json;

    hookwire::hookspec! {
        pub struct Plain(u32) -> u32;
        #[historic]
        pub struct Hist(u32) -> u32;
        pub struct Slow(()) -> u32;
    }

    /// Logs every call a monitor sees: hook, impls and how long it took.
    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl HookMonitor for Log {
        fn before_call(&self, c: &CallInfo<'_>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("before {} {:?}", c.hook, c.plugins));
        }
        fn after_call(&self, c: &CallInfo<'_>, r: &[ImplReport], e: Duration) {
            let plugins: Vec<String> = r.iter().map(|r| r.plugin.to_string()).collect();
            self.0
                .lock()
                .unwrap()
                .push(format!("after {} {plugins:?} {e:?}", c.hook));
        }
    }

    #[tokio::test]
    async fn monitors_see_historic_replays() {
        let pm = HookManager::builder().spec::<Hist>().build();
        let log = Arc::new(Log::default());
        pm.add_monitor(log.clone());
        pm.register("early", |r| r.sync_fn::<Hist>(|x| Ok(Some(*x))).add())
            .unwrap();
        pm.hook::<Hist>().call_historic(1, |_, _| {}).await.unwrap();
        pm.register("late", |r| r.sync_fn::<Hist>(|x| Ok(Some(*x))).add())
            .unwrap();
        pm.flush().await;
        let entries = log.0.lock().unwrap().clone();
        assert_eq!(entries.len(), 4, "{entries:?}");
        assert_eq!(entries[2], r#"before Hist ["late"]"#);
        assert!(
            entries[3].starts_with(r#"after Hist ["late"]"#),
            "{entries:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn monitors_time_calls_on_tokios_clock() {
        let pm = HookManager::builder().spec::<Slow>().build();
        let log = Arc::new(Log::default());
        pm.add_monitor(log.clone());
        pm.register("s", |r| {
            r.hook_fn::<Slow>(|_| {
                async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(Some(1))
                }
                .boxed()
            })
            .add()
        })
        .unwrap();
        pm.hook::<Slow>().call(&()).await.unwrap();
        let entries = log.0.lock().unwrap().clone();
        assert_eq!(entries[1], r#"after Slow ["s"] 5s"#);
    }

    #[tokio::test]
    async fn a_typed_spec_not_reachable_from_json_says_how_to_make_it_so() {
        let pm = HookManager::builder().spec::<Plain>().build();
        let err = pm.call_json("Plain", json!(1)).await.unwrap_err();
        assert!(matches!(err, CallError::Unavailable { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("json_spec::<"), "{msg}");
        assert!(msg.contains("Plain"), "{msg}");
    }

    #[tokio::test]
    async fn a_historic_hook_called_from_json_says_it_cannot_be() {
        let pm = HookManager::builder().json_spec::<Hist>().build();
        let err = pm.call_json("Hist", json!(1)).await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("cannot be called from JSON"), "{msg}");
    }

    #[tokio::test]
    async fn the_dynamic_spec_type_is_not_a_typed_hook() {
        let pm = HookManager::builder()
            .dynamic_spec(SpecInfo::json("user.login"))
            .build();
        let err = pm
            .hook::<hookwire::spec::DynamicHook>()
            .call(&json!(1))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("call_json"), "{err}");
        let err = pm
            .register("p", |r| {
                r.sync_fn::<hookwire::spec::DynamicHook>(|v| Ok(Some(v.clone())))
                    .add()
            })
            .unwrap_err();
        assert!(err.to_string().contains("json_fn"), "{err}");
        // Called by name, it works.
        pm.register("q", |r| {
            r.json_fn("user.login", |v| Ok(Some(v.clone()))).add()
        })
        .unwrap();
        let out = pm.call_json("user.login", json!(7)).await.unwrap();
        assert_eq!(out.into_values(), [json!(7)]);
    }
}

mod review6_fixes {
    use hookwire::{CallError, HookManager};
    use serde_json::json;

    /// Serialises every value but 13.
    #[derive(Debug, Clone, serde::Deserialize)]
    pub struct Picky(pub u32);

    impl serde::Serialize for Picky {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0 == 13 {
                Err(serde::ser::Error::custom("unlucky"))
            } else {
                s.serialize_u32(self.0)
            }
        }
    }

    hookwire::hookspec! {
        #[fail_fast]
        #[name = "strict_json"]
        pub struct StrictJson(u32) -> Picky;
    }

    #[tokio::test]
    async fn under_fail_fast_an_answer_json_cannot_encode_fails_the_json_call() {
        let pm = HookManager::builder().json_spec::<StrictJson>().build();
        pm.register("bad", |r| {
            r.sync_fn::<StrictJson>(|_| Ok(Some(Picky(13)))).add()
        })
        .unwrap();
        pm.register("good", |r| {
            r.sync_fn::<StrictJson>(|_| Ok(Some(Picky(1))))
                .trylast()
                .add()
        })
        .unwrap();
        match pm.call_json("strict_json", json!(0)).await {
            Err(CallError::ImplFailed { plugin, .. }) => assert_eq!(&*plugin, "bad"),
            other => panic!("expected the encoding failure of `bad`, got {other:?}"),
        }
    }
}
