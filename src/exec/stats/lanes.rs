//! Lanes: a small per-thread number, and per-lane values written only by their thread.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

/// Lanes in the first bucket (inline in [`Lanes`]); bucket `b` holds `FIRST_BUCKET << b`.
pub(super) const FIRST_BUCKET: usize = 8;
/// Buckets: room for every lane number a `u32` holds, far more threads than can exist at once.
pub(super) const LANE_BUCKETS: usize = 32;

/// A thread's place in every [`Lanes`] (its lane number plus one: one register, and `None`
/// costs nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lane(NonZeroU32);

/// A lane whose values are inline in every [`Lanes`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct InlineLane(usize);

impl Lane {
    pub(super) fn of(id: usize) -> Option<Lane> {
        let n = u32::try_from(id).ok()?.checked_add(1)?;
        Some(Lane(NonZeroU32::new(n)?))
    }

    #[inline(always)]
    pub(super) fn id(self) -> usize {
        self.0.get() as usize - 1
    }

    /// The bucket of a lane that is not inline, and its index there.
    pub(super) fn bucket_offset(self) -> (usize, usize) {
        let id = self.id();
        let group = id / FIRST_BUCKET + 1;
        let bucket = (usize::BITS - 1 - group.leading_zeros()) as usize;
        (bucket, id + FIRST_BUCKET - (FIRST_BUCKET << bucket))
    }

    /// This lane as an inline one, if it is one of the first [`FIRST_BUCKET`] (the threads of
    /// a typical process).
    #[inline(always)]
    pub(crate) fn inline(self) -> Option<InlineLane> {
        let id = self.id();
        (id < FIRST_BUCKET).then_some(InlineLane(id))
    }
}

/// The lanes in use and those given back (reused lowest first).
pub(super) struct LanePool {
    pub(super) next: usize,
    pub(super) free: BinaryHeap<Reverse<usize>>,
}

pub(super) static LANES: Mutex<LanePool> = Mutex::new(LanePool {
    next: 0,
    free: BinaryHeap::new(),
});

/// A thread's lane, given back to the pool when the thread exits. The pool's mutex orders the
/// old owner's last writes before the new owner's first ones.
pub(super) struct LaneGuard {
    pub(super) id: usize,
    pub(super) lane: Option<Lane>,
}

impl LaneGuard {
    pub(super) fn take() -> LaneGuard {
        let mut pool = LANES.lock().unwrap_or_else(|p| p.into_inner());
        let id = match pool.free.pop() {
            Some(Reverse(id)) => id,
            None => {
                pool.next += 1;
                pool.next - 1
            }
        };
        LaneGuard {
            id,
            lane: Lane::of(id),
        }
    }
}

impl Drop for LaneGuard {
    fn drop(&mut self) {
        // Forget the lane before another thread can take it (a call later in this thread's
        // teardown then finds no lane).
        LANE_ID.with(|c| c.set(0));
        let mut pool = LANES.lock().unwrap_or_else(|p| p.into_inner());
        pool.free.push(Reverse(self.id));
    }
}

thread_local! {
    static LANE: LaneGuard = LaneGuard::take();
    /// This thread's lane once [`LANE`] has one (`0`: not looked up yet, or given back): a
    /// constant-initialised thread-local without a destructor, so reading it is one load,
    /// where [`LANE`] (lazily taken, given back on exit) costs a call and a state check.
    static LANE_ID: Cell<u32> = const { Cell::new(0) };
}

/// This thread's lane; `None` while its thread-locals are being torn down.
#[inline]
pub(crate) fn lane() -> Option<Lane> {
    match NonZeroU32::new(LANE_ID.with(Cell::get)) {
        Some(n) => Some(Lane(n)),
        None => lane_slow(),
    }
}

/// [`lane`] the first time on this thread (or during its teardown).
#[cold]
#[inline(never)]
fn lane_slow() -> Option<Lane> {
    let lane = LANE.try_with(|g| g.lane).ok().flatten()?;
    // Not during teardown: the guard is alive (`try_with` succeeded), and its drop clears
    // this before giving the lane back.
    LANE_ID.with(|c| c.set(lane.0.get()));
    Some(lane)
}

/// One `T` per lane, each written only by its lane's thread: the first lanes inline, the rest
/// in buckets of growing size allocated on first use (and freed with `self`).
pub(crate) struct Lanes<T> {
    pub(super) first: [T; FIRST_BUCKET],
    /// Bucket `b >= 1`: `FIRST_BUCKET << b` values.
    pub(super) more: [AtomicPtr<T>; LANE_BUCKETS],
}

impl<T: Default> Default for Lanes<T> {
    fn default() -> Self {
        Lanes {
            first: std::array::from_fn(|_| T::default()),
            more: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
        }
    }
}

impl<T: Default> Lanes<T> {
    #[inline(always)]
    pub(crate) fn inline(&self, lane: InlineLane) -> &T {
        &self.first[lane.0]
    }

    #[inline(always)]
    pub(crate) fn get(&self, lane: Lane) -> &T {
        if let Some(inline) = lane.inline() {
            return self.inline(inline);
        }
        self.outer(lane)
    }

    /// The value of a lane that is not inline.
    #[inline(never)]
    pub(super) fn outer(&self, lane: Lane) -> &T {
        let (b, offset) = lane.bucket_offset();
        debug_assert!(b < LANE_BUCKETS);
        let p = self.more[b % LANE_BUCKETS].load(Ordering::Acquire);
        if p.is_null() {
            return self.grow(lane);
        }
        // SAFETY: a non-null bucket pointer is a live allocation of `FIRST_BUCKET << b` values
        // (freed only when `self` drops) and `offset` is below that (`Lane::bucket_offset`).
        unsafe { &*p.add(offset) }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn grow(&self, lane: Lane) -> &T {
        let (b, offset) = lane.bucket_offset();
        let b = b % LANE_BUCKETS;
        let fresh: Box<[T]> = (0..FIRST_BUCKET << b).map(|_| T::default()).collect();
        let fresh = Box::into_raw(fresh) as *mut T;
        let p = match self.more[b].compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` was leaked just above and never published.
                drop(unsafe {
                    Box::from_raw(std::ptr::slice_from_raw_parts_mut(fresh, FIRST_BUCKET << b))
                });
                winner
            }
        };
        // SAFETY: as in `outer`.
        unsafe { &*p.add(offset) }
    }
}

impl<T> Lanes<T> {
    /// Every lane's value (of the buckets allocated so far).
    pub(super) fn for_each(&self, mut f: impl FnMut(&T)) {
        self.first.iter().for_each(&mut f);
        for (b, p) in self.more.iter().enumerate().skip(1) {
            let p = p.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: as in `outer`: a live allocation of `FIRST_BUCKET << b` values.
                unsafe { std::slice::from_raw_parts(p, FIRST_BUCKET << b) }
                    .iter()
                    .for_each(&mut f);
            }
        }
    }
}

impl<T> Drop for Lanes<T> {
    fn drop(&mut self) {
        for (b, p) in self.more.iter_mut().enumerate().skip(1) {
            let p = *p.get_mut();
            if !p.is_null() {
                // SAFETY: `p` came from `Box::into_raw` of `FIRST_BUCKET << b` values (`grow`)
                // and nothing else frees it.
                drop(unsafe {
                    Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, FIRST_BUCKET << b))
                });
            }
        }
    }
}
