//! How a parameter's changes merge: [`Delta`], the element types of containers written by
//! synchronous loops and of accumulators.
//!
//! A worker's change of an element over a step is `after.delta(&before)`; the runtime merges every
//! worker's changes by applying them to the step's starting value in worker order. For numbers that
//! is the sum of the changes (integers with wrapping arithmetic, so that unsigned counts may go
//! down by a step and up by another: the merged result is exact). A type merges differently by
//! implementing this trait differently.

use std::collections::HashMap;
use std::hash::Hash;

/// A value whose changes can be taken and merged.
pub trait Delta: Clone {
    /// The change from `before` to `self`.
    fn delta(&self, before: &Self) -> Self;
    /// Applies a change made by some worker.
    fn apply(&mut self, delta: &Self);
    /// `*before = self.delta(before)`, reusing `before`'s storage (the runtime keeps the saved
    /// values of a step's writes and turns them into the step's changes in place).
    fn delta_into(&self, before: &mut Self) {
        *before = self.delta(before);
    }
    /// `*self = self.delta(before)`, reusing `self`'s storage (a replica that merges every step
    /// turns its written values into the step's changes in place).
    fn delta_from(&mut self, before: &Self) {
        *self = self.delta(before);
    }
}

macro_rules! float_delta {
    ($($t:ty),*) => {$(
        impl Delta for $t {
            fn delta(&self, before: &Self) -> Self { self - before }
            fn apply(&mut self, delta: &Self) { *self += delta }
        }
    )*};
}
float_delta!(f32, f64);

macro_rules! integer_delta {
    ($($t:ty),*) => {$(
        impl Delta for $t {
            fn delta(&self, before: &Self) -> Self { self.wrapping_sub(*before) }
            fn apply(&mut self, delta: &Self) { *self = self.wrapping_add(*delta) }
        }
    )*};
}
integer_delta!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

/// Element by element. Vectors must keep their length inside a loop: a changed length is a
/// programming error and panics with both lengths.
impl<T: Delta> Delta for Vec<T> {
    fn delta(&self, before: &Self) -> Self {
        assert_eq!(
            self.len(),
            before.len(),
            "a vector element changed its length inside a loop"
        );
        self.iter().zip(before).map(|(a, b)| a.delta(b)).collect()
    }
    fn delta_into(&self, before: &mut Self) {
        assert_eq!(
            self.len(),
            before.len(),
            "a vector element changed its length inside a loop"
        );
        for (a, b) in self.iter().zip(before.iter_mut()) {
            a.delta_into(b);
        }
    }
    fn delta_from(&mut self, before: &Self) {
        assert_eq!(
            self.len(),
            before.len(),
            "a vector element changed its length inside a loop"
        );
        for (a, b) in self.iter_mut().zip(before) {
            a.delta_from(b);
        }
    }
    fn apply(&mut self, delta: &Self) {
        assert_eq!(
            self.len(),
            delta.len(),
            "a change does not match the vector's length"
        );
        for (a, d) in self.iter_mut().zip(delta) {
            a.apply(d);
        }
    }
}

impl<T: Delta, const N: usize> Delta for [T; N] {
    fn delta(&self, before: &Self) -> Self {
        std::array::from_fn(|i| self[i].delta(&before[i]))
    }
    fn apply(&mut self, delta: &Self) {
        for (a, d) in self.iter_mut().zip(delta) {
            a.apply(d);
        }
    }
}

impl<A: Delta, B: Delta> Delta for (A, B) {
    fn delta(&self, before: &Self) -> Self {
        (self.0.delta(&before.0), self.1.delta(&before.1))
    }
    fn apply(&mut self, delta: &Self) {
        self.0.apply(&delta.0);
        self.1.apply(&delta.1);
    }
}

impl<A: Delta, B: Delta, C: Delta> Delta for (A, B, C) {
    fn delta(&self, before: &Self) -> Self {
        (
            self.0.delta(&before.0),
            self.1.delta(&before.1),
            self.2.delta(&before.2),
        )
    }
    fn apply(&mut self, delta: &Self) {
        self.0.apply(&delta.0);
        self.1.apply(&delta.1);
        self.2.apply(&delta.2);
    }
}

/// Key by key; a key missing on one side counts as `V::default()`.
impl<K: Hash + Eq + Clone, V: Delta + Default> Delta for HashMap<K, V> {
    fn delta(&self, before: &Self) -> Self {
        let zero = V::default();
        self.iter()
            .map(|(k, v)| (k.clone(), v.delta(before.get(k).unwrap_or(&zero))))
            .collect()
    }
    fn apply(&mut self, delta: &Self) {
        for (k, d) in delta {
            self.entry(k.clone()).or_default().apply(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_counts_merge_exactly_through_wrapping() {
        // Two workers start from 5: one takes 3 away, the other adds 1.
        let start = 5u32;
        let (a, b) = (2u32, 6u32);
        let mut merged = start;
        merged.apply(&a.delta(&start));
        merged.apply(&b.delta(&start));
        assert_eq!(merged, 3);
    }

    #[test]
    fn vectors_and_maps_merge_element_by_element() {
        let start = vec![1.0, 2.0];
        let mut merged = start.clone();
        merged.apply(&vec![1.5, 2.0].delta(&start));
        merged.apply(&vec![1.0, 4.0].delta(&start));
        assert_eq!(merged, vec![1.5, 4.0]);
        let before: HashMap<&str, i64> = [("a", 1)].into();
        let after: HashMap<&str, i64> = [("a", 3), ("b", 2)].into();
        let mut merged = before.clone();
        merged.apply(&after.delta(&before));
        assert_eq!(merged, after);
    }
}
