//! Registration state and its all-or-nothing changes.
//!
//! Every change is computed in full (ordering, type checks, constraint checks) before anything
//! is applied, so an error leaves the registry exactly as it was. Only then are the new
//! snapshots stored in their slots.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use futures::future::BoxFuture;

use super::declare::validate_spec;
use super::record::{ImplRecord, RecordFn};
use super::slot::{check_order, ErasedSlot, Prepared, ReplayLedger};
use super::{ConstraintRelation, Shared, WaitingConstraint};
use crate::caller::ImplInfo;
use crate::error::{PendingImplsError, RegisterError};
use crate::exec::run::ImplPolicy;
use crate::hookimpl::ImplOptions;
use crate::spec::{SpecInfo, TypeKey};

/// An impl a plugin asked to register, not yet committed.
pub(crate) struct PendingImpl {
    pub(crate) hook: Cow<'static, str>,
    pub(crate) options: Arc<ImplOptions>,
    pub(crate) func: RecordFn,
}

/// A hook as the registry knows it.
#[derive(Default)]
pub(crate) struct HookRecord {
    /// The host added a spec for it.
    pub(crate) declared: bool,
    /// Its spec: the declared one, or the one a typed impl carries.
    pub(crate) spec: Option<SpecInfo>,
    /// Its call side, once its types are known.
    pub(crate) slot: Option<Arc<dyn ErasedSlot>>,
    /// Its impls, in registration order.
    pub(crate) impls: Vec<ImplRecord>,
}

/// A registered plugin.
pub(crate) struct PluginRecord {
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
}

/// One plugin's outcome in a batch. The error is boxed: a batch of 10,000 keeps one word per
/// plugin instead of a whole error's room.
pub(crate) type Verdict<T> = Result<T, Box<RegisterError>>;

/// Per hook, the sequence numbers a replacement's impls take over from the old version's
/// impls, in the old version's registration order.
pub(crate) type SeqsByHook = HashMap<Arc<str>, VecDeque<u64>>;

/// A registered plugin taken out of the registry to be replaced: nothing was published, so
/// calls still run its impls. Put back as it was, or dropped once its replacement is in.
#[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
struct TakenOut {
    /// Its place among the registered plugins.
    at: usize,
    record: PluginRecord,
    /// Each hook it has impls on, with the hook's whole list as it was.
    hooks: Vec<(Arc<str>, Vec<ImplRecord>)>,
    seqs: SeqsByHook,
}

/// Historic replays a change produced, to be driven once the registry lock is released.
pub(crate) type Replays = Vec<BoxFuture<'static, ()>>;

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) hooks: BTreeMap<Arc<str>, HookRecord>,
    pub(crate) plugins: Vec<PluginRecord>,
    by_name: HashMap<Arc<str>, u64>,
    pub(crate) blocked: BTreeSet<String>,
    next_id: u64,
    next_seq: u64,
}

/// An impl of a batch that is only checked: borrowed, nothing cloned (a check of 10,000
/// plugins would otherwise build and drop 10,000 records).
pub(crate) struct NewImpl<'a> {
    pub(crate) plugin: &'a Arc<str>,
    pub(crate) seq: u64,
    pub(crate) pending: &'a PendingImpl,
}

struct Staged<'a> {
    declared: bool,
    hook: Arc<str>,
    spec: Option<SpecInfo>,
    slot: Option<Arc<dyn ErasedSlot>>,
    /// The hook's records: those registered before this batch, then (when applying) the
    /// batch's.
    impls: Vec<ImplRecord>,
    /// When only checking, the batch's impls.
    new: Vec<NewImpl<'a>>,
    /// How many of `impls` were registered before this batch.
    base_len: usize,
    /// The slot is new: it has checked none of the hook's records yet.
    fresh_slot: bool,
    prepared: Option<Prepared>,
}

/// How many impls of each hook `items` holds (consecutive impls mostly name the same hook:
/// it is compared before the name is hashed).
fn count_per_hook<'a>(items: &[(&Arc<str>, &'a [PendingImpl])]) -> HashMap<&'a str, usize> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut run: Option<(&str, usize)> = None;
    for p in items.iter().flat_map(|(_, pending)| pending.iter()) {
        match &mut run {
            Some((hook, n)) if *hook == &*p.hook => *n += 1,
            _ => {
                if let Some((hook, n)) = run {
                    *counts.entry(hook).or_default() += n;
                }
                run = Some((&p.hook, 1));
            }
        }
    }
    if let Some((hook, n)) = run {
        *counts.entry(hook).or_default() += n;
    }
    counts
}

