//! A plugin manager's simpler start: long dependency chains drop without recursion (on a
//! tokio worker's 2 MiB stack), and two instances of one plugin type can be added under names
//! of their own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookwire::{
    async_trait, error::PluginError, plugin::PluginState, BoxError, Plugin, PluginContext,
    PluginHost, PluginMeta, RegisterError, Registrar,
};

hookwire::hookspec! {
    pub struct Top(()) -> usize;
}

/// The stack of a tokio worker thread by default.
const WORKER_STACK: usize = 2 * 1024 * 1024;

/// Plugins in a chain: `link i` requires `link i-1`; the first one requires nothing. The last
/// one implements [`Top`], so a call reaches the whole chain when they are lazy. Names and the
/// order they are added in are those of the chain: lists of plugins in name or added order
/// release dependencies before their dependents (the order that made drops recurse).
struct Link {
    i: usize,
    n: usize,
    starts: Arc<AtomicUsize>,
}

fn link_name(i: usize) -> String {
    format!("link-{i:06}")
}

#[async_trait]
impl Plugin for Link {
    fn meta(&self) -> PluginMeta {
        let meta = PluginMeta::new(link_name(self.i), "1.0.0");
        if self.i > 0 {
            meta.requires(link_name(self.i - 1), "^1")
        } else {
            meta
        }
    }

    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        if self.i + 1 == self.n {
            let n = self.n;
            r.sync_fn::<Top>(move |()| Ok(Some(n))).add()?;
        }
        Ok(())
    }

    async fn start(&self, _: &PluginContext) -> Result<(), BoxError> {
        self.starts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// What to do with a manager holding a chain before it is dropped.
#[derive(Clone, Copy, Debug)]
enum End {
    /// Dropped without `start`.
    DropUnstarted,
    /// Started, then dropped.
    DropStarted,
    /// Started, then `shutdown`, then dropped.
    Shutdown,
}

/// Builds a chain of `n` plugins (lazy ones called once through the top of the chain), ends it
/// as `end`, all on a thread with a tokio worker's stack; returns how many plugins started.
fn chain_on_a_worker_stack(n: usize, lazy: bool, end: End) -> usize {
    std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let starts = Arc::new(AtomicUsize::new(0));
            rt.block_on(async {
                let pm = PluginHost::new();
                for i in 0..n {
                    let link = Link {
                        i,
                        n,
                        starts: starts.clone(),
                    };
                    if lazy {
                        pm.add_lazy(link).unwrap();
                    } else {
                        pm.add(link).unwrap();
                    }
                }
                if let End::DropUnstarted = end {
                    drop(pm);
                    return;
                }
                let report = pm.start().await.unwrap();
                assert!(report.failed.is_empty(), "{:?}", report.failed);
                assert_eq!(report.start_order.len(), n);
                if lazy {
                    let out = pm.hook::<Top>().call(&()).await.unwrap();
                    assert_eq!(out.into_value(), Some(n));
                }
                assert_eq!(pm.state(&link_name(0)), Some(PluginState::Started));
                if let End::Shutdown = end {
                    let stopped = pm.shutdown(Duration::from_secs(5)).await;
                    assert_eq!(stopped.plugins.len(), n);
                    assert!(stopped.is_clean());
                    // Dependents stop before their dependencies.
                    assert_eq!(stopped.plugins[0].plugin, link_name(n - 1));
                    assert_eq!(stopped.plugins[n - 1].plugin, link_name(0));
                }
                drop(pm);
            });
            drop(rt);
            starts.load(Ordering::Relaxed)
        })
        .unwrap()
        .join()
        .expect("the thread holding the manager overflowed its stack or panicked")
}

const CHAIN: usize = 100_000;

#[test]
fn a_manager_holding_a_long_chain_drops_on_a_worker_stack_without_starting() {
    assert_eq!(chain_on_a_worker_stack(CHAIN, false, End::DropUnstarted), 0);
}

