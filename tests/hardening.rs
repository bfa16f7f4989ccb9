//! Holes an independent review of the core's hardening found: registration outside a runtime,
//! deadline cuts whose drop panics, foreign `ImplId`s, unbounded panic logs, empty names.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use hookwire::{
    FutureExt, HookManager, ImplOutcome, ImplId, Plugin, PluginError, PluginHost,
    RegisterError, Registrar,
};
use tracing_subscriber::layer::SubscriberExt;

hookwire::hookspec! {
    pub struct Who(()) -> String;
    #[historic]
    pub struct Loaded(u32) -> u32;
    #[firstresult]
    pub struct First(u64) -> u64;
}

/// A future whose `Drop` panics with a message of `len` bytes.
struct Bomb<'a, T>(BoxFuture<'a, T>, usize);

impl<T> Future for Bomb<'_, T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.0.as_mut().poll(cx)
    }
}

impl<T> Drop for Bomb<'_, T> {
    fn drop(&mut self) {
        panic!("{}", "x".repeat(self.1));
    }
}

#[test]
fn register_outside_a_runtime_finishes_a_pending_replay_under_a_deadline() {
    let pm = HookManager::new();
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = got.clone();
    futures::executor::block_on(
        pm.hook::<Loaded>()
            .deadline(Duration::from_millis(20))
            .call_historic(7, move |plugin, o| {
                sink.lock()
                    .unwrap()
                    .push((plugin.to_owned(), o.kind().to_string()));
            }),
    )
    .unwrap();
    // The replay waits forever: only the deadline's timer can end it.
    pm.register("late", |r| {
        r.hook_fn::<Loaded>(|_| futures::future::pending().boxed())
            .add()
    })
    .expect("register succeeds outside a runtime");
    assert!(pm.is_registered("late"));
    assert_eq!(
        *got.lock().unwrap(),
        [("late".to_owned(), "timed out".to_owned())]
    );
}

#[test]
fn register_outside_a_runtime_finishes_a_pending_replay_with_a_timeout() {
    let pm = HookManager::new();
    let got: Arc<Mutex<Vec<Option<u32>>>> = Arc::default();
    let sink = got.clone();
    futures::executor::block_on(pm.hook::<Loaded>().call_historic(7, move |_, o| {
        sink.lock().unwrap().push(o.value().copied());
    }))
    .unwrap();
    pm.register("late", |r| {
        r.hook_fn::<Loaded>(|x| {
            let x = *x;
            async move {
                tokio::task::yield_now().await;
                Ok(Some(x + 1))
            }
            .boxed()
        })
        .timeout(Duration::from_secs(5))
        .add()
    })
    .expect("register succeeds outside a runtime");
    assert_eq!(*got.lock().unwrap(), [Some(8)]);
}

#[tokio::test(start_paused = true)]
async fn an_impl_cut_off_by_the_deadline_whose_drop_panics_still_says_deadline() {
    let pm = HookManager::new();
    pm.register("bomb", |r| {
        r.hook_fn::<First>(|_| {
            Bomb(
                async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    Ok(Some(1))
                }
                .boxed(),
                3,
            )
            .boxed()
        })
        .add()
    })
    .unwrap();
    let out = pm
        .hook::<First>()
        .deadline(Duration::from_secs(1))
        .call(&0)
        .await
        .unwrap();
    assert!(out.deadline_exceeded(), "{out:?}");
    let failure = out.get("bomb").and_then(ImplOutcome::failure).unwrap();
    assert!(failure.to_string().contains("deadline"), "{failure}");
}

#[tokio::test]
async fn an_impl_ref_kept_from_another_hooks_call_is_refused_even_in_range() {
    let a = HookManager::new();
    let kept: Arc<Mutex<Option<ImplId>>> = Arc::default();
    for name in ["wa", "wb"] {
        let kept = kept.clone();
        a.register(name, move |r| {
            r.wrapper_fn::<Who>(move |_, next| {
                *kept.lock().unwrap() = Some(next.me());
                async move { Ok(next.run().await) }.boxed()
            })
            .add()
        })
        .unwrap();
    }
    a.hook::<Who>().call(&()).await.unwrap();
    let foreign = kept.lock().unwrap().expect("a wrapper ran");

    let b = HookManager::new();
    b.register("x", |r| r.sync_fn::<First>(|_| Err("x down".into())).add())
        .unwrap();
    b.register("innocent", |r| r.sync_fn::<First>(|_| Ok(None)).add())
        .unwrap();
    b.register("y", move |r| {
        r.wrapper_fn::<First>(move |_, next| {
            async move {
                let mut out = next.run().await;
                out.recover("x", foreign, 99);
                Ok(out)
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let out = b.hook::<First>().call(&0).await.unwrap();
    // The foreign reference is the wrapper's mistake: its failure, nobody else's answer.
    let names: Vec<&str> = out.iter().map(|(p, _)| p).collect();
    assert_eq!(names, ["y"], "{out:?}");
    assert!(out.get("y").unwrap().failure().unwrap().is_panic());
}

/// The longest field value of any event.
#[derive(Clone, Default)]
struct LongestField(Arc<Mutex<usize>>);

struct Measure<'a>(&'a mut usize);

impl tracing::field::Visit for Measure<'_> {
    fn record_debug(&mut self, _: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        *self.0 = (*self.0).max(format!("{v:?}").len());
    }
    fn record_str(&mut self, _: &tracing::field::Field, v: &str) {
        *self.0 = (*self.0).max(v.len());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LongestField {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        e.record(&mut Measure(&mut self.0.lock().unwrap()));
    }
}

#[tokio::test(start_paused = true)]
async fn a_huge_panic_in_a_dropped_calls_impl_is_logged_bounded() {
    let longest = LongestField::default();
    let _g = tracing::subscriber::set_default(tracing_subscriber::registry().with(longest.clone()));
    let pm = HookManager::new();
    pm.register("bomb", |r| {
        r.hook_fn::<First>(|_| {
            Bomb(
                async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    Ok(Some(1))
                }
                .boxed(),
                1 << 20,
            )
            .boxed()
        })
        .add()
    })
    .unwrap();
    let cut = tokio::time::timeout(Duration::from_secs(1), pm.hook::<First>().call(&0)).await;
    assert!(cut.is_err());
    let n = *longest.0.lock().unwrap();
    assert!(n > 200, "the panic was logged: {n} bytes");
    assert!(n < 400, "a 1 MiB panic message was logged whole: {n} bytes");
}

struct Greeter;

impl Plugin for Greeter {
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Who>(|_| Ok(Some("g".into()))).add()
    }
}

#[test]
fn an_empty_plugin_name_is_refused_everywhere() {
    let pm = HookManager::new();
    let e = pm.register("", |_| Ok(())).unwrap_err();
    assert_eq!(e, RegisterError::EmptyName);
    assert!(e.to_string().contains("must not be empty"), "{e}");
    assert!(matches!(
        pm.add_plugin_as("", Greeter),
        Err(RegisterError::EmptyName)
    ));
    assert!(pm.plugins().is_empty());

    let host = PluginHost::new();
    let e = host.add_as("", Greeter).unwrap_err();
    assert!(matches!(e, PluginError::EmptyName), "{e:?}");
    assert!(host.plugins().is_empty());
}
