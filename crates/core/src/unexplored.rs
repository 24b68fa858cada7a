//! The set of coordinates the priority scheduler has never received a change report for.
//!
//! All of them share one weight, so they are kept outside the sum tree as an indexed set: drawing
//! one uniformly is O(1), and raising their common weight is O(1) instead of O(n log n).
//! Members are split into an *available* prefix and a *taken this round* suffix, so a round can
//! draw several distinct members without replacement and then put them all back in O(1).

/// Marks a coordinate that is not a member.
const ABSENT: u32 = u32::MAX;

/// Indexed set of unexplored coordinates with an available / taken-this-round split.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct UnexploredPool {
    /// Members; `members[..available]` may be drawn, `members[available..]` were taken this round.
    members: Vec<u32>,
    /// `position[j]` is the index of `j` in `members`, or `ABSENT`.
    position: Vec<u32>,
    /// Length of the available prefix.
    available: usize,
}

impl UnexploredPool {
    /// A pool holding every coordinate in `0..n`.
    pub(crate) fn full(n: usize) -> Self {
        // The scheduler limits n to u32::MAX, so positions stay below `ABSENT`.
        Self {
            members: (0..n as u32).collect(),
            position: (0..n as u32).collect(),
            available: n,
        }
    }

    /// Members that can still be drawn this round.
    pub(crate) fn available(&self) -> usize {
        self.available
    }

    /// Whether `j` is a member that can still be drawn this round.
    pub(crate) fn is_available(&self, j: u32) -> bool {
        let p = self.position[j as usize];
        p != ABSENT && (p as usize) < self.available
    }

    /// Moves the available member at `index` (in `0..available()`) to the taken suffix and returns it.
    pub(crate) fn take_at(&mut self, index: usize) -> u32 {
        debug_assert!(index < self.available);
        let last = self.available - 1;
        self.swap(index, last);
        self.available = last;
        self.members[last]
    }

    /// Moves the available member `j` to the taken suffix.
    pub(crate) fn take(&mut self, j: u32) {
        debug_assert!(self.is_available(j));
        self.take_at(self.position[j as usize] as usize);
    }

    /// Makes every member available again (end of a round).
    pub(crate) fn restore(&mut self) {
        self.available = self.members.len();
    }

    /// Removes every member for good. Only valid between rounds.
    pub(crate) fn clear(&mut self) {
        for &j in &self.members {
            self.position[j as usize] = ABSENT;
        }
        self.members.clear();
        self.available = 0;
    }

    /// Removes `j` for good if it is a member. Only valid between rounds (all members available).
    pub(crate) fn remove(&mut self, j: u32) {
        debug_assert_eq!(self.available, self.members.len());
        let p = self.position[j as usize];
        if p == ABSENT {
            return;
        }
        let last = self.members.len() - 1;
        self.swap(p as usize, last);
        self.members.pop();
        self.position[j as usize] = ABSENT;
        self.available = self.members.len();
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.members.swap(a, b);
        self.position[self.members[a] as usize] = a as u32;
        self.position[self.members[b] as usize] = b as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_restore_remove_keep_the_index_consistent() {
        let mut pool = UnexploredPool::full(5);
        pool.take(3);
        assert!(!pool.is_available(3));
        assert_eq!(pool.available(), 4);
        let j = pool.take_at(0);
        assert_ne!(j, 3);
        assert_eq!(pool.available(), 3);
        pool.restore();
        assert!(pool.is_available(3) && pool.is_available(j));
        pool.remove(3);
        pool.remove(3);
        assert!(!pool.is_available(3));
        assert_eq!(pool.available(), 4);
        for k in [0, 1, 2, 4] {
            assert!(pool.is_available(k));
        }
    }
}