pub(super) fn warn_deprecated(spec: &SpecInfo, plugin: &str) {
    if let Some(msg) = &spec.warn_on_impl {
        tracing::warn!(hook = %spec.name, plugin, "impl of deprecated hook: {msg}");
    }
}

impl Registry {
    pub(crate) fn is_registered(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Registers a plugin's impls, all or nothing.
    pub(crate) fn register(
        &mut self,
        name: &Arc<str>,
        pending: &[PendingImpl],
        shared: &Arc<Shared>,
        ledger: &Arc<ReplayLedger>,
    ) -> Result<(u64, Replays), RegisterError> {
        let (mut results, replays) = self.register_batch(&[(name, pending)], shared, ledger);
        let id = results
            .pop()
            .expect("one result per plugin")
            .map_err(|e| *e)?;
        Ok((id, replays))
    }

    /// Registers several plugins, each all or nothing, with one snapshot rebuild per hook for
    /// the whole batch (registering N plugins one by one rebuilds a hook's list N times).
    /// Results are in input order; a plugin that fails leaves no trace and does not stop the
    /// others. When a rebuild finds a problem (a type mismatch, an ordering cycle), the batch is
    /// retried one plugin at a time so the error names the plugin that caused it. The impls
    /// are borrowed (what is kept of them is cloned: reference counts). The items' names must
    /// be distinct (a plugin host's are: `add` refuses a second plugin of a name), so no
    /// set of them is built to find duplicates.
    ///
    /// The replays of historic calls to the new impls report fail-fast failures to `ledger`.
    pub(crate) fn register_batch(
        &mut self,
        items: &[(&Arc<str>, &[PendingImpl])],
        shared: &Arc<Shared>,
        ledger: &Arc<ReplayLedger>,
    ) -> (Vec<Verdict<u64>>, Replays) {
        match self.stage(items, shared, Some(ledger), None) {
            Ok(done) => done,
            Err(e) if items.len() == 1 => (vec![Err(Box::new(e))], Vec::new()),
            Err(_) => {
                let mut results = Vec::with_capacity(items.len());
                let mut replays = Vec::new();
                for item in items {
                    let (r, rp) = self.register_batch(std::slice::from_ref(item), shared, ledger);
                    results.extend(r);
                    replays.extend(rp);
                }
                (results, replays)
            }
        }
    }

    /// What [`register_batch`](Self::register_batch) would answer for each plugin, without
    /// changing anything. A problem found when rebuilding a hook (a type mismatch, an ordering
    /// cycle) is pinned on a plugin by checking them one more at a time. The names must be
    /// distinct, as for `register_batch`.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host
    pub(crate) fn check_batch(
        &mut self,
        items: &[(&Arc<str>, &[PendingImpl])],
        shared: &Arc<Shared>,
    ) -> Vec<Verdict<()>> {
        match self.stage(items, shared, None, None) {
            Ok((results, _)) => results.into_iter().map(|r| r.map(drop)).collect(),
            Err(e) if items.len() == 1 => vec![Err(Box::new(e))],
            Err(_) => {
                let mut accepted: Vec<(&Arc<str>, &[PendingImpl])> = Vec::new();
                let mut results = Vec::with_capacity(items.len());
                for &item in items {
                    accepted.push(item);
                    let verdict = match self.stage(&accepted, shared, None, None) {
                        Ok((r, _)) => r.into_iter().last().map_or(Ok(()), |r| r.map(drop)),
                        Err(e) => Err(Box::new(e)),
                    };
                    if verdict.is_err() {
                        accepted.pop();
                    }
                    results.push(verdict);
                }
                results
            }
        }
    }

    /// The checks that concern one plugin alone: its name and the spec of a hook that gets
    /// its slot from its impls. (A `before`/`after` target need not be registered: the
    /// constraint waits for it.)
    fn precheck(
        &self,
        name: &Arc<str>,
        pending: &[PendingImpl],
        validated: &mut Vec<TypeKey>,
    ) -> Result<(), RegisterError> {
        if self.blocked.contains(&**name) {
            return Err(RegisterError::Blocked {
                plugin: name.to_string(),
            });
        }
        if self.is_registered(name) {
            return Err(RegisterError::DuplicatePlugin {
                plugin: name.to_string(),
            });
        }
        for p in pending {
            if let RecordFn::Typed { maker, types, .. } = &p.func {
                // The spec of a hook without a slot yet is checked, once per spec type and
                // stage (a batch of 10,000 impls of one hook checks it once).
                if !validated.contains(types)
                    && self.hooks.get(&*p.hook).is_none_or(|r| r.slot.is_none())
                {
                    validate_spec(&(maker.info)())?;
                    validated.push(*types);
                }
            }
        }
        Ok(())
    }

    /// Checks a batch, and applies it when given the `ledger` its replays report to; `Err`
    /// (with nothing applied) when a hook's rebuild fails.
    fn stage(
        &mut self,
        items: &[(&Arc<str>, &[PendingImpl])],
        shared: &Arc<Shared>,
        ledger: Option<&Arc<ReplayLedger>>,
        mut reuse: Option<&mut SeqsByHook>,
    ) -> Result<(Vec<Verdict<u64>>, Replays), RegisterError> {
        let apply = ledger.is_some();
        let first_id = self.next_id;
        let mut id = first_id;
        let mut seq = self.next_seq;
        let mut results = Vec::with_capacity(items.len());
        debug_assert!(
            items
                .iter()
                .map(|(n, _)| &***n)
                .collect::<HashSet<&str>>()
                .len()
                == items.len(),
            "a batch's plugin names are distinct"
        );
        let mut staged: Vec<Staged<'_>> = Vec::new();
        let mut staged_at: HashMap<Arc<str>, usize> = HashMap::new();
        let impls_per_hook = count_per_hook(items);
        // Spec types whose spec this stage checked.
        let mut validated: Vec<TypeKey> = Vec::new();
        let mut last: Option<(&str, usize)> = None;
        for &(name, pending) in items {
            if let Err(e) = self.precheck(name, pending, &mut validated) {
                results.push(Err(Box::new(e)));
                continue;
            }
            for p in pending {
                // Consecutive impls mostly name the same hook: a string comparison before
                // hashing the name again.
                let found = match last {
                    Some((hook, idx)) if hook == &*p.hook => Some(idx),
                    _ => staged_at.get(&*p.hook).copied(),
                };
                let idx = match found {
                    Some(idx) => idx,
                    None => {
                        // A registered hook's name is reused; a new one is allocated once.
                        let key: Arc<str> = self
                            .hooks
                            .get_key_value(&*p.hook)
                            .map_or_else(|| Arc::from(&*p.hook), |(k, _)| k.clone());
                        // The hook's records are moved out (not cloned: cloning touches every
                        // record's reference counts) and put back, unchanged, if the batch
                        // fails.
                        let mut rec = self.hooks.get_mut(&*p.hook);
                        let impls = rec.as_deref_mut().map(|r| std::mem::take(&mut r.impls));
                        let rec = rec.as_deref();
                        let mut impls = impls.unwrap_or_default();
                        // Room for all of the batch's impls of this hook at once: growing a
                        // large list step by step copies it and faults fresh pages each time.
                        let count = impls_per_hook.get(&*p.hook).copied().unwrap_or(0);
                        let mut new = Vec::new();
                        if apply {
                            impls.reserve(count);
                        } else {
                            new.reserve(count);
                        }
                        staged.push(Staged {
                            declared: rec.is_some_and(|r| r.declared),
                            hook: key.clone(),
                            spec: rec.and_then(|r| r.spec.clone()),
                            slot: rec.and_then(|r| r.slot.clone()),
                            base_len: impls.len(),
                            fresh_slot: false,
                            impls,
                            new,
                            prepared: None,
                        });
                        staged_at.insert(key, staged.len() - 1);
                        staged.len() - 1
                    }
                };
                last = Some((&p.hook, idx));
                // A replacement's impls take the places of the old version's on each hook.
                let my_seq = match reuse
                    .as_deref_mut()
                    .and_then(|m| m.get_mut(&*p.hook))
                    .and_then(VecDeque::pop_front)
                {
                    Some(old) => old,
                    None => {
                        seq += 1;
                        seq - 1
                    }
                };
                let st = &mut staged[idx];
                if let (None, RecordFn::Typed { maker, .. }) = (&st.slot, &p.func) {
                    let spec = (maker.info)();
                    st.slot = Some((maker.make)(spec.clone(), shared.clone()));
                    st.spec = Some(spec);
                    // A new slot has checked none of the hook's records yet.
                    st.fresh_slot = true;
                }
                if !apply {
                    st.new.push(NewImpl {
                        plugin: name,
                        seq: my_seq,
                        pending: p,
                    });
                    continue;
                }
                st.impls.push(ImplRecord {
                    plugin: name.clone(),
                    plugin_id: id,
                    seq: my_seq,
                    policy: ImplPolicy::from_options(&p.options),
                    // A wrapper wraps the whole call: the impls it wraps are what is counted.
                    stats: (shared.stats && !p.options.wrapper).then(Default::default),
                    options: p.options.clone(),
                    func: p.func.clone(),
                });
            }
            results.push(Ok(id));
            id += 1;
        }
        let mut failed = None;
        for st in &mut staged {
            let checked = match (&st.slot, &st.spec) {
                (Some(slot), Some(spec)) if !apply => {
                    slot.check(spec, &st.impls, &st.new, st.fresh_slot, st.declared)
                }
                (Some(slot), Some(spec)) => slot
                    .prepare(spec, &st.impls, st.declared)
                    .map(|p| st.prepared = Some(p)),
                // Impls of a hook nobody has typed yet: still check their order now.
                _ => check_order(&st.hook, &st.impls, &st.new),
            };
            if let Err(e) = checked {
                failed = Some(e);
                break;
            }
        }
        if failed.is_some() || !apply {
            for mut st in staged {
                st.impls.truncate(st.base_len);
                if let Some(rec) = self.hooks.get_mut(&st.hook) {
                    rec.impls = st.impls;
                }
            }
            return match failed {
                Some(e) => Err(e),
                None => Ok((results, Vec::new())),
            };
        }
        // Everything checked: apply.
        self.next_id = id;
        self.next_seq = seq;
        let accepted = results.iter().filter(|r| r.is_ok()).count();
        self.plugins.reserve(accepted);
        self.by_name.reserve(accepted);
        for (r, &(name, _)) in results.iter().zip(items) {
            if let Ok(id) = r {
                self.plugins.push(PluginRecord {
                    id: *id,
                    name: name.clone(),
                });
                self.by_name.insert(name.clone(), *id);
            }
        }
        let mut replays = Vec::new();
        for st in staged {
            let rec = self.hooks.entry(st.hook).or_default();
            rec.impls = st.impls;
            rec.spec = st.spec;
            rec.slot = st.slot;
            if let (Some(slot), Some(prepared), Some(ledger)) = (&rec.slot, st.prepared, ledger) {
                replays.extend(slot.install(prepared, Some((first_id..id, ledger))));
            }
            if let Some(spec) = rec.spec.as_ref().filter(|s| s.warn_on_impl.is_some()) {
                for i in rec.impls.iter().filter(|i| i.plugin_id >= first_id) {
                    warn_deprecated(spec, &i.plugin);
                }
            }
        }
        Ok((results, replays))
    }

    /// Takes registered plugin `id` out (records only: nothing is published).
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    fn take_out(&mut self, id: u64) -> Option<TakenOut> {
        let at = self.plugins.iter().position(|p| p.id == id)?;
        let record = self.plugins.remove(at);
        self.by_name.remove(&record.name);
        let mut hooks = Vec::new();
        let mut seqs = SeqsByHook::new();
        for (hook, rec) in &mut self.hooks {
            if !rec.impls.iter().any(|i| i.plugin_id == id) {
                continue;
            }
            let mut old: Vec<u64> = rec
                .impls
                .iter()
                .filter(|i| i.plugin_id == id)
                .map(|i| i.seq)
                .collect();
            old.sort_unstable();
            seqs.insert(hook.clone(), old.into());
            hooks.push((hook.clone(), rec.impls.clone()));
            rec.impls.retain(|i| i.plugin_id != id);
        }
        Some(TakenOut {
            at,
            record,
            hooks,
            seqs,
        })
    }

    /// Undoes [`take_out`](Self::take_out).
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    fn put_back(&mut self, t: TakenOut) {
        for (hook, impls) in t.hooks {
            if let Some(rec) = self.hooks.get_mut(&hook) {
                rec.impls = impls;
            }
        }
        self.by_name.insert(t.record.name.clone(), t.record.id);
        self.plugins.insert(t.at.min(self.plugins.len()), t.record);
    }

    /// What [`replace`](Self::replace) would answer, changing nothing: `pending` checked as if
    /// plugin `old` (registered under the same name) were not there.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    pub(crate) fn check_replacement(
        &mut self,
        old: u64,
        name: &Arc<str>,
        pending: &[PendingImpl],
        shared: &Arc<Shared>,
    ) -> Result<(), RegisterError> {
        let mut taken = self.take_out(old);
        let reuse = taken.as_mut().map(|t| &mut t.seqs);
        let verdict = match self.stage(&[(name, pending)], shared, None, reuse) {
            Ok((mut results, _)) => results
                .pop()
                .expect("one result per plugin")
                .map(drop)
                .map_err(|e| *e),
            Err(e) => Err(e),
        };
        if let Some(t) = taken {
            self.put_back(t);
        }
        verdict
    }

