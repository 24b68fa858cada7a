//! Prefetching the elements upcoming iterations will touch.
//!
//! A loop with a key function tells the runtime, before an iteration runs, which elements it will
//! touch; the rows of a factor matrix or a count table are read at random, and on SGD matrix
//! factorisation waiting for them was about 40% of an epoch. So while iteration `n` runs, the
//! runtime asks the CPU to bring in the elements of iteration `n + PREFETCH_DISTANCE`
//! ([`crate::parallel::run_items`]). A sequential program would need this written by hand at every
//! loop; here the key function the user gave for scheduling pays for it too. It runs once more per
//! iteration for this, on the item as it is 8 iterations early: a key function should be cheap and
//! name keys the body's own writes to the item do not change (a stale key only wastes a hint).

/// How many iterations ahead the elements are requested: enough to cover a memory access (about
/// 100 ns) with iterations of 10-30 ns, not so many that the lines are evicted before use.
pub(crate) const PREFETCH_DISTANCE: usize = 8;

/// Asks the CPU to bring the cache lines of `*value` into its caches, for reading.
///
/// Only a hint: it reads nothing, cannot fault and changes no result. Values that own heap
/// memory are skipped (see the body); a body can name their data with [`prefetch_slice`].
#[inline(always)]
pub(crate) fn prefetch_value<T>(value: &T) {
    // A value that owns heap memory (a `Vec` row, as in LDA's count tables) holds a pointer to
    // its data: its own lines are the pointer, and asking for them cost ~20 instructions per
    // iteration for nothing (callgrind, lda_ap on one worker: 4% of its instructions). Known at
    // compile time, so such loops carry no prefetch code at all.
    if std::mem::needs_drop::<T>() {
        return;
    }
    let start = (value as *const T).cast::<u8>();
    let mut offset = 0;
    // Every line the value spans (a rank-10 factor row with its penalty, 88 bytes, spans two).
    while offset < std::mem::size_of::<T>().max(1) {
        prefetch_line(start.wrapping_add(offset));
        offset += 64;
    }
}

/// Asks the CPU to bring every cache line of `values` into its caches, for reading: for a body
/// that knows which rows it reads next and what they point to (a key function names the element,
/// whose heap data [`prefetch_value`] cannot see).
///
/// Only a hint: it reads nothing, cannot fault and changes no result.
#[inline(always)]
pub fn prefetch_slice<T>(values: &[T]) {
    let start = values.as_ptr().cast::<u8>();
    let mut offset = 0;
    while offset < std::mem::size_of_val(values) {
        prefetch_line(start.wrapping_add(offset));
        offset += 64;
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch_line(line: *const u8) {
    // SAFETY: `_mm_prefetch` is a hint that never dereferences its address (an invalid one is
    // ignored, not faulted), and SSE is part of the x86_64 baseline. It is `unsafe` only because
    // it is a `#[target_feature]` intrinsic.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.cast::<i8>());
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn prefetch_line(_line: *const u8) {}
