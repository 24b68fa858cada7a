//! The keys an iteration touches, as a loop's key function names them.
//!
//! A key function returns one entry per container of the loop, in the order of the containers'
//! tuple: a single key (`r.user`), several (`[a, b]`, a `Vec`), none (`()` for an accumulator, or
//! `None`). The runtime turns each key into a 64-bit code: the index for a [`crate::DVector`], a
//! fixed hash for a [`crate::DMap`].

/// The keys one iteration touches in one container whose keys have type `K`.
///
/// The implementations are inlined into the loop that runs the body: it asks for the keys of
/// every iteration (to prefetch their elements), and a call per key cost as much as the
/// prefetch saved (LDA on one worker: about 5% of a sweep).
pub trait KeyList<K> {
    /// Calls `f` on every key.
    fn for_each_key(&self, f: &mut dyn FnMut(&K));
}

macro_rules! single_key {
    ($($t:ty),*) => {$(
        impl KeyList<$t> for $t {
            #[inline(always)]
            fn for_each_key(&self, f: &mut dyn FnMut(&$t)) { f(self) }
        }
    )*};
}
single_key!(usize, u32, u64, i32, i64, String);

/// Vector indices stored as `u32` (compact data records) name `usize` keys directly.
impl KeyList<usize> for u32 {
    #[inline(always)]
    fn for_each_key(&self, f: &mut dyn FnMut(&usize)) {
        f(&(*self as usize))
    }
}

impl<K, const N: usize> KeyList<K> for [K; N] {
    #[inline(always)]
    fn for_each_key(&self, f: &mut dyn FnMut(&K)) {
        self.iter().for_each(f)
    }
}

impl<K> KeyList<K> for Vec<K> {
    #[inline(always)]
    fn for_each_key(&self, f: &mut dyn FnMut(&K)) {
        self.iter().for_each(f)
    }
}

impl<K> KeyList<K> for &[K] {
    #[inline(always)]
    fn for_each_key(&self, f: &mut dyn FnMut(&K)) {
        self.iter().for_each(f)
    }
}

impl<K> KeyList<K> for Option<K> {
    #[inline(always)]
    fn for_each_key(&self, f: &mut dyn FnMut(&K)) {
        self.iter().for_each(f)
    }
}

/// An accumulator has no keys: `()`.
impl KeyList<()> for () {
    #[inline(always)]
    fn for_each_key(&self, _f: &mut dyn FnMut(&())) {}
}