    /// Replaces registered plugin `old` by `pending` under the same name, all or nothing: each
    /// hook either keeps the old version's impls or gets the new version's, every touched hook
    /// is rebuilt once, and the new snapshots are stored together while the caller holds the
    /// registry lock. The new impls take the old ones' places in the registration order (per
    /// hook, in order; an impl the old version did not have on a hook counts as registered
    /// now), and the new plugin the old one's place in the list of plugins. With `old` not
    /// registered (any more), this is a plain registration.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    pub(crate) fn replace(
        &mut self,
        old: u64,
        name: &Arc<str>,
        pending: &[PendingImpl],
        shared: &Arc<Shared>,
        ledger: &Arc<ReplayLedger>,
    ) -> Result<(u64, Replays), RegisterError> {
        let Some(mut taken) = self.take_out(old) else {
            return self.register(name, pending, shared, ledger);
        };
        let staged = self.stage(
            &[(name, pending)],
            shared,
            Some(ledger),
            Some(&mut taken.seqs),
        );
        let (id, replays) = match staged {
            Ok((mut results, replays)) => match results.pop().expect("one result per plugin") {
                Ok(id) => (id, replays),
                Err(e) => {
                    self.put_back(taken);
                    return Err(*e);
                }
            },
            Err(e) => {
                self.put_back(taken);
                return Err(e);
            }
        };
        // The new record sits where the old one did.
        if let Some(record) = self.plugins.pop() {
            self.plugins
                .insert(taken.at.min(self.plugins.len()), record);
        }
        // Hooks only the old version implemented: rebuilt without it.
        for (hook, _) in &taken.hooks {
            if !pending.iter().any(|p| *p.hook == **hook) {
                self.rebuild(hook);
            }
        }
        Ok((id, replays))
    }

    /// Unregisters plugin `id` like [`unregister`](Self::unregister) and returns the places
    /// of its impls in the registration order, per hook, for
    /// [`register_in_places`](Self::register_in_places).
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    pub(crate) fn unregister_keeping_places(&mut self, id: u64) -> Option<SeqsByHook> {
        let taken = self.take_out(id)?;
        for (hook, _) in &taken.hooks {
            self.rebuild(hook);
        }
        Some(taken.seqs)
    }

    /// Registers a plugin's impls, all or nothing, in `places` (see
    /// [`unregister_keeping_places`](Self::unregister_keeping_places)): each takes the next
    /// place its hook has left, in order; the others count as registered now.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    pub(crate) fn register_in_places(
        &mut self,
        name: &Arc<str>,
        pending: &[PendingImpl],
        shared: &Arc<Shared>,
        ledger: &Arc<ReplayLedger>,
        mut places: SeqsByHook,
    ) -> Result<(u64, Replays), RegisterError> {
        let (mut results, replays) =
            self.stage(&[(name, pending)], shared, Some(ledger), Some(&mut places))?;
        let id = results
            .pop()
            .expect("one result per plugin")
            .map_err(|e| *e)?;
        Ok((id, replays))
    }

    /// Rebuilds and stores hook `hook`'s snapshot from its records, after impls were removed
    /// (which cannot create a cycle or a type mismatch).
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host (reload)
    fn rebuild(&self, hook: &str) {
        let Some(rec) = self.hooks.get(hook) else {
            return;
        };
        if let (Some(slot), Some(spec)) = (&rec.slot, &rec.spec) {
            match slot.prepare(spec, &rec.impls, rec.declared) {
                Ok(prepared) => {
                    let _ = slot.install(prepared, None);
                }
                Err(e) => {
                    tracing::error!(hook = %spec.name, "re-ordering after removing impls failed: {e}")
                }
            }
        }
    }

    /// Removes plugins and all their impls, rebuilding each touched hook once. Returns the
    /// names of those that were registered.
    pub(crate) fn unregister_many(&mut self, ids: &HashSet<u64>) -> Vec<Arc<str>> {
        let mut removed = Vec::new();
        self.plugins.retain(|p| {
            let gone = ids.contains(&p.id);
            if gone {
                removed.push(p.name.clone());
            }
            !gone
        });
        for name in &removed {
            self.by_name.remove(name);
        }
        for rec in self.hooks.values_mut() {
            if !rec.impls.iter().any(|i| ids.contains(&i.plugin_id)) {
                continue;
            }
            rec.impls.retain(|i| !ids.contains(&i.plugin_id));
            if let (Some(slot), Some(spec)) = (&rec.slot, &rec.spec) {
                // Removing impls can't create a cycle or a type mismatch.
                match slot.prepare(spec, &rec.impls, rec.declared) {
                    Ok(prepared) => {
                        let _ = slot.install(prepared, None);
                    }
                    Err(e) => {
                        tracing::error!(hook = %spec.name, "re-ordering after unregister failed: {e}")
                    }
                }
            }
        }
        removed
    }

    /// Removes a plugin and all its impls. Returns its name, or `None` if it is not registered.
    pub(crate) fn unregister(&mut self, id: u64) -> Option<Arc<str>> {
        self.unregister_many(&HashSet::from([id])).pop()
    }

    pub(crate) fn id_of(&self, name: &str) -> Option<u64> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn check_pending(&self) -> Result<(), PendingImplsError> {
        let mut pending: Vec<(String, String)> = self
            .hooks
            .iter()
            .filter(|(_, rec)| !rec.declared)
            .flat_map(|(hook, rec)| {
                rec.impls
                    .iter()
                    .filter(|i| !i.options.optional)
                    .map(move |i| (i.plugin.to_string(), hook.to_string()))
            })
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        pending.sort();
        Err(PendingImplsError { pending })
    }

    /// The constraints of registered impls whose target is not registered, sorted.
    pub(crate) fn waiting_constraints(&self) -> Vec<WaitingConstraint> {
        let mut waiting = Vec::new();
        for (hook, rec) in &self.hooks {
            for i in &rec.impls {
                let o = &i.options;
                let targets = o
                    .before
                    .iter()
                    .map(|t| (ConstraintRelation::Before, t))
                    .chain(o.after.iter().map(|t| (ConstraintRelation::After, t)));
                for (relation, target) in targets {
                    if !self.is_registered(target) {
                        waiting.push(WaitingConstraint {
                            plugin: i.plugin.to_string(),
                            hook: hook.to_string(),
                            relation,
                            target: target.to_string(),
                        });
                    }
                }
            }
        }
        waiting.sort();
        waiting.dedup();
        waiting
    }

    /// Every registered plugin with its impls, in registration order.
    pub(crate) fn plugin_infos(&self) -> Vec<(Arc<str>, Vec<ImplInfo>)> {
        self.plugins
            .iter()
            .map(|p| (p.name.clone(), self.impl_infos(p.id)))
            .collect()
    }

    /// The registered plugin `id` with its impls.
    pub(crate) fn plugin_info(&self, id: u64) -> Option<(Arc<str>, Vec<ImplInfo>)> {
        let p = self.plugins.iter().find(|p| p.id == id)?;
        Some((p.name.clone(), self.impl_infos(id)))
    }

    /// The impls of plugin `id`, by hook name.
    fn impl_infos(&self, id: u64) -> Vec<ImplInfo> {
        self.hooks
            .iter()
            .flat_map(|(hook, rec)| {
                rec.impls
                    .iter()
                    .filter(|i| i.plugin_id == id)
                    .map(move |i| ImplInfo {
                        plugin: i.plugin.clone(),
                        hook: hook.clone(),
                        options: (*i.options).clone(),
                    })
            })
            .collect()
    }
}
