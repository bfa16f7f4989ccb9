//! Call statistics per impl (opt-in: [`HookManagerBuilder::stats`](crate::HookManagerBuilder::stats)),
//! read with [`HookManager::stats`](crate::HookManager::stats).

pub use crate::exec::stats::{HookStats, ImplStatsSnapshot, StatsSnapshot};
