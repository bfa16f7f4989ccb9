//! Call monitors (pluggy's hookcall monitoring).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookspecs::Compute;
use hookwire::{CallInfo, HookManager, HookMonitor, ImplReport, OutcomeKind};

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
