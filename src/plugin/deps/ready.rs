//! The plugins ready to start, in Kahn's algorithm: a set of node numbers that hands out its
//! smallest member first.
//!
//! Node numbers are ranks in name order, so "smallest first" is "the ready plugin whose name
//! sorts first". A binary heap does this in `O(log n)` a step; this set is a hierarchical
//! bitset — one bit per node, and above each level a word of bits saying which words below
//! are not empty — so insert and take-the-smallest cost one word per level:
//! `O(log₆₄ n)`, three levels for 10,000 plugins, all of them a few kilobytes that stay in
//! the first-level cache.

/// A set of node numbers below the `n` it was made for; see the module docs.
pub(super) struct ReadySet {
    /// `levels[0]` has a bit per node; each level above has a bit per word of the level
    /// below, set when that word is not zero. The top level is one word.
    levels: Vec<Vec<u64>>,
}

impl ReadySet {
    /// An empty set for node numbers `0..n`.
    pub(super) fn new(n: usize) -> Self {
        let mut levels = Vec::new();
        let mut bits = n.max(1);
        loop {
            let words = bits.div_ceil(64);
            levels.push(vec![0; words]);
            if words == 1 {
                return ReadySet { levels };
            }
            bits = words;
        }
    }

    /// Adds `node` (below the set's `n`).
    pub(super) fn insert(&mut self, node: u32) {
        let mut at = node as usize;
        for level in &mut self.levels {
            let word = &mut level[at / 64];
            let was_empty = *word == 0;
            *word |= 1 << (at % 64);
            if !was_empty {
                // The levels above already mark this word.
                return;
            }
            at /= 64;
        }
    }

    /// Removes and returns the smallest node, if any.
    pub(super) fn pop_min(&mut self) -> Option<u32> {
        let top = self.levels.len() - 1;
        if self.levels[top][0] == 0 {
            return None;
        }
        // Down from the top: at each level, the first non-empty word's lowest bit.
        let mut at = 0;
        for level in self.levels.iter().rev() {
            at = at * 64 + level[at].trailing_zeros() as usize;
        }
        let node = at;
        // Up from the bottom: clear the bit, and the mark above while a word empties.
        for level in &mut self.levels {
            let word = &mut level[at / 64];
            *word &= !(1 << (at % 64));
            if *word != 0 {
                break;
            }
            at /= 64;
        }
        Some(node as u32)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::ReadySet;

    #[test]
    fn it_hands_out_its_members_smallest_first_across_levels() {
        let mut set = ReadySet::new(10_000);
        for node in [9_999, 64, 4_096, 0, 63, 4_095, 65] {
            set.insert(node);
        }
        let out: Vec<u32> = std::iter::from_fn(|| set.pop_min()).collect();
        assert_eq!(out, [0, 63, 64, 65, 4_095, 4_096, 9_999]);
        assert_eq!(set.pop_min(), None);
    }

    #[test]
    fn an_empty_set_of_no_nodes_has_nothing_to_hand_out() {
        assert_eq!(ReadySet::new(0).pop_min(), None);
        let mut one = ReadySet::new(1);
        one.insert(0);
        assert_eq!(one.pop_min(), Some(0));
        assert_eq!(one.pop_min(), None);
    }

    proptest! {
        /// Any mix of inserts and pops agrees with an ordered set.
        #[test]
        fn it_behaves_like_an_ordered_set(
            n in 1usize..20_000,
            ops in proptest::collection::vec((any::<bool>(), any::<u32>()), 0..400),
        ) {
            let mut set = ReadySet::new(n);
            let mut model = BTreeSet::new();
            for (insert, x) in ops {
                if insert {
                    let node = x % n as u32;
                    set.insert(node);
                    model.insert(node);
                } else {
                    prop_assert_eq!(set.pop_min(), model.pop_first());
                }
            }
            while let Some(node) = model.pop_first() {
                prop_assert_eq!(set.pop_min(), Some(node));
            }
            prop_assert_eq!(set.pop_min(), None);
        }
    }
}
