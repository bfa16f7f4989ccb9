//! Impl ordering: pure rules, no I/O. Computed at registration, never during a call.
//!
//! Call order, from first to last:
//! 1. wrappers before plain impls (the first wrapper is the outermost);
//! 2. inside each group, tiers `TryFirst` > `Normal` > `TryLast`;
//! 3. inside a tier, higher `priority` first;
//! 4. ties as pluggy: last registered first (LIFO) for `TryFirst`/`Normal`, registration order
//!    for `TryLast`;
//! 5. then `before`/`after` constraints between plugins are applied on top: a topological order
//!    of the constraint graph that, among the impls free to go next, always picks the one that
//!    comes first by rules 2–4 (so the result is deterministic and changes no more than the
//!    constraints demand).
//!
//! A constraint only concerns impls present in the list: one naming a plugin that has no impl
//! here (not registered, or not implementing this hook) adds no edge, and applies as soon as
//! that plugin's impl is in the list. A constraint cycle is an error naming the plugins on the
//! cycle.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::error::RegisterError;
use crate::hookimpl::Placement;

/// One impl as the ordering rules see it.
#[derive(Debug, Clone)]
pub(crate) struct OrderItem<'a> {
    pub(crate) plugin: &'a str,
    pub(crate) tier: Placement,
    pub(crate) priority: i32,
    /// Registration sequence number: larger is later.
    pub(crate) seq: u64,
    pub(crate) wrapper: bool,
    pub(crate) before: &'a [Arc<str>],
    pub(crate) after: &'a [Arc<str>],
}

/// The sort key of rules 1–4: smaller runs earlier.
fn base_key(it: &OrderItem<'_>) -> (bool, Placement, Reverse<i32>, i128) {
    let tie = match it.tier {
        Placement::TryLast => i128::from(it.seq),
        Placement::TryFirst | Placement::Normal => -i128::from(it.seq),
    };
    (!it.wrapper, it.tier, Reverse(it.priority), tie)
}

/// Returns the indices of `items` in call order.
///
/// # Errors
/// [`RegisterError::OrderingCycle`] when `before`/`after` constraints form a cycle.
pub(crate) fn call_order(hook: &str, items: &[OrderItem<'_>]) -> Result<Vec<usize>, RegisterError> {
    let mut base: Vec<usize> = (0..items.len()).collect();
    base.sort_by_key(|&i| base_key(&items[i]));
    if items
        .iter()
        .all(|it| it.before.is_empty() && it.after.is_empty())
    {
        return Ok(base);
    }
    // rank[i] = position of item i in the base order.
    let mut rank = vec![0usize; items.len()];
    for (pos, &i) in base.iter().enumerate() {
        rank[i] = pos;
    }
    let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(items.len(), 0);
    let nodes: Vec<NodeIndex> = (0..items.len()).map(|i| graph.add_node(i)).collect();
    for (i, it) in items.iter().enumerate() {
        for (j, other) in items.iter().enumerate() {
            // Constraints only order impls of the same group (wrappers wrap all plain impls).
            if i == j || it.wrapper != other.wrapper || it.plugin == other.plugin {
                continue;
            }
            if it.before.iter().any(|p| **p == *other.plugin) {
                graph.update_edge(nodes[i], nodes[j], ());
            }
            if it.after.iter().any(|p| **p == *other.plugin) {
                graph.update_edge(nodes[j], nodes[i], ());
            }
        }
    }
    // Kahn's algorithm, always taking the ready impl that ranks first in the base order.
    let mut indegree: Vec<usize> = nodes
        .iter()
        .map(|&n| {
            graph
                .neighbors_directed(n, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: BinaryHeap<Reverse<(usize, usize)>> = (0..items.len())
        .filter(|&i| indegree[i] == 0)
        .map(|i| Reverse((rank[i], i)))
        .collect();
    let mut out = Vec::with_capacity(items.len());
    while let Some(Reverse((_, i))) = ready.pop() {
        out.push(i);
        for n in graph.neighbors(nodes[i]) {
            let j = graph[n];
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(Reverse((rank[j], j)));
            }
        }
    }
    if out.len() == items.len() {
        return Ok(out);
    }
    Err(RegisterError::OrderingCycle {
        hook: hook.to_owned(),
        cycle: find_cycle(&graph, &indegree)
            .into_iter()
            .map(|i| items[i].plugin.to_owned())
            .collect(),
    })
}

/// A cycle among the nodes Kahn's algorithm could not place (indegree still > 0), as item
/// indices with the first repeated at the end.
fn find_cycle(graph: &DiGraph<usize, ()>, indegree: &[usize]) -> Vec<usize> {
    // Every unplaced node has an unplaced predecessor, so walking predecessors must revisit a
    // node; the part of the walk from that node on is a cycle (in reverse).
    let Some(start) = (0..indegree.len()).find(|&i| indegree[i] > 0) else {
        return Vec::new();
    };
    let mut seen_at = vec![usize::MAX; indegree.len()];
    let mut walk = Vec::new();
    let mut cur = start;
    while seen_at[cur] == usize::MAX {
        seen_at[cur] = walk.len();
        walk.push(cur);
        cur = graph
            .neighbors_directed(NodeIndex::new(cur), petgraph::Direction::Incoming)
            .map(|n| graph[n])
            .find(|&p| indegree[p] > 0)
            .unwrap_or(cur);
    }
    let mut cycle: Vec<usize> = walk[seen_at[cur]..].to_vec();
    cycle.reverse();
    cycle.push(cycle[0]);
    cycle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(plugin: &str, tier: Placement, priority: i32, seq: u64) -> OrderItem<'_> {
        OrderItem {
            plugin,
            tier,
            priority,
            seq,
            wrapper: false,
            before: &[],
            after: &[],
        }
    }

    fn names(items: &[OrderItem<'_>]) -> Vec<String> {
        call_order("h", items)
            .unwrap()
            .into_iter()
            .map(|i| items[i].plugin.to_owned())
            .collect()
    }

    #[test]
    fn pluggy_tiers_and_lifo() {
        let items = [
            item("a", Placement::Normal, 0, 1),
            item("b", Placement::TryLast, 0, 2),
            item("c", Placement::TryFirst, 0, 3),
            item("d", Placement::Normal, 0, 4),
            item("e", Placement::TryLast, 0, 5),
            item("f", Placement::TryFirst, 0, 6),
        ];
        assert_eq!(names(&items), ["f", "c", "d", "a", "b", "e"]);
    }

    #[test]
    fn cycle_is_named() {
        let b_first: [Arc<str>; 1] = [Arc::from("b")];
        let a_first: [Arc<str>; 1] = [Arc::from("a")];
        let mut a = item("a", Placement::Normal, 0, 1);
        a.before = &b_first;
        let mut b = item("b", Placement::Normal, 0, 2);
        b.before = &a_first;
        let err = call_order("h", &[a, b]).unwrap_err();
        match err {
            RegisterError::OrderingCycle { cycle, .. } => {
                assert_eq!(cycle.len(), 3);
                assert_eq!(cycle.first(), cycle.last());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
