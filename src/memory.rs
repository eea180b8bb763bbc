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
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag of this process.
    let result = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if result != 0 {
        tracing::debug!(
            "transparent huge pages stay on: prctl(PR_SET_THP_DISABLE) failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_runs_without_transparent_huge_pages() {
        super::disable_transparent_huge_pages();
        // SAFETY: PR_GET_THP_DISABLE takes plain integers and only reads a flag.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1);
    }
}
