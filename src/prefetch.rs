//! A hint to the CPU to start loading memory that a loop will need a few steps later.
//!
//! Passes over thousands of plugins visit objects scattered over the heap, and take a lock or
//! change a reference count on each: on x86 such an atomic operation waits for every earlier
//! load, so each object that is not in cache costs a full memory latency, one after the other.
//! Asking for the objects a few steps ahead lets those loads overlap.

/// Starts loading the cache line holding `*p`; a no-op where we have no prefetch instruction.
/// Never faults, whatever `p` is.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing into the program and never faults, even
    // for an invalid address.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p.cast::<i8>(), core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// How many steps ahead a pass over plugins asks for the memory it will need.
pub(crate) const AHEAD: usize = 8;

/// Starts loading the start of `arc`'s allocation: its reference counts (what a clone or a
/// drop changes) and the first bytes of the value.
#[inline(always)]
pub(crate) fn prefetch_arc<T: ?Sized>(arc: &std::sync::Arc<T>) {
    // Two `usize` counts precede the value (for values aligned to at most 16 bytes; for others
    // this is a hint a little off, which costs nothing).
    prefetch(std::sync::Arc::as_ptr(arc).cast::<u8>().wrapping_sub(16));
}
