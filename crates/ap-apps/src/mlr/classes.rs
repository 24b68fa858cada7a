//! [`ClassMap`]: the distinct labels of the training data, in increasing order; class `k` is the
//! `k`-th label.

use serde::{Deserialize, Serialize};

/// The labels of the classes, sorted and distinct.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassMap {
    labels: Vec<i64>,
}

impl ClassMap {
    /// The classes of these labels (any order, repeats allowed).
    pub fn from_labels(labels: impl IntoIterator<Item = i64>) -> Self {
        let mut labels: Vec<i64> = labels.into_iter().collect();
        labels.sort_unstable();
        labels.dedup();
        ClassMap { labels }
    }

    /// The labels, class 0 first.
    pub fn labels(&self) -> &[i64] {
        &self.labels
    }

    /// Number of classes `K`.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no class.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The class of `label`, if it is one of the labels.
    pub fn class_of(&self, label: i64) -> Option<u32> {
        self.labels.binary_search(&label).ok().map(|k| k as u32)
    }

    /// The label of class `class`.
    pub fn label_of(&self, class: usize) -> i64 {
        self.labels[class]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_map_to_classes_in_sorted_order() {
        let classes = ClassMap::from_labels([7, 3, -1, 7, 3]);
        assert_eq!(classes.labels(), &[-1, 3, 7]);
        assert_eq!(classes.class_of(7), Some(2));
        assert_eq!(classes.class_of(-1), Some(0));
        assert_eq!(classes.class_of(5), None);
        assert_eq!(classes.label_of(1), 3);
    }
}
