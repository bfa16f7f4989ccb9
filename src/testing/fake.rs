//! Scripted fakes: [`Reply`], [`Script`], [`Step`], [`FakePlugin`], [`Journal`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::{
    async_trait, plugin::Health, BoxError, HookReturn, HookSpec, Plugin, PluginContext, PluginMeta,
    RegisterError, Registrar,
};

/// One scripted reply of a fake impl.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Reply<T> {
    /// `Ok(Some(value))`.
    Answer(T),
    /// `Ok(None)`.
    NoAnswer,
    /// `Err` with this message.
    Error(String),
    /// Panics with this message.
    Panic(String),
    /// Waits (on tokio's clock, so a paused test clock skips it), then replies.
    Delay(Duration, Box<Reply<T>>),
}

impl<T> Reply<T> {
    /// Answers `value`.
    pub fn answer(value: T) -> Self {
        Reply::Answer(value)
    }

    /// Declines to answer.
    pub fn no_answer() -> Self {
        Reply::NoAnswer
    }

    /// Fails with `message`.
    pub fn error(message: impl Into<String>) -> Self {
        Reply::Error(message.into())
    }

    /// Panics with `message`.
    pub fn panic(message: impl Into<String>) -> Self {
        Reply::Panic(message.into())
    }

    /// This reply, after waiting `delay`.
    #[must_use]
    pub fn after(self, delay: Duration) -> Self {
        Reply::Delay(delay, Box::new(self))
    }

    async fn play(&self) -> HookReturn<T>
    where
        T: Clone,
    {
        let mut reply = self;
        while let Reply::Delay(d, next) = reply {
            tokio::time::sleep(*d).await;
            reply = next;
        }
        match reply {
            Reply::Answer(v) => Ok(Some(v.clone())),
            Reply::NoAnswer => Ok(None),
            Reply::Error(m) => Err(m.clone().into()),
            Reply::Panic(m) => std::panic::panic_any(m.clone()),
            Reply::Delay(..) => unreachable!("delays unwrapped above"),
        }
    }
}

/// Replies played in order, one per call; the last one repeats. Clones share the position.
#[derive(Debug, Clone)]
pub struct Script<T> {
    replies: Arc<Vec<Reply<T>>>,
    next: Arc<AtomicUsize>,
}

impl<T> Script<T> {
    /// A script of `replies` (an empty script declines every call).
    pub fn new(replies: impl IntoIterator<Item = Reply<T>>) -> Self {
        Script {
            replies: Arc::new(replies.into_iter().collect()),
            next: Arc::default(),
        }
    }

    /// Always `reply`.
    pub fn always(reply: Reply<T>) -> Self {
        Self::new([reply])
    }

    /// How many calls it has replied to (or started to).
    pub fn calls(&self) -> usize {
        self.next.load(Ordering::SeqCst)
    }

    pub(crate) async fn play(&self) -> HookReturn<T>
    where
        T: Clone,
    {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        match self.replies.get(i).or(self.replies.last()) {
            Some(r) => r.play().await,
            None => Ok(None),
        }
    }
}

/// What a fake lifecycle method does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Step {
    /// Returns `Ok(())`.
    Ok,
    /// Returns an error with this message.
    Fail(String),
    /// Panics with this message.
    Panic(String),
    /// Never returns (until dropped).
    Hang,
    /// Waits, then does the inner step.
    Delay(Duration, Box<Step>),
}

impl Step {
    /// This step after waiting `delay` (tokio's clock).
    #[must_use]
    pub fn after(self, delay: Duration) -> Self {
        Step::Delay(delay, Box::new(self))
    }

    async fn run(&self) -> Result<(), BoxError> {
        let mut step = self;
        while let Step::Delay(d, next) = step {
            tokio::time::sleep(*d).await;
            step = next;
        }
        match step {
            Step::Ok => Ok(()),
            Step::Fail(m) => Err(m.clone().into()),
            Step::Panic(m) => std::panic::panic_any(m.clone()),
            Step::Hang => std::future::pending().await,
            Step::Delay(..) => unreachable!("delays unwrapped above"),
        }
    }
}

