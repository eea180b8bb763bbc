//! How this process asks the kernel for memory, set once before any role starts.

/// Turns transparent huge pages off for this process.
///
/// mimalloc advises the kernel to back its arenas with huge pages. The data plane hands each
/// batch's column buffers (most larger than 512 KiB, which mimalloc places in pages of their
/// own) from a receive worker to a spool writer that frees them, and the worker's next batch
/// takes fresh ones: with huge pages, the first touch of each faulted in and zeroed a whole
/// 2 MiB page. That was 28% of the receive worker's time in a NetFlow v9 drain; without huge
/// pages the same drain ran 2.8 times faster (docs/performance.md).
pub fn disable_transparent_huge_pages() {
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(
            "transparent huge pages stay on: prctl(PR_SET_THP_DISABLE) failed: {error}"
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_runs_without_transparent_huge_pages() {
        super::disable_transparent_huge_pages();
        let disabled = rustix::thread::transparent_huge_pages_are_disabled()
            .expect("prctl(PR_GET_THP_DISABLE)");
        assert!(disabled);
    }
}
