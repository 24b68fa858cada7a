//! Cache prefetch hints, for kernels that know which memory they will read a few steps ahead.
//!
//! Samplers and sweeps over big count tables wait on random reads from memory. Reading those
//! addresses early (a "touch") stalls the core once the out-of-order window fills up behind the
//! first miss; a prefetch instruction retires at once, so the misses of many upcoming steps
//! overlap. Measured on the LDA Metropolis-Hastings sampler at K = 1000: loads 8 tokens ahead
//! -> prefetches, user CPU per iteration about halved, the same chain bit for bit.
//!
//! This module holds the workspace's one `unsafe` prefetch intrinsic call; STRADS-AP's runtime
//! (`strads_ap`) builds its element prefetches on it.

/// Asks the CPU to bring the cache line holding `*value` into its caches, for reading.
///
/// Only a hint: it reads nothing, cannot fault and changes no result.
#[inline(always)]
pub fn prefetch_read<T>(value: &T) {
    prefetch_line((value as *const T).cast::<u8>());
}

/// Asks the CPU to bring every cache line of `values` into its caches, for reading.
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

/// Asks the CPU to bring the cache line holding `line` into its caches. Any address may be
/// given: the hint never dereferences it (an invalid address is ignored, not faulted).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
pub fn prefetch_line(line: *const u8) {
    // SAFETY: `_mm_prefetch` is a hint that never dereferences its address (an invalid one is
    // ignored, not faulted), and SSE is part of the x86_64 baseline. It is `unsafe` only because
    // it is a `#[target_feature]` intrinsic taking a raw pointer.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.cast::<i8>());
    }
}

/// On other architectures the hint is dropped.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn prefetch_line(_line: *const u8) {}
