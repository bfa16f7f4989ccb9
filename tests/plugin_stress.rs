//! Randomized concurrent stress of `PluginHost`: rounds of a few lazy and eager plugins
//! (with dependencies, steps that take a few milliseconds or fail) and several tasks adding,
//! starting, removing, shutting down, querying and calling at once, on a multi-thread
//! runtime; checked per plugin: `init`/`start`/`stop` at most once and in order, no impl run
//! before its start or by a call begun after its stop, dependencies up while dependents run,
//! legal event sequences, no "bug:" errors, an empty manager after `shutdown`, no deadlock.
//!
//! Real time: 30 rounds by default (a few seconds); `STRESS_ROUNDS=300` for a longer run,
//! `STRESS_SEED` for another seed, `STRESS_DUMP=1` to print failing rounds, and
//! `--nocapture` for the summary.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hookwire::{
    async_trait, plugin::PluginEvent, plugin::PluginState, BoxError, FutureExt, Plugin,
    PluginContext, PluginHost, PluginMeta, RegisterError, Registrar,
};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

hookwire::hookspec! {
    pub struct Ping(u64) -> String;
}

static CLOCK: AtomicU64 = AtomicU64::new(1);
fn tick() -> u64 {
    CLOCK.fetch_add(1, SeqCst)
}

/// Tracing "bug:" errors (illegal state changes), globally.
static BUGS: AtomicUsize = AtomicUsize::new(0);
static BUG_MSGS: Mutex<Vec<String>> = Mutex::new(Vec::new());
struct Msg(String);
impl tracing::field::Visit for Msg {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", f.name(), v));
    }
}
struct BugLayer;
impl<S: tracing::Subscriber> Layer<S> for BugLayer {
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        if *e.metadata().level() == tracing::Level::ERROR {
            BUGS.fetch_add(1, SeqCst);
            let mut m = Msg(String::new());
            e.record(&mut m);
            BUG_MSGS.lock().unwrap().push(m.0);
        }
    }
}
fn install_tracing() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ =
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(BugLayer));
    });
}

/// A state change, from a [`PluginEvent::StateChanged`].
#[derive(Clone)]
struct Transition {
    plugin: String,
    from: PluginState,
    to: PluginState,
}

#[derive(Default)]
struct Rec {
    inits: AtomicUsize,
    starts: AtomicUsize,
    stops: AtomicUsize,
    init_ok: AtomicBool,
    start_ok: AtomicBool,
    stop_entered: AtomicBool,
    /// clock when stop was entered (0 = never)
    stop_clock: AtomicU64,
    violations: Mutex<Vec<String>>,
}
impl Rec {
    fn v(&self, s: String) {
        self.violations.lock().unwrap().push(s);
    }
}

#[derive(Clone)]
struct Spec {
    name: String,
    lazy: bool,
    deps: Vec<usize>,
    init_ms: u64,
    start_ms: u64,
    stop_ms: u64,
    fail_init: bool,
    fail_start: bool,
    fail_stop: bool,
    impl_ms: u64,
}

struct World {
    specs: Vec<Spec>,
    /// rec of the (single) instance of each spec, once added
    recs: Vec<Arc<Rec>>,
    added: Vec<AtomicBool>,
}

struct P {
    idx: usize,
    world: Arc<World>,
}

impl P {
    fn spec(&self) -> &Spec {
        &self.world.specs[self.idx]
    }
    fn rec(&self) -> &Rec {
        &self.world.recs[self.idx]
    }
}

async fn ms(n: u64) {
    if n > 0 {
        tokio::time::sleep(Duration::from_millis(n)).await;
    }
}

