//! A ring of provided buffers registered with io_uring: the kernel takes a free buffer for
//! each datagram it receives, and we give it back once the sink has read it.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

pub(crate) struct BufferRing {
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    memory: *mut u8,
    memory_layout: Layout,
    buffer_bytes: usize,
    count: u16,
    tail: u16,
    leaked: bool,
}

impl BufferRing {
    /// Allocates `count` (a power of two) buffers of `buffer_bytes` and registers them as
    /// buffer group `group` of `ring`.
    pub(crate) fn register(
        ring: &IoUring,
        group: u16,
        count: u16,
        buffer_bytes: usize,
    ) -> io::Result<BufferRing> {
        if !count.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the buffer count must be a power of two",
            ));
        }
        let page = 4096;
        let entries_layout = Layout::from_size_align(
            usize::from(count) * std::mem::size_of::<BufRingEntry>(),
            page,
        )
        .map_err(io::Error::other)?;
        let memory_layout = Layout::from_size_align(usize::from(count) * buffer_bytes, page)
            .map_err(io::Error::other)?;
        // SAFETY: both layouts have a non-zero size (count ≥ 1, buffer_bytes > 0).
        let entries = unsafe { alloc_zeroed(entries_layout) }.cast::<BufRingEntry>();
        // SAFETY: as above.
        let memory = unsafe { alloc_zeroed(memory_layout) };
        if entries.is_null() || memory.is_null() {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "cannot allocate io_uring receive buffers",
            ));
        }
        let mut buffers = BufferRing {
            entries,
            entries_layout,
            memory,
            memory_layout,
            buffer_bytes,
            count,
            tail: 0,
            leaked: false,
        };
        // SAFETY: `entries` is page-aligned memory for `count` entries that lives until
        // `Drop`, after the group is unregistered by the ring's owner.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries as u64, count, group, 0)?;
        }
        for buffer_id in 0..count {
            buffers.recycle(buffer_id);
        }
        buffers.publish();
        Ok(buffers)
    }

    /// The first `length` bytes the kernel wrote into a buffer it handed back.
    pub(crate) fn filled(&self, buffer_id: u16, length: usize) -> &[u8] {
        let buffer_id = usize::from(buffer_id % self.count);
        let length = length.min(self.buffer_bytes);
        // SAFETY: the buffer lies inside `memory`; the kernel finished writing it (its
        // completion was seen) and does not own it again until `recycle` and `publish`.
        unsafe {
            std::slice::from_raw_parts(self.memory.add(buffer_id * self.buffer_bytes), length)
        }
    }

    /// Queues a buffer to be given back; the kernel sees it after `publish`.
    pub(crate) fn recycle(&mut self, buffer_id: u16) {
        let buffer_id = buffer_id % self.count;
        let position = usize::from(self.tail & (self.count - 1));
        // SAFETY: `position` < count, inside the entries allocation; the kernel reads entries
        // only up to the published tail, and this one is past it.
        let entry = unsafe { &mut *self.entries.add(position) };
        // SAFETY: the address is inside `memory`.
        let address = unsafe { self.memory.add(usize::from(buffer_id) * self.buffer_bytes) };
        entry.set_addr(address as u64);
        entry.set_len(self.buffer_bytes as u32);
        entry.set_bid(buffer_id);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every recycled buffer visible to the kernel.
    pub(crate) fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the registered ring; the kernel
        // reads it with acquire ordering, so a release store publishes the entries above.
        unsafe {
            let tail = BufRingEntry::tail(self.entries)
                .cast_mut()
                .cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Never frees the memory (the kernel may still write into it).
    pub(crate) fn leak(&mut self) {
        self.leaked = true;
    }
}

impl Drop for BufferRing {
    fn drop(&mut self) {
        if self.leaked {
            return;
        }
        // SAFETY: allocated in `register` with these layouts, freed once.
        unsafe {
            dealloc(self.entries.cast(), self.entries_layout);
            dealloc(self.memory, self.memory_layout);
        }
    }
}
