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

/// Asks the CPU to bring the cache lines of `*value` into its caches, for reading; for a value
/// that owns heap memory, the first lines of the memory it points to.
///
/// Only a hint: it changes no result and cannot fault.
#[inline(always)]
pub(crate) fn prefetch_value<T>(value: &T) {
    let start = (value as *const T).cast::<u8>();
    if std::mem::needs_drop::<T>() {
        // A value that owns heap memory (a `Vec` row, as in LDA's count tables) is mostly a
        // pointer to its data, and the data is what the iteration will wait for: on LDA with
        // rotated word rows, the rows' data arrives from the other core's cache, once per
        // word per sub-round. Rust cannot say generically where a value's heap data is, so its
        // words are read as they are and those that look like heap addresses are prefetched,
        // as a conservative garbage collector scans for pointers. A wrong guess wastes a hint;
        // nothing is dereferenced. Small values only: a row's header, not a large struct.
        if std::mem::size_of::<T>() <= 64 && std::mem::align_of::<T>() >= 8 {
            let words = start.cast::<usize>();
            for i in 0..std::mem::size_of::<T>() / 8 {
                let word = load_word(words.wrapping_add(i));
                if looks_like_heap_address(word) {
                    for line in 0..HEAP_LINES {
                        prefetch_line((word as *const u8).wrapping_add(64 * line));
                    }
                }
            }
        }
        return;
    }
    let mut offset = 0;
    // Every line the value spans (a rank-10 factor row with its penalty, 88 bytes, spans two).
    while offset < std::mem::size_of::<T>().max(1) {
        prefetch_line(start.wrapping_add(offset));
        offset += 64;
    }
}

/// Lines prefetched from each heap address a value holds: a K = 50 row of `u32` counts is four.
const HEAP_LINES: usize = 4;

/// Heap blocks lie in the canonical user half of the address space, above the first 64 KiB;
/// lengths, capacities, small integers, most floats and empty `Vec`s' dangling pointers fall
/// outside. (Requiring 16-byte alignment as well, as malloc's blocks have, made LDA on two
/// workers 5% slower, unexplained; a stray hint costs less than a lost one.)
#[inline(always)]
fn looks_like_heap_address(word: usize) -> bool {
    (1 << 16..1 << 47).contains(&word)
}

/// The word at `at`, read by the CPU without the language's rules on what the bytes hold (a
/// value's padding is uninitialised, which a Rust load may not read).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn load_word(at: *const usize) -> usize {
    let word: usize;
    // SAFETY: `at` lies inside a live value of at least 8 bytes aligned to 8 (checked by the
    // caller), so the load is in bounds and aligned; an asm load may read any initialised or
    // uninitialised byte, and the result is used only as a prefetch hint.
    unsafe {
        std::arch::asm!(
            "mov {word}, qword ptr [{at}]",
            at = in(reg) at,
            word = lateout(reg) word,
            options(nostack, readonly, preserves_flags, pure),
        );
    }
    word
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn load_word(_at: *const usize) -> usize {
    0
}

/// Asks the CPU to bring every cache line of `values` into its caches, for reading: for a body
/// that knows which rows it reads next, beyond what the key function names (the runtime sees
/// the first lines of an element's heap data only).
///
/// Only a hint: it reads nothing, cannot fault and changes no result.
pub use strads_core::prefetch::prefetch_slice;

use strads_core::prefetch::prefetch_line;
