//! Facts about this machine that the capacity checks compare: free disk and
//! CPUs. A server elsewhere keeps its own: the checks say "not visible".

/// Bytes free to an unprivileged writer on the filesystem holding `dir`.
pub fn free_bytes(dir: &str) -> Option<u64> {
    let path = std::ffi::CString::new(dir).ok()?;
    // SAFETY: statvfs fills the struct we own; the path is a valid C string.
    unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(path.as_ptr(), &mut stat) == 0)
            .then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
    }
}

/// CPUs this process may use.
pub fn cpus() -> Option<usize> {
    std::thread::available_parallelism().ok().map(|n| n.get())
}

/// What a check shows for a server's CPUs: this machine's count for a local
/// server, `not visible` otherwise.
pub fn cpus_of(local: bool) -> String {
    match cpus() {
        Some(n) if local => n.to_string(),
        _ => "not visible".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_disk_and_cpus() {
        assert!(free_bytes("/").is_some());
        assert!(free_bytes("/no/such/dir").is_none());
        assert!(cpus().unwrap() >= 1);
        assert_eq!(cpus_of(false), "not visible");
    }
}
