//! Exact alias tables over integer weights (the MH word proposal draws from them in O(1)).

use super::FastRng;

/// An alias table (Walker / Vose) over integer weights, exact: entry `i` is drawn with
/// probability `weight_i / total`.
///
/// Bin `b` holds `topic[b]` with integer threshold `cut[b]` out of `total` and `alias[b]` above it.
#[derive(Clone, Debug, Default)]
pub struct AliasTable {
    topic: Vec<u32>,
    alias: Vec<u32>,
    cut: Vec<u64>,
    total: u64,
    small: Vec<(u32, u64)>,
    large: Vec<(u32, u64)>,
}

impl AliasTable {
    /// Rebuilds the table over `(topic, weight)` pairs with positive weights, reusing its buffers.
    pub fn rebuild(&mut self, entries: impl Iterator<Item = (u32, u64)>) {
        self.topic.clear();
        self.alias.clear();
        self.cut.clear();
        self.small.clear();
        self.large.clear();
        let mut total = 0u64;
        let mut count = 0u64;
        for (topic, weight) in entries {
            total += weight;
            count += 1;
            self.topic.push(topic);
            self.alias.push(topic);
            self.cut.push(0);
            self.small.push((topic, weight));
        }
        self.total = total;
        // Scaled weights: weight * count; a full bin holds `total`.
        let entries = std::mem::take(&mut self.small);
        for (bin, (_, weight)) in entries.iter().enumerate() {
            let scaled = weight * count;
            if scaled < total {
                self.small.push((bin as u32, scaled));
            } else {
                self.large.push((bin as u32, scaled));
            }
        }
        while let (Some(&(small, small_mass)), Some(&(large, large_mass))) =
            (self.small.last(), self.large.last())
        {
            self.small.pop();
            self.large.pop();
            self.cut[small as usize] = small_mass;
            self.alias[small as usize] = self.topic[large as usize];
            let rest = large_mass - (total - small_mass);
            if rest < total {
                self.small.push((large, rest));
            } else {
                self.large.push((large, rest));
            }
        }
        // What is left is full (up to nothing, in integers exactly).
        for &(bin, _) in self.small.iter().chain(&self.large) {
            self.cut[bin as usize] = total;
        }
    }

    /// The sum of the weights.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.topic.is_empty()
    }

    /// Draws a topic.
    #[inline]
    pub fn sample(&self, rng: &mut FastRng) -> u32 {
        let bin = rng.below(self.topic.len() as u64) as usize;
        if rng.below(self.total) < self.cut[bin] {
            self.topic[bin]
        } else {
            self.alias[bin]
        }
    }
}
