//! A vector whose elements share no cache line with any other allocation.
//!
//! Each worker thread keeps small arrays it writes for every token or rating (LDA's topic totals
//! and the sampler's per-topic coefficients). A small `Vec` can sit in the same 64-byte line as
//! another thread's small `Vec` (it did: one worker's topic totals and the other's coefficients,
//! 400 bytes apart), and then every write by one core invalidates the other's copy: `strads lda`
//! on two threads of one process ran no faster than on one, while two processes ran 1.7x faster.
//! Guard elements before and after the data keep any other allocation at least a line away.

use std::ops::{Deref, DerefMut};

/// The bytes of a cache line on the machines we run on (x86-64, most aarch64).
const CACHE_LINE: usize = 64;

/// A growable array of `T` with a cache line of unused elements on each side.
#[derive(Clone, Debug, Default)]
pub struct PaddedVec<T> {
    /// `pad` guards, the `len` elements, `pad` guards.
    buf: Vec<T>,
    len: usize,
}

impl<T: Copy + Default> PaddedVec<T> {
    /// Guard elements on each side: a line's worth.
    fn pad() -> usize {
        CACHE_LINE.div_ceil(std::mem::size_of::<T>().max(1))
    }

    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Self {
        let mut v = PaddedVec::default();
        v.resize(len, value);
        v
    }

    /// Sets the length to `len`, new elements `value` (as `Vec::resize`).
    pub fn resize(&mut self, len: usize, value: T) {
        let pad = Self::pad();
        if self.buf.is_empty() {
            self.buf.resize(pad, T::default());
        }
        self.buf.truncate(pad + self.len);
        self.buf.resize(pad + len, value);
        self.buf.resize(pad + len + pad, T::default());
        self.len = len;
    }

    /// Removes every element.
    pub fn clear(&mut self) {
        self.resize(0, T::default());
    }

    /// Appends `value`.
    pub fn push(&mut self, value: T) {
        self.resize(self.len + 1, value);
    }

    /// Replaces the elements by `values`.
    pub fn assign(&mut self, values: impl IntoIterator<Item = T>) {
        let pad = Self::pad();
        self.clear();
        self.buf.truncate(pad);
        self.buf.extend(values);
        self.len = self.buf.len() - pad;
        self.buf.resize(pad + self.len + pad, T::default());
    }
}

impl<T: Copy + Default> Deref for PaddedVec<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        if self.buf.is_empty() {
            return &[];
        }
        let pad = Self::pad();
        &self.buf[pad..pad + self.len]
    }
}

impl<T: Copy + Default> DerefMut for PaddedVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        if self.buf.is_empty() {
            return &mut [];
        }
        let pad = Self::pad();
        &mut self.buf[pad..pad + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_vec_with_a_line_of_guards_on_each_side() {
        let mut v: PaddedVec<f64> = PaddedVec::filled(3, 1.5);
        assert_eq!(&v[..], &[1.5, 1.5, 1.5]);
        v.push(2.0);
        v[0] = 7.0;
        assert_eq!(&v[..], &[7.0, 1.5, 1.5, 2.0]);
        v.resize(2, 0.0);
        assert_eq!(&v[..], &[7.0, 1.5]);
        v.resize(3, 9.0);
        assert_eq!(&v[..], &[7.0, 1.5, 9.0]);
        v.assign([4.0, 5.0]);
        assert_eq!(&v[..], &[4.0, 5.0]);
        v.clear();
        assert!(v.is_empty());
        // The data start and end at least a line inside the allocation.
        let v: PaddedVec<u16> = PaddedVec::filled(5, 3);
        let (start, data) = (v.buf.as_ptr() as usize, v.as_ptr() as usize);
        assert!(data - start >= CACHE_LINE);
        let end = start + v.buf.len() * 2;
        assert!(end - (data + v.len() * 2) >= CACHE_LINE);
        assert!(PaddedVec::<u8>::default().is_empty());
    }
}
