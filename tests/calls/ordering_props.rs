//! Property tests: the call order of a hook follows pluggy's rules.
//!
//! Every generated plugin registers one impl of a local collect-all spec, [`Probe`]; each impl
//! records its plugin name in a shared log when it runs (wrappers before calling
//! `next.run()`), so after one call the log is the call order. It is compared with two
//! reference models written here, independently of `src/order.rs`:
//!
//! - [`model_order`]: a sort by the documented rules (wrappers first; tryfirst > normal >
//!   trylast; higher priority first; ties LIFO for tryfirst/normal, FIFO for trylast);
//! - [`pluggy_order`]: a transcription of pluggy's `HookCaller._add_hookimpl` insertion
//!   algorithm (which has no priorities, so it is only consulted when every priority is 0).
//!
//! With `before`/`after` constraints, registration either fails with a real ordering cycle
//! (and changes nothing), or the order respects every constraint between impls of the same
//! group (wrappers / plain impls) and is the topological order [`constrained_order`] predicts.
//! A constraint may name any plugin, registered or not, and plugins are registered,
//! unregistered and registered again in any order: a constraint whose target is absent waits
//! (listed by `waiting_constraints`) and applies whenever the target is registered.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use hookwire::{
    hook::ImplBuilder, hook::PluginHandle, hook::WaitingConstraint, FutureExt, HookManager,
    RegisterError, Registrar,
};
use proptest::prelude::*;
use proptest::sample::Index;

hookwire::hookspec! {
    /// Collect-all probe: every impl answers its plugin name.
    pub struct Probe(()) -> String;
}

type Log = Arc<Mutex<Vec<String>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    First,
    Normal,
    Last,
}

/// How a generated plugin's impl is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `wrapper_fn`.
    Wrapper,
    /// `sync_fn`.
    Sync,
    /// `hook_fn` (async).
    Async,
}

/// One generated plugin: its single impl's options.
#[derive(Debug, Clone)]
struct Gen {
    tier: Tier,
    priority: i32,
    kind: Kind,
    /// `(is_before, which)`: `which` picks one of the plugins registered so far.
    constraints: Vec<(bool, Index)>,
}

impl Gen {
    fn wrapper(&self) -> bool {
        self.kind == Kind::Wrapper
    }
}

/// A plugin that is registered, as the models see it.
#[derive(Debug, Clone)]
struct Registered {
    name: String,
    tier: Tier,
    priority: i32,
    wrapper: bool,
    /// Resolved constraint targets (names of plugins registered earlier).
    before: Vec<String>,
    after: Vec<String>,
}

fn name_of(i: usize) -> String {
    format!("p{i}")
}

fn tier_strategy() -> impl Strategy<Value = Tier> {
    prop_oneof![Just(Tier::First), Just(Tier::Normal), Just(Tier::Last)]
}

fn kind_strategy() -> impl Strategy<Value = Kind> {
    prop_oneof![2 => Just(Kind::Wrapper), 3 => Just(Kind::Sync), 3 => Just(Kind::Async)]
}

fn gen_strategy(max_constraints: usize) -> impl Strategy<Value = Gen> {
    (
        tier_strategy(),
        -2..=2i32,
        kind_strategy(),
        prop::collection::vec((any::<bool>(), any::<Index>()), 0..=max_constraints),
    )
        .prop_map(|(tier, priority, kind, constraints)| Gen {
            tier,
            priority,
            kind,
            constraints,
        })
}

// ----------------------------------------------------------------------------------------------
// Reference models
// ----------------------------------------------------------------------------------------------

