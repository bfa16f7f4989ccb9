//! Finding the dependency cycles to report when no start order exists.

use std::collections::VecDeque;

use petgraph::graph::{DiGraph, NodeIndex};

/// One cycle per strongly connected group of the "requires" graph that has one (more than one
/// node, or a node requiring itself): the shortest cycle through the group's smallest node,
/// found by a breadth-first search visiting dependencies in node order. Node indices with the
/// first repeated at the end; the cycles sorted by their first node.
pub(super) fn find_cycles(graph: &DiGraph<(), (), u32>) -> Vec<Vec<usize>> {
    // Kosaraju's algorithm is iterative: no stack overflow on long dependency chains.
    let groups = petgraph::algo::kosaraju_scc(graph);
    let mut group_of = vec![usize::MAX; graph.node_count()];
    for (g, members) in groups.iter().enumerate() {
        for n in members {
            group_of[n.index()] = g;
        }
    }
    let mut parent = vec![usize::MAX; graph.node_count()];
    let mut cycles = Vec::new();
    for (g, members) in groups.iter().enumerate() {
        let Some(start) = members.iter().map(|n| n.index()).min() else {
            continue;
        };
        let first = NodeIndex::new(start);
        if members.len() == 1 && graph.find_edge(first, first).is_none() {
            continue;
        }
        let mut queue = VecDeque::from([start]);
        let mut visited = vec![start];
        parent[start] = start;
        let mut cycle = Vec::new();
        'search: while let Some(u) = queue.pop_front() {
            let mut next: Vec<usize> = graph
                .neighbors(NodeIndex::new(u))
                .map(|n| n.index())
                .filter(|&v| group_of[v] == g)
                .collect();
            next.sort_unstable();
            for v in next {
                if v == start {
                    // The path start -> .. -> u, read backwards through `parent`, then u -> start.
                    let mut back = Vec::new();
                    let mut at = u;
                    while at != start {
                        back.push(at);
                        at = parent[at];
                    }
                    cycle.push(start);
                    cycle.extend(back.into_iter().rev());
                    cycle.push(start);
                    break 'search;
                }
                if parent[v] == usize::MAX {
                    parent[v] = u;
                    visited.push(v);
                    queue.push_back(v);
                }
            }
        }
        for v in visited {
            parent[v] = usize::MAX;
        }
        cycles.push(cycle);
    }
    cycles.sort_unstable();
    cycles
}
