//! Call monitors (pluggy's hookcall monitoring).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookspecs::Compute;
use hookwire::{
    monitor::CallInfo, monitor::HookMonitor, monitor::ImplReport, outcome::OutcomeKind, HookManager,
};

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
}

impl HookMonitor for Recorder {
    fn before_call(&self, call: &CallInfo<'_>) {
        let arg = call.args.downcast_ref::<u64>().copied();
        self.seen
            .lock()
            .unwrap()
            .push(format!("before {} {:?} {:?}", call.hook, call.plugins, arg));
    }
    fn after_call(&self, call: &CallInfo<'_>, results: &[ImplReport], _elapsed: Duration) {
        let r: Vec<String> = results
            .iter()
            .map(|r| {
                format!(
                    "{}={}{}",
                    r.plugin,
                    r.kind,
                    r.error
                        .as_deref()
                        .map(|e| format!("({e})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        self.seen
            .lock()
            .unwrap()
            .push(format!("after {} {}", call.hook, r.join(",")));
    }
}

#[tokio::test]
async fn monitors_see_every_call_and_outcome_until_removed() {
    let pm = HookManager::new();
    pm.register("a", |r| r.sync_fn::<Compute>(|x| Ok(Some(*x))).add())
        .unwrap();
    pm.register("b", |r| {
        r.sync_fn::<Compute>(|_| panic!("bad")).trylast().add()
    })
    .unwrap();
    let rec = Arc::new(Recorder::default());
    let handle = pm.add_monitor(rec.clone());
    pm.hook::<Compute>().call(&5).await.unwrap();
    assert_eq!(
        *rec.seen.lock().unwrap(),
        [
            "before compute [\"a\", \"b\"] Some(5)".to_owned(),
            "after compute a=value,b=panic(panicked: bad)".to_owned()
        ]
    );
    assert_eq!(OutcomeKind::Panic.to_string(), "panic");
    assert!(pm.remove_monitor(&handle));
    assert!(!pm.remove_monitor(&handle));
    pm.hook::<Compute>().call(&5).await.unwrap();
    assert_eq!(rec.seen.lock().unwrap().len(), 2);
}

mod cancelled_calls {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use hookspecs::Compute;
    use hookwire::{
        monitor::CallInfo, monitor::HookMonitor, monitor::ImplReport, outcome::OutcomeKind,
        FutureExt, HookManager,
    };

    #[derive(Default)]
    struct Pairs {
        before: AtomicUsize,
        after: Mutex<Vec<Vec<(String, OutcomeKind)>>>,
    }

    impl HookMonitor for Pairs {
        fn before_call(&self, _: &CallInfo<'_>) {
            self.before.fetch_add(1, Ordering::SeqCst);
        }
        fn after_call(&self, _: &CallInfo<'_>, results: &[ImplReport], _: Duration) {
            let r = results
                .iter()
                .map(|r| (r.plugin.to_string(), r.kind))
                .collect();
            self.after.lock().unwrap().push(r);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_monitor_hears_of_a_call_dropped_part_way() {
        let pm = HookManager::new();
        pm.register("stuck", |r| {
            r.hook_fn::<Compute>(|_| std::future::pending().boxed())
                .add()
        })
        .unwrap();
        let m = Arc::new(Pairs::default());
        pm.add_monitor(m.clone());
        let hook = pm.hook::<Compute>();
        let r = tokio::time::timeout(Duration::from_millis(10), hook.call(&1)).await;
        assert!(r.is_err());
        assert_eq!(m.before.load(Ordering::SeqCst), 1);
        assert_eq!(
            *m.after.lock().unwrap(),
            [vec![("stuck".to_owned(), OutcomeKind::Cancelled)]]
        );
    }
}
