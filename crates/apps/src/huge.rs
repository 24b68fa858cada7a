//! Large arrays read at random positions, on transparent huge pages.
//!
//! LDA's sampler reads its count arrays at random positions, and matrix factorisation the other
//! side's factor rows, so with 4 KiB pages nearly every access also misses the TLB (and in a
//! virtual machine a page walk costs several memory accesses). Arrays are therefore anonymous
//! memory maps advised `MADV_HUGEPAGE` (2 MiB pages where the kernel allows), viewed as typed
//! slices through `bytemuck`. Where the advice is not supported the buffer is an ordinary zeroed
//! map, so results never depend on it.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use memmap2::{MmapMut, MmapOptions};

/// The size of a transparent huge page on x86-64 and most 64-bit Linux targets.
const HUGE_PAGE: usize = 2 << 20;

/// A zero-initialised array of plain numbers, backed by huge pages when possible.
pub struct HugeBuffer<T> {
    map: Option<MmapMut>,
    /// Byte offset of the array in the map: the first 2 MiB boundary, so that whole huge pages
    /// cover it.
    offset: usize,
    len: usize,
    _type: PhantomData<T>,
}

impl<T: bytemuck::Pod> HugeBuffer<T> {
    /// An empty array (no map).
    pub fn empty() -> Self {
        HugeBuffer {
            map: None,
            offset: 0,
            len: 0,
            _type: PhantomData,
        }
    }

    /// `len` zeros.
    pub fn zeroed(len: usize) -> std::io::Result<Self> {
        let bytes = len * std::mem::size_of::<T>();
        let mut offset = 0;
        let map = if bytes == 0 {
            None
        } else {
            // A huge page must be 2 MiB-aligned: map one more and start at the first boundary.
            let map = MmapOptions::new().len(bytes + HUGE_PAGE).map_anon()?;
            let address = map.as_ptr() as usize;
            offset = address.next_multiple_of(HUGE_PAGE) - address;
            #[cfg(target_os = "linux")]
            {
                // Only advice: a kernel without transparent huge pages keeps small pages.
                let _ = map.advise(memmap2::Advice::HugePage);
            }
            Some(map)
        };
        Ok(HugeBuffer {
            map,
            offset,
            len,
            _type: PhantomData,
        })
    }
}

impl<T: bytemuck::Pod> Deref for HugeBuffer<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.map {
            Some(map) => {
                let bytes = self.len * std::mem::size_of::<T>();
                bytemuck::cast_slice(&map[self.offset..self.offset + bytes])
            }
            None => &[],
        }
    }
}

impl<T: bytemuck::Pod> DerefMut for HugeBuffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.map {
            Some(map) => {
                let bytes = self.len * std::mem::size_of::<T>();
                bytemuck::cast_slice_mut(&mut map[self.offset..self.offset + bytes])
            }
            None => &mut [],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_start_at_zero_and_hold_values() {
        let mut buffer = HugeBuffer::<u32>::zeroed(1 << 20).unwrap();
        assert!(buffer.iter().all(|&x| x == 0));
        buffer[12345] = 7;
        assert_eq!(buffer[12345], 7);
        assert_eq!(buffer.len(), 1 << 20);
        let empty = HugeBuffer::<u16>::zeroed(0).unwrap();
        assert!(empty.is_empty());
    }
}