#[test]
fn a_started_manager_holding_a_long_chain_drops_on_a_worker_stack() {
    assert_eq!(
        chain_on_a_worker_stack(CHAIN, false, End::DropStarted),
        CHAIN
    );
}

#[test]
fn a_long_chain_shuts_down_on_a_worker_stack() {
    assert_eq!(chain_on_a_worker_stack(CHAIN, false, End::Shutdown), CHAIN);
}

#[test]
fn a_long_lazy_chain_started_by_a_call_drops_on_a_worker_stack() {
    assert_eq!(
        chain_on_a_worker_stack(CHAIN, true, End::DropStarted),
        CHAIN
    );
}

#[test]
fn a_long_lazy_chain_started_by_a_call_shuts_down_on_a_worker_stack() {
    assert_eq!(chain_on_a_worker_stack(CHAIN, true, End::Shutdown), CHAIN);
}

hookwire::hookspec! {
    pub struct Which(()) -> String;
}

/// One plugin type, added more than once: each instance answers with the name it was given.
struct Echo;

#[async_trait]
impl Plugin for Echo {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("echo", "1.0.0")
    }

    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Which>(|()| Ok(Some("echo".to_owned()))).add()
    }

    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        // The context knows the instance by the name it was added under.
        assert!(ctx.name().starts_with("echo"));
        Ok(())
    }
}

/// Requires the second instance by its name.
struct UsesSecond;

#[async_trait]
impl Plugin for UsesSecond {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("uses-second", "1.0.0").requires("echo-2", "^1")
    }

    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_second_instance_of_a_plugin_type_is_added_under_a_name_of_its_own() {
    let pm = PluginHost::new();
    pm.add(Echo).unwrap();
    let err = pm.add(Echo).unwrap_err();
    assert!(matches!(&err, PluginError::Duplicate { plugin } if plugin == "echo"));
    // The error says how to add a second instance.
    assert!(
        err.to_string()
            .contains("PluginHost::add_as(\"echo-2\", plugin)"),
        "{err}"
    );
    pm.add_as("echo-2", Echo).unwrap();
    pm.add_lazy_as("echo-3", Echo).unwrap();
    pm.add(UsesSecond).unwrap();
    // A name given to an instance is unique like any other.
    assert!(matches!(
        pm.add_as("echo-2", Echo),
        Err(PluginError::Duplicate { plugin }) if plugin == "echo-2"
    ));

    let report = pm.start().await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.start_order,
        ["echo", "echo-2", "echo-3", "uses-second"]
    );
    assert_eq!(report.started, ["echo", "echo-2", "uses-second"]);
    assert_eq!(report.lazy, ["echo-3"]);

    let plugins = pm.plugins();
    let mut names: Vec<&str> = plugins.iter().map(|p| p.meta.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["echo", "echo-2", "echo-3", "uses-second"]);

    // Each instance's impl runs, reported under the instance's name (LIFO: the last added
    // first); the lazy one starts on this call.
    let out = pm.hook::<Which>().call(&()).await.unwrap();
    let by: Vec<&str> = out.iter().map(|(plugin, _)| plugin).collect();
    assert_eq!(by, ["echo-3", "echo-2", "echo"]);
    assert_eq!(pm.state("echo-3"), Some(PluginState::Started));

    // The second instance can be removed on its own, once its dependent is gone.
    assert!(matches!(
        pm.remove("echo-2", Duration::from_secs(1)).await,
        Err(PluginError::Required { .. })
    ));
    pm.remove("uses-second", Duration::from_secs(1))
        .await
        .unwrap();
    pm.remove("echo-2", Duration::from_secs(1)).await.unwrap();
    assert_eq!(pm.state("echo"), Some(PluginState::Started));
    let out = pm.hook::<Which>().call(&()).await.unwrap();
    let by: Vec<&str> = out.iter().map(|(plugin, _)| plugin).collect();
    assert_eq!(by, ["echo-3", "echo"]);
}