/// Whether `a` (registered at position `ia`) runs before `b` (at `ib`) by the documented rules,
/// as a comparator. Positions are registration order among the registered plugins.
fn rule_cmp(a: &Registered, ia: usize, b: &Registered, ib: usize) -> Ordering {
    // 1. wrappers before plain impls.
    if a.wrapper != b.wrapper {
        return if a.wrapper {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    // 2. tryfirst > normal > trylast.
    if a.tier != b.tier {
        return a.tier.cmp(&b.tier);
    }
    // 3. higher priority first.
    if a.priority != b.priority {
        return b.priority.cmp(&a.priority);
    }
    // 4. ties: last registered first, except trylast (registration order).
    match a.tier {
        Tier::Last => ia.cmp(&ib),
        Tier::First | Tier::Normal => ib.cmp(&ia),
    }
}

/// The expected call order (plugin names) without constraints.
fn model_order(plugins: &[Registered]) -> Vec<String> {
    let mut idx: Vec<usize> = (0..plugins.len()).collect();
    idx.sort_by(|&a, &b| rule_cmp(&plugins[a], a, &plugins[b], b));
    idx.into_iter().map(|i| plugins[i].name.clone()).collect()
}

/// pluggy's `_add_hookimpl` (pluggy 1.x), transcribed: impls live in one list, plain impls
/// before wrappers, and the call runs the list back to front.
fn pluggy_order(plugins: &[Registered]) -> Vec<String> {
    let mut list: Vec<&Registered> = Vec::new();
    for p in plugins {
        let split = list.iter().position(|m| m.wrapper).unwrap_or(list.len());
        let (start, end) = if p.wrapper {
            (split, list.len())
        } else {
            (0, split)
        };
        match p.tier {
            Tier::Last => list.insert(start, p),
            Tier::First => list.insert(end, p),
            Tier::Normal => {
                // After the last non-tryfirst impl of the group.
                let mut i = end;
                while i > start && list[i - 1].tier == Tier::First {
                    i -= 1;
                }
                list.insert(i, p);
            }
        }
    }
    list.iter().rev().map(|p| p.name.clone()).collect()
}

/// The constraint edges `(earlier, later)` between impls of the same group, as indices.
fn constraint_edges(plugins: &[Registered]) -> BTreeSet<(usize, usize)> {
    let pos = |name: &str| plugins.iter().position(|p| p.name == name);
    let mut edges = BTreeSet::new();
    for (i, p) in plugins.iter().enumerate() {
        for (targets, is_before) in [(&p.before, true), (&p.after, false)] {
            for t in targets {
                let Some(j) = pos(t) else { continue };
                if j == i || plugins[j].wrapper != p.wrapper {
                    continue; // constraints only order impls of the same group
                }
                edges.insert(if is_before { (i, j) } else { (j, i) });
            }
        }
    }
    edges
}

/// The expected call order with constraints, or `None` if they form a cycle: a topological
/// order that always takes, among the impls free to go next, the one the rules put first.
fn constrained_order(plugins: &[Registered]) -> Option<Vec<String>> {
    let edges = constraint_edges(plugins);
    let mut placed = vec![false; plugins.len()];
    let mut out = Vec::with_capacity(plugins.len());
    while out.len() < plugins.len() {
        let free = (0..plugins.len())
            .filter(|&i| !placed[i])
            .filter(|&i| edges.iter().all(|&(a, b)| b != i || placed[a]))
            .min_by(|&a, &b| rule_cmp(&plugins[a], a, &plugins[b], b))?;
        placed[free] = true;
        out.push(plugins[free].name.clone());
    }
    Some(out)
}

// ----------------------------------------------------------------------------------------------
// Driving the real manager
// ----------------------------------------------------------------------------------------------

fn add_impl<'r>(r: &'r mut Registrar, kind: Kind, name: &str, log: &Log) -> ImplBuilder<'r> {
    let (name, log) = (name.to_owned(), log.clone());
    match kind {
        Kind::Wrapper => r.wrapper_fn::<Probe>(move |_, next| {
            let (name, log) = (name.clone(), log.clone());
            async move {
                log.lock().unwrap().push(name);
                Ok(next.run().await)
            }
            .boxed()
        }),
        Kind::Sync => r.sync_fn::<Probe>(move |_| {
            log.lock().unwrap().push(name.clone());
            Ok(Some(name.clone()))
        }),
        Kind::Async => r.hook_fn::<Probe>(move |_| {
            let (name, log) = (name.clone(), log.clone());
            async move {
                log.lock().unwrap().push(name.clone());
                Ok(Some(name))
            }
            .boxed()
        }),
    }
}