#[async_trait]
impl Plugin for P {
    fn meta(&self) -> PluginMeta {
        let mut m = PluginMeta::new(self.spec().name.clone(), "1.0.0");
        for &d in &self.spec().deps {
            m = m.requires(self.world.specs[d].name.clone(), "^1");
        }
        m
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let me = self.clone();
        r.hook_fn::<Ping>(move |clock| {
            let me = me.clone();
            let clock = *clock;
            async move {
                let rec = me.rec();
                let name = &me.spec().name;
                if !rec.start_ok.load(SeqCst) {
                    rec.v(format!("{name}: impl ran before its start returned Ok"));
                }
                if rec.stop_entered.load(SeqCst) {
                    let sc = rec.stop_clock.load(SeqCst);
                    if clock > sc {
                        rec.v(format!("{name}: impl ran for a call that began AFTER stop began (call {clock} > stop {sc})"));
                    } else {
                        rec.v(format!("[inflight] {name}: impl ran after stop began, call began before"));
                    }
                }
                ms(me.spec().impl_ms).await;
                Ok(Some(name.clone()))
            }
            .boxed()
        })
        .add()
    }
    async fn init(&self, _: &PluginContext) -> Result<(), BoxError> {
        let rec = self.rec();
        let n = rec.inits.fetch_add(1, SeqCst);
        if n > 0 {
            rec.v(format!("{}: init ran {} times", self.spec().name, n + 1));
        }
        for &d in &self.spec().deps {
            let dr = &self.world.recs[d];
            if !dr.start_ok.load(SeqCst) || dr.stop_entered.load(SeqCst) {
                rec.v(format!(
                    "{}: init ran while dependency {} not running",
                    self.spec().name,
                    self.world.specs[d].name
                ));
            }
        }
        ms(self.spec().init_ms).await;
        if self.spec().fail_init {
            return Err("init boom".into());
        }
        rec.init_ok.store(true, SeqCst);
        Ok(())
    }
    async fn start(&self, _: &PluginContext) -> Result<(), BoxError> {
        let rec = self.rec();
        let n = rec.starts.fetch_add(1, SeqCst);
        if n > 0 {
            rec.v(format!("{}: start ran {} times", self.spec().name, n + 1));
        }
        if !rec.init_ok.load(SeqCst) {
            rec.v(format!(
                "{}: start ran without successful init",
                self.spec().name
            ));
        }
        ms(self.spec().start_ms).await;
        if self.spec().fail_start {
            return Err("start boom".into());
        }
        rec.start_ok.store(true, SeqCst);
        Ok(())
    }
    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        let rec = self.rec();
        rec.stop_clock.store(tick(), SeqCst);
        rec.stop_entered.store(true, SeqCst);
        let n = rec.stops.fetch_add(1, SeqCst);
        let name = &self.spec().name;
        if n > 0 {
            rec.v(format!("{name}: stop ran {} times", n + 1));
        }
        if !rec.start_ok.load(SeqCst) {
            rec.v(format!("{name}: stop ran without a successful start"));
        }
        // dependents still running?
        for (j, s) in self.world.specs.iter().enumerate() {
            if s.deps.contains(&self.idx) {
                let r = &self.world.recs[j];
                if r.start_ok.load(SeqCst) && !r.stop_entered.load(SeqCst) {
                    rec.v(format!(
                        "{name}: stopped while its dependent {} still running",
                        s.name
                    ));
                }
            }
        }
        ms(self.spec().stop_ms).await;
        if self.spec().fail_stop {
            return Err("stop boom".into());
        }
        Ok(())
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

fn make_world(rng: &mut Rng) -> Arc<World> {
    let n = 3 + rng.below(4) as usize;
    let mut specs = Vec::new();
    for i in 0..n {
        let mut deps = Vec::new();
        if i > 0 && rng.chance(50) {
            deps.push(rng.below(i as u64) as usize);
        }
        let slow = |rng: &mut Rng| {
            if rng.chance(40) {
                let m = if rng.chance(30) { 45 } else { 15 };
                rng.below(m)
            } else {
                0
            }
        };
        specs.push(Spec {
            name: format!("p{i}"),
            lazy: rng.chance(50),
            deps,
            init_ms: slow(rng),
            start_ms: slow(rng),
            stop_ms: slow(rng),
            fail_init: rng.chance(8),
            fail_start: rng.chance(8),
            fail_stop: rng.chance(8),
            impl_ms: slow(rng),
        });
    }
    Arc::new(World {
        recs: (0..n).map(|_| Arc::new(Rec::default())).collect(),
        added: (0..n).map(|_| AtomicBool::new(false)).collect(),
        specs,
    })
}

fn add(pm: &PluginHost, w: &Arc<World>, i: usize) {
    if w.added[i].swap(true, SeqCst) {
        return;
    }
    let p = P {
        idx: i,
        world: w.clone(),
    };
    if w.specs[i].lazy {
        pm.add_lazy(p).unwrap();
    } else {
        pm.add(p).unwrap();
    }
}

const OP_LIMIT: Duration = Duration::from_secs(3);

async fn round(seed: u64) -> Vec<String> {
    let mut rng = Rng(seed | 1);
    for _ in 0..5 {
        rng.next();
    }
    let w = make_world(&mut rng);
    let pm = PluginHost::builder()
        .environment(false)
        .step_timeout(Duration::from_millis(60))
        .build();
    let mut violations = Vec::new();
    // Events.
    let mut rx = pm.events();
    let events: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let lagged = Arc::new(AtomicBool::new(false));
    let collector = {
        let events = events.clone();
        let lagged = lagged.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(PluginEvent::StateChanged {
                        plugin, from, to, ..
                    }) => events.lock().unwrap().push(Transition { plugin, from, to }),
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        lagged.store(true, SeqCst)
                    }
                    Err(_) => break,
                }
            }
        })
    };
    // Add most in dependency order.
    for i in 0..w.specs.len() {
        if rng.chance(75) {
            add(&pm, &w, i);
        }
    }
    let bugs_before = BUGS.load(SeqCst);
    let ntasks = 3 + rng.below(3);
    let mut tasks = Vec::new();
    for t in 0..ntasks {
        let pm = pm.clone();
        let w = w.clone();
        let mut rng = Rng(rng.next() | 1);
        tasks.push(tokio::spawn(async move {
            let mut hung = Vec::new();
            for _ in 0..(3 + rng.below(6)) {
                let op = rng.below(100);
                let name = w.specs[rng.below(w.specs.len() as u64) as usize]
                    .name
                    .clone();
                let grace = Duration::from_millis(rng.below(25));
                let what: String;
                let r = match op {
                    0..=9 => {
                        let i = rng.below(w.specs.len() as u64) as usize;
                        what = format!("add {i}");
                        add(&pm, &w, i);
                        Ok(())
                    }
                    10..=29 => {
                        what = "start".into();
                        tokio::time::timeout(OP_LIMIT, pm.start()).await.map(|_| ())
                    }
                    30..=39 => {
                        what = format!("remove {name}");
                        tokio::time::timeout(OP_LIMIT, pm.remove(&name, grace))
                            .await
                            .map(|_| ())
                    }
                    40..=44 if t == 0 => {
                        what = "shutdown".into();
                        tokio::time::timeout(OP_LIMIT, pm.shutdown(grace))
                            .await
                            .map(|_| ())
                    }
                    45..=54 => {
                        what = "health".into();
                        tokio::time::timeout(OP_LIMIT, pm.health())
                            .await
                            .map(|_| ())
                    }
                    55..=64 => {
                        what = "plugins/state".into();
                        let _ = pm.plugins();
                        let _ = pm.state(&name);
                        let _ = pm.events();
                        Ok(())
                    }
                    _ => {
                        what = "call".into();
                        let c = tick();
                        tokio::time::timeout(OP_LIMIT, pm.hook::<Ping>().call(&c))
                            .await
                            .map(|_| ())
                    }
                };
                if r.is_err() {
                    hung.push(format!(
                        "DEADLOCK? task {t}: `{what}` did not finish in {OP_LIMIT:?}"
                    ));
                }
                ms(rng.below(6)).await;
            }
            hung
        }));
    }
    for t in tasks {
        violations.extend(t.await.unwrap());
    }
    match tokio::time::timeout(OP_LIMIT, pm.shutdown(Duration::from_millis(30))).await {
        Err(_) => violations.push("DEADLOCK? final shutdown".into()),
        Ok(_) => {
            let left: Vec<String> = pm
                .plugins()
                .iter()
                .map(|p| format!("{}:{}", p.name(), p.state))
                .collect();
            if !left.is_empty() {
                violations.push(format!("after shutdown plugins() not empty: {left:?}"));
            }
        }
    }
    // Let self-stopping starts and in-flight calls finish.
    ms(60).await;
    collector.abort();
    if lagged.load(SeqCst) {
        violations.push("event receiver lagged".into());
    }
    for r in &w.recs {
        violations.extend(r.violations.lock().unwrap().iter().cloned());
    }
    // Event sequences.
    let evs = events.lock().unwrap().clone();
    let mut cur: HashMap<String, PluginState> = HashMap::new();
    let mut started: HashMap<String, usize> = HashMap::new();
    for e in &evs {
        let c = cur
            .entry(e.plugin.clone())
            .or_insert(PluginState::Discovered);
        if *c != e.from {
            violations.push(format!(
                "{}: event from {:?} but previous event left it {:?}",
                e.plugin, e.from, c
            ));
        }
        if !legal_move(&e.from, &e.to) {
            violations.push(format!(
                "{}: illegal event {:?} -> {:?}",
                e.plugin, e.from, e.to
            ));
        }
        if e.to == PluginState::Started {
            *started.entry(e.plugin.clone()).or_default() += 1;
        }
        *c = e.to.clone();
    }
    for (i, s) in w.specs.iter().enumerate() {
        let rec = &w.recs[i];
        let st = started.get(&s.name).copied().unwrap_or(0);
        if st != rec.start_ok.load(SeqCst) as usize {
            violations.push(format!(
                "{}: {st} Started events but start_ok={}",
                s.name,
                rec.start_ok.load(SeqCst)
            ));
        }
        if rec.start_ok.load(SeqCst) && rec.stops.load(SeqCst) == 0 {
            violations.push(format!(
                "{}: started but never stopped (after final shutdown)",
                s.name
            ));
        }
        if let Some(PluginState::Started) = cur.get(&s.name) {
            violations.push(format!(
                "{}: last event left it Started after final shutdown",
                s.name
            ));
        }
    }
    let bugs = BUGS.load(SeqCst) - bugs_before;
    if bugs > 0 {
        for m in BUG_MSGS.lock().unwrap().drain(..) {
            violations.push(format!("tracing ERROR: {m}"));
        }
        violations.push(format!("{bugs} tracing ERROR events (illegal state change?) during round (global count; may include other rounds)"));
    }
    if std::env::var("STRESS_DUMP").is_ok()
        && violations.iter().any(|v| !v.starts_with("[inflight]"))
    {
        for sp in &w.specs {
            eprintln!(
                "SPEC {} lazy={} deps={:?} init={} start={} stop={} fi={} fs={} fst={}",
                sp.name,
                sp.lazy,
                sp.deps,
                sp.init_ms,
                sp.start_ms,
                sp.stop_ms,
                sp.fail_init,
                sp.fail_start,
                sp.fail_stop
            );
        }
        for e in &evs {
            eprintln!("EV {} {:?} -> {:?}", e.plugin, e.from, e.to);
        }
        for v in &violations {
            eprintln!("V {v}");
        }
    }
    violations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress() {
    install_tracing();
    let seed: u64 = std::env::var("STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let rounds: u64 = std::env::var("STRESS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let t0 = std::time::Instant::now();
    let mut summary: HashMap<String, (usize, u64)> = HashMap::new();
    let mut bad_rounds = 0;
    for r in 0..rounds {
        if t0.elapsed() > Duration::from_secs(50) {
            eprintln!("time budget hit after {r} rounds");
            break;
        }
        let s = seed.wrapping_mul(6364136223846793005).wrapping_add(r);
        let v = round(s).await;
        let real: Vec<&String> = v.iter().filter(|x| !x.starts_with("[inflight]")).collect();
        if !real.is_empty() {
            bad_rounds += 1;
        }
        for x in v {
            // Normalize plugin names for a summary.
            let key: String = x
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect();
            let e = summary.entry(key).or_insert((0, r));
            e.0 += 1;
        }
    }
    let mut lines: Vec<_> = summary.into_iter().collect();
    lines.sort();
    for (k, (n, first_round)) in &lines {
        eprintln!("{n:5}x  (first round {first_round})  {k}");
    }
    eprintln!(
        "rounds with violations: {bad_rounds}; elapsed {:?}",
        t0.elapsed()
    );
    assert_eq!(bad_rounds, 0);
}

/// The lifecycle's legal moves: `Discovered → Registered → Initialized → Started → Stopped`,
/// and from any state but `Failed` to `Failed`.
fn legal_move(from: &PluginState, to: &PluginState) -> bool {
    use PluginState::*;
    match (from, to) {
        (Failed(_), _) => false,
        (_, Failed(_)) => true,
        (Discovered, Registered)
        | (Registered, Initialized)
        | (Initialized, Started)
        | (Started, Stopped) => true,
        _ => false,
    }
}
