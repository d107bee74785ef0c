//! glibc heap tuning for a long-running daemon. Each thread that allocates
//! gets its own malloc arena by default (8 × cores of them), and the tokio
//! blocking pool has many threads: memory freed after a backlog stays
//! scattered over those arenas. Two arenas and a trim when the daemon goes
//! idle give the memory back. No-ops elsewhere than Linux/glibc.

/// Cap the number of malloc arenas (call once, before threads start).
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Return free heap memory to the operating system.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only releases memory that is already free.
    unsafe {
        libc::malloc_trim(0);
    }
}