fn register(
    pm: &HookManager,
    log: &Log,
    name: &str,
    g: &Gen,
    before: &[String],
    after: &[String],
) -> Result<PluginHandle, RegisterError> {
    pm.register(name, |r| {
        let mut b = add_impl(r, g.kind, name, log);
        b = match g.tier {
            Tier::First => b.tryfirst(),
            Tier::Normal => b,
            Tier::Last => b.trylast(),
        };
        if g.priority != 0 {
            b = b.priority(g.priority);
        }
        for t in before {
            b = b.before(t);
        }
        for t in after {
            b = b.after(t);
        }
        b.add()
    })
}

/// Calls `Probe` once; returns the recorded call order and the plain impls' answers.
fn call(pm: &HookManager, log: &Log) -> (Vec<String>, Vec<String>) {
    log.lock().unwrap().clear();
    let outcome = futures::executor::block_on(pm.hook::<Probe>().call(&())).expect("call runs");
    assert!(!outcome.has_errors(), "no impl fails");
    let answers = outcome.answers().map(|(_, v)| v.clone()).collect();
    let recorded = log.lock().unwrap().clone();
    (recorded, answers)
}

fn plain_only(order: &[String], plugins: &[Registered]) -> Vec<String> {
    order
        .iter()
        .filter(|n| plugins.iter().any(|p| &p.name == *n && !p.wrapper))
        .cloned()
        .collect()
}

fn new_manager() -> (HookManager, Log) {
    (
        HookManager::builder().spec::<Probe>().build(),
        Log::default(),
    )
}

// ----------------------------------------------------------------------------------------------
// Properties
// ----------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Without constraints, the call order is the documented one (and pluggy's, when no
    /// priority is used).
    #[test]
    fn order_follows_pluggy_rules(gens in prop::collection::vec(gen_strategy(0), 1..12)) {
        let (pm, log) = new_manager();
        let mut plugins = Vec::new();
        for (i, g) in gens.iter().enumerate() {
            let name = name_of(i);
            register(&pm, &log, &name, g, &[], &[]).expect("registration without constraints");
            plugins.push(Registered {
                name,
                tier: g.tier,
                priority: g.priority,
                wrapper: g.wrapper(),
                before: vec![],
                after: vec![],
            });
        }
        let (recorded, answers) = call(&pm, &log);
        let expected = model_order(&plugins);
        prop_assert_eq!(&recorded, &expected);
        prop_assert_eq!(answers, plain_only(&expected, &plugins));
        if plugins.iter().all(|p| p.priority == 0) {
            prop_assert_eq!(&recorded, &pluggy_order(&plugins));
        }
        // The introspection API lists the impls in call order too.
        let listed: Vec<String> = pm.hook::<Probe>().impls().iter().map(|i| i.plugin.to_string()).collect();
        prop_assert_eq!(listed, expected);
    }

    /// With random `before`/`after` constraints naming registered plugins: either a real cycle
    /// is reported and nothing changes, or every constraint is respected and the order is the
    /// predicted topological order.
    #[test]
    fn constraints_are_respected_or_cycle_reported(
        gens in prop::collection::vec(gen_strategy(3), 1..12),
    ) {
        let (pm, log) = new_manager();
        let mut plugins: Vec<Registered> = Vec::new();
        for (i, g) in gens.iter().enumerate() {
            let name = name_of(i);
            let (mut before, mut after) = (Vec::new(), Vec::new());
            if !plugins.is_empty() {
                for (is_before, which) in &g.constraints {
                    let target = plugins[which.index(plugins.len())].name.clone();
                    if *is_before { before.push(target) } else { after.push(target) }
                }
            }
            let candidate = Registered {
                name: name.clone(),
                tier: g.tier,
                priority: g.priority,
                wrapper: g.wrapper(),
                before: before.clone(),
                after: after.clone(),
            };
            let mut with_candidate = plugins.clone();
            with_candidate.push(candidate.clone());
            let predicted = constrained_order(&with_candidate);

            let snapshot = pm.plugins();
            match register(&pm, &log, &name, g, &before, &after) {
                Ok(_) => {
                    prop_assert!(
                        predicted.is_some(),
                        "registered {} although its constraints form a cycle: {:?}",
                        name, with_candidate
                    );
                    plugins.push(candidate);
                }
                Err(RegisterError::OrderingCycle { hook, cycle }) => {
                    prop_assert_eq!(hook, "Probe");
                    prop_assert!(predicted.is_none(), "spurious cycle {:?} for {:?}", cycle, with_candidate);
                    check_cycle(&cycle, &with_candidate)?;
                    prop_assert_eq!(pm.plugins(), snapshot, "failed registration changed the manager");
                    prop_assert!(!pm.is_registered(&name));
                }
                Err(other) => prop_assert!(false, "unexpected error {:?}", other),
            }
        }

        let (recorded, answers) = call(&pm, &log);
        let expected = constrained_order(&plugins).expect("registered constraints are acyclic");
        prop_assert_eq!(&recorded, &expected);
        prop_assert_eq!(answers, plain_only(&expected, &plugins));
        // Every constraint between impls of the same group holds.
        let at = |n: &str| recorded.iter().position(|r| r == n).expect("every impl ran");
        for (a, b) in constraint_edges(&plugins) {
            prop_assert!(
                at(&plugins[a].name) < at(&plugins[b].name),
                "{} must run before {} in {:?}", plugins[a].name, plugins[b].name, recorded
            );
        }
        // With no effective constraint, the order is the unconstrained model's.
        if constraint_edges(&plugins).is_empty() {
            prop_assert_eq!(&recorded, &model_order(&plugins));
        }
    }
}