/// A shared, ordered log of what fake plugins did: `"<plugin>:init"`, `":start"`, `":stop"`,
/// `":<hook>"` for each call.
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `entry`.
    pub fn push(&self, entry: impl Into<String>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry.into());
    }

    /// Everything so far, in order.
    pub fn entries(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The entries of plugin `plugin`, without the `"<plugin>:"` prefix.
    pub fn of(&self, plugin: &str) -> Vec<String> {
        let prefix = format!("{plugin}:");
        self.entries()
            .into_iter()
            .filter_map(|e| e.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }
}

type RegisterFn = Box<dyn Fn(&Journal, &mut Registrar) -> Result<(), RegisterError> + Send + Sync>;
type InitFn = Box<dyn Fn(&PluginContext) -> Result<(), BoxError> + Send + Sync>;

/// A plugin assembled from parts: metadata, scripted impls and lifecycle steps. Every
/// lifecycle method and call is written to its [`Journal`].
pub struct FakePlugin {
    meta: PluginMeta,
    journal: Journal,
    impls: Vec<RegisterFn>,
    on_init: Vec<InitFn>,
    init: Step,
    start: Step,
    stop: Step,
    health: Health,
}

impl std::fmt::Debug for FakePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePlugin")
            .field("meta", &self.meta)
            .field("impls", &self.impls.len())
            .field("init", &self.init)
            .field("start", &self.start)
            .field("stop", &self.stop)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

impl FakePlugin {
    /// A plugin with `meta`, no impls, and lifecycle steps that succeed.
    pub fn new(meta: PluginMeta) -> Self {
        FakePlugin {
            meta,
            journal: Journal::new(),
            impls: Vec::new(),
            on_init: Vec::new(),
            init: Step::Ok,
            start: Step::Ok,
            stop: Step::Ok,
            health: Health::Healthy,
        }
    }

    /// Writes to `journal` (share one journal between plugins to see their order); applies to
    /// the impls added before and after this call.
    #[must_use]
    pub fn journal(mut self, journal: &Journal) -> Self {
        self.journal = journal.clone();
        self
    }

    /// An async impl of `S` that plays `script`.
    #[must_use]
    pub fn hook<S: HookSpec>(self, script: Script<S::Output>) -> Self
    where
        S::Output: Clone + Sync,
    {
        self.hook_with::<S>(script, |b| b)
    }

    /// As [`hook`](Self::hook), with options set on the impl's builder
    /// (`|b| b.tryfirst().timeout(d)`).
    #[must_use]
    pub fn hook_with<S: HookSpec>(
        mut self,
        script: Script<S::Output>,
        options: impl Fn(crate::hook::ImplBuilder<'_>) -> crate::hook::ImplBuilder<'_>
            + Send
            + Sync
            + 'static,
    ) -> Self
    where
        S::Output: Clone + Sync,
    {
        let name = self.meta.name.clone();
        self.impls
            .push(Box::new(move |journal: &Journal, r: &mut Registrar| {
                let script = script.clone();
                let journal = journal.clone();
                let entry = format!("{name}:{}", S::NAME);
                options(r.hook_fn::<S>(move |_| {
                    journal.push(entry.clone());
                    let script = script.clone();
                    Box::pin(async move { script.play().await })
                }))
                .add()
            }));
        self
    }

    /// Runs `f` during `init` (before the init step), e.g. to
    /// [`provide`](PluginContext::provide) a service.
    #[must_use]
    pub fn on_init(
        mut self,
        f: impl Fn(&PluginContext) -> Result<(), BoxError> + Send + Sync + 'static,
    ) -> Self {
        self.on_init.push(Box::new(f));
        self
    }

    /// What `init` does.
    #[must_use]
    pub fn init_step(mut self, step: Step) -> Self {
        self.init = step;
        self
    }

    /// What `start` does.
    #[must_use]
    pub fn start_step(mut self, step: Step) -> Self {
        self.start = step;
        self
    }

    /// What `stop` does.
    #[must_use]
    pub fn stop_step(mut self, step: Step) -> Self {
        self.stop = step;
        self
    }

    /// What `health` reports.
    #[must_use]
    pub fn health_report(mut self, health: Health) -> Self {
        self.health = health;
        self
    }
}

#[async_trait]
impl Plugin for FakePlugin {
    fn meta(&self) -> PluginMeta {
        self.meta.clone()
    }

    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        self.impls.iter().try_for_each(|f| f(&self.journal, r))
    }

    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        self.journal.push(format!("{}:init", self.meta.name));
        for f in &self.on_init {
            f(ctx)?;
        }
        self.init.run().await
    }

    async fn start(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        self.journal.push(format!("{}:start", self.meta.name));
        self.start.run().await
    }

    async fn stop(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        self.journal.push(format!("{}:stop", self.meta.name));
        self.stop.run().await
    }

    async fn health(&self) -> Health {
        self.health.clone()
    }
}
