//! The plugin graph the plugin benchmarks start: N no-op plugins (one sync impl each of a
//! shared hook, default lifecycle), plugin `i` depending on up to 3 random earlier plugins (a
//! random DAG, fixed seed, a tiny xorshift) with requirements its dependencies match. Names
//! are zero-padded and the input is shuffled, so name order, input order and dependency order
//! all differ.

use std::sync::Arc;

use hookwire::{Plugin, PluginMeta, RegisterError, Registrar};

hookwire::hookspec! {
    /// The hook every benchmark plugin implements.
    pub struct Tick(u32) -> u32;
}

/// A no-op plugin: its metadata, one sync impl, default lifecycle.
pub struct NoOp(pub PluginMeta);

impl Plugin for NoOp {
    fn meta(&self) -> PluginMeta {
        self.0.clone()
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Tick>(|x| Ok(Some(*x))).add()
    }
}

/// Marsaglia's xorshift64.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `(name, version, [(dependency, requirement)])` for `n` plugins, shuffled.
pub type Spec = (String, String, Vec<(String, String)>);

pub fn specs(n: usize) -> Vec<Spec> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let name = |i: usize| format!("plugin-{:05}", (i * 7919) % n.max(1));
    let mut out: Vec<Spec> = (0..n)
        .map(|i| {
            let deps = if i == 0 { 0 } else { rng.below(4) };
            let mut dep_idx: Vec<usize> = (0..deps).map(|_| rng.below(i)).collect();
            dep_idx.sort_unstable();
            dep_idx.dedup();
            let deps = dep_idx
                .into_iter()
                .map(|j| (name(j), format!("^{}.{}", 1 + j % 3, j % 5)))
                .collect();
            (name(i), format!("{}.{}.{}", 1 + i % 3, i % 5, i % 11), deps)
        })
        .collect();
    // Fisher-Yates with the same generator.
    for i in (1..out.len()).rev() {
        let j = rng.below(i + 1);
        out.swap(i, j);
    }
    out
}

pub fn build(specs: &[Spec]) -> Vec<PluginMeta> {
    specs
        .iter()
        .map(|(name, version, deps)| {
            deps.iter().fold(
                PluginMeta::new(name.as_str(), version).host_api("^1"),
                |m, (d, req)| m.requires(d.as_str(), req),
            )
        })
        .collect()
}