/// How [`constraints_apply_in_any_registration_order`] changes the manager: `Toggle(i)`
/// registers plugin `i` if it is not registered, and unregisters it otherwise.
#[derive(Debug, Clone, Copy)]
struct Toggle(Index);

/// The constraints of `plugins` whose target is not among them, as `waiting_constraints`
/// should list them: `(plugin, hook, relation, target)`, sorted, without repeats.
fn model_waiting(plugins: &[Registered]) -> Vec<(String, String, String, String)> {
    let registered = |n: &str| plugins.iter().any(|p| p.name == n);
    let mut out: Vec<_> = plugins
        .iter()
        .flat_map(|p| {
            let before = p.before.iter().map(move |t| ("before", t));
            let after = p.after.iter().map(move |t| ("after", t));
            before
                .chain(after)
                .filter(|(_, t)| !registered(t))
                .map(move |(rel, t)| {
                    (
                        p.name.clone(),
                        "Probe".to_owned(),
                        rel.to_owned(),
                        t.clone(),
                    )
                })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn real_waiting(pm: &HookManager) -> Vec<(String, String, String, String)> {
    let mut out: Vec<_> = pm
        .waiting_constraints()
        .into_iter()
        .map(|w: WaitingConstraint| (w.plugin, w.hook, w.relation.to_string(), w.target))
        .collect();
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Constraints may name any plugin, registered or not, and plugins come and go in any
    /// order (a target registered after the plugin naming it, unregistered, registered
    /// again). After every step: a registration that would close a cycle is refused naming a
    /// real cycle and changes nothing; otherwise the call order is the predicted topological
    /// order over the registered plugins, and the constraints on absent plugins are exactly
    /// the waiting ones.
    #[test]
    fn constraints_apply_in_any_registration_order(
        gens in prop::collection::vec(gen_strategy(3), 1..9),
        toggles in prop::collection::vec(any::<Index>().prop_map(Toggle), 1..24),
    ) {
        let n = gens.len();
        // Each plugin's declared constraints, on any other plugin (never itself).
        let declared: Vec<(Vec<String>, Vec<String>)> = gens
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let (mut before, mut after) = (Vec::new(), Vec::new());
                for (is_before, which) in &g.constraints {
                    let j = which.index(n);
                    if j == i {
                        continue;
                    }
                    if *is_before { before.push(name_of(j)) } else { after.push(name_of(j)) }
                }
                (before, after)
            })
            .collect();
        let (pm, log) = new_manager();
        // The registered plugins in registration order (a re-registration comes last).
        let mut plugins: Vec<Registered> = Vec::new();
        for Toggle(which) in toggles {
            let i = which.index(n);
            let name = name_of(i);
            if let Some(at) = plugins.iter().position(|p| p.name == name) {
                prop_assert!(pm.unregister_name(&name));
                plugins.remove(at);
            } else {
                let g = &gens[i];
                let (before, after) = &declared[i];
                let candidate = Registered {
                    name: name.clone(),
                    tier: g.tier,
                    priority: g.priority,
                    wrapper: g.wrapper(),
                    before: before.clone(),
                    after: after.clone(),
                };
                let mut with_candidate = plugins.clone();
                with_candidate.push(candidate.clone());
                let predicted = constrained_order(&with_candidate);
                let snapshot = (pm.plugins(), real_waiting(&pm));
                match register(&pm, &log, &name, g, before, after) {
                    Ok(_) => {
                        prop_assert!(
                            predicted.is_some(),
                            "registered {} although it closes a cycle: {:?}", name, with_candidate
                        );
                        plugins.push(candidate);
                    }
                    Err(RegisterError::OrderingCycle { hook, cycle }) => {
                        prop_assert_eq!(hook, "Probe");
                        prop_assert!(predicted.is_none(), "spurious cycle {:?} for {:?}", cycle, with_candidate);
                        check_cycle(&cycle, &with_candidate)?;
                        prop_assert_eq!((pm.plugins(), real_waiting(&pm)), snapshot, "failed registration changed the manager");
                        prop_assert!(!pm.is_registered(&name));
                    }
                    Err(other) => prop_assert!(false, "unexpected error {:?}", other),
                }
            }
            let (recorded, answers) = call(&pm, &log);
            let expected = constrained_order(&plugins).expect("registered constraints are acyclic");
            prop_assert_eq!(&recorded, &expected);
            prop_assert_eq!(answers, plain_only(&expected, &plugins));
            prop_assert_eq!(real_waiting(&pm), model_waiting(&plugins));
        }
    }
}

/// The reported cycle must be a cycle of the constraint graph, inside one group, closed
/// (first == last) and simple.
fn check_cycle(cycle: &[String], plugins: &[Registered]) -> Result<(), TestCaseError> {
    prop_assert!(
        cycle.len() >= 3,
        "a cycle names at least two plugins: {:?}",
        cycle
    );
    prop_assert_eq!(
        cycle.first(),
        cycle.last(),
        "cycle is not closed: {:?}",
        cycle
    );
    let inner: BTreeSet<&String> = cycle[1..].iter().collect();
    prop_assert_eq!(
        inner.len(),
        cycle.len() - 1,
        "cycle repeats a plugin: {:?}",
        cycle
    );
    let pos = |n: &str| plugins.iter().position(|p| p.name == n);
    let edges = constraint_edges(plugins);
    let group = pos(&cycle[0]).map(|i| plugins[i].wrapper);
    for w in cycle.windows(2) {
        let (Some(a), Some(b)) = (pos(&w[0]), pos(&w[1])) else {
            return Err(TestCaseError::fail(format!(
                "cycle {cycle:?} names an unknown plugin"
            )));
        };
        prop_assert_eq!(
            Some(plugins[a].wrapper),
            group,
            "cycle {:?} mixes groups",
            cycle
        );
        prop_assert!(
            edges.contains(&(a, b)),
            "{} -> {} is not a constraint (cycle {:?}, edges {:?})",
            w[0],
            w[1],
            cycle,
            edges
        );
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------------
// Documented examples
// ----------------------------------------------------------------------------------------------

fn plain(name: &str, tier: Tier) -> (String, Gen) {
    (
        name.to_owned(),
        Gen {
            tier,
            priority: 0,
            kind: Kind::Sync,
            constraints: vec![],
        },
    )
}

fn run_example(plugins: &[(String, Gen)]) -> Vec<String> {
    let (pm, log) = new_manager();
    for (name, g) in plugins {
        register(&pm, &log, name, g, &[], &[]).unwrap();
    }
    call(&pm, &log).0
}

/// pluggy docs, "Calling hooks": impls are called in LIFO registered order.
#[test]
fn pluggy_docs_lifo() {
    let order = run_example(&[
        plain("plugin1", Tier::Normal),
        plain("plugin2", Tier::Normal),
        plain("plugin3", Tier::Normal),
    ]);
    assert_eq!(order, ["plugin3", "plugin2", "plugin1"]);
}

/// pluggy docs, "Call time order": the module's `trylast` impl registered first, then
/// `SomeOtherPlugin`'s `tryfirst` impl; a normal impl registered last still runs in between.
#[test]
fn pluggy_docs_call_time_order() {
    let order = run_example(&[
        plain("module", Tier::Last),
        plain("some_other", Tier::First),
        plain("late_normal", Tier::Normal),
    ]);
    assert_eq!(order, ["some_other", "late_normal", "module"]);
}

/// Tiers with several impls each: tryfirst and normal are LIFO, trylast is in registration
/// order (what pluggy's `_add_hookimpl` does, even though its docs say "LIFO within each
/// category"); wrappers run before every plain impl, whenever they were registered.
#[test]
fn pluggy_tiers_lifo_and_wrappers() {
    let mut plugins = vec![
        plain("a", Tier::Normal),
        plain("b", Tier::Last),
        plain("c", Tier::First),
        plain("d", Tier::Normal),
        plain("e", Tier::Last),
        plain("f", Tier::First),
    ];
    assert_eq!(run_example(&plugins), ["f", "c", "d", "a", "b", "e"]);

    let wrapper = |name: &str, tier| {
        let (n, mut g) = plain(name, tier);
        g.kind = Kind::Wrapper;
        (n, g)
    };
    plugins.insert(0, wrapper("w_last", Tier::Last));
    plugins.insert(3, wrapper("w_normal", Tier::Normal));
    plugins.push(wrapper("w_first", Tier::First));
    assert_eq!(
        run_example(&plugins),
        ["w_first", "w_normal", "w_last", "f", "c", "d", "a", "b", "e"]
    );
}

/// Priorities order impls inside a tier, never across tiers.
#[test]
fn priority_is_inside_a_tier() {
    let with_priority = |name: &str, tier, priority| {
        let (n, mut g) = plain(name, tier);
        g.priority = priority;
        (n, g)
    };
    let order = run_example(&[
        with_priority("low_first", Tier::First, -2),
        with_priority("high_normal", Tier::Normal, 2),
        with_priority("normal", Tier::Normal, 0),
        with_priority("high_last", Tier::Last, 2),
        with_priority("last", Tier::Last, 0),
    ]);
    assert_eq!(
        order,
        ["low_first", "high_normal", "normal", "high_last", "last"]
    );
}

/// A constraint sanity check alongside the properties: a simple two-plugin cycle is refused
/// with `a -> b -> a` and leaves the manager unchanged.
#[test]
fn two_plugin_cycle_is_refused() {
    let (pm, log) = new_manager();
    let g = plain("x", Tier::Normal).1;
    register(&pm, &log, "a", &g, &[], &[]).unwrap();
    let before = pm.plugins();
    // `b` must run both before and after `a`.
    let err = register(&pm, &log, "b", &g, &["a".to_owned()], &["a".to_owned()]).unwrap_err();
    match err {
        RegisterError::OrderingCycle { hook, cycle } => {
            assert_eq!(hook, "Probe");
            assert_eq!(cycle.len(), 3);
            assert_eq!(cycle.first(), cycle.last());
            let names: BTreeSet<&str> = cycle.iter().map(String::as_str).collect();
            assert_eq!(names, BTreeSet::from(["a", "b"]));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(pm.plugins(), before);
    assert_eq!(call(&pm, &log).0, ["a"]);
}
