//! What Linux's `/proc` tells about a process: its memory (`/proc/PID/status`) and the time it
//! has spent on a CPU (`/proc/PID/schedstat`, nanoseconds, user and system together); and
//! raising this process's open-files limit so that thousands of clients fit in one process.

/// The value of a `kB` line of `/proc/PID/status` (`VmRSS`, `VmHWM`...), in KiB.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&text, key)
}

/// Nanoseconds process `pid` (its main thread) has run on a CPU so far.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn parse_status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Raises the soft limit on open files to at least `needed`, up to the hard limit.
pub fn raise_open_files(needed: u64) -> Result<(), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!(
            "cannot read the open-files limit: {}",
            std::io::Error::last_os_error()
        ));
    }
    if limit.rlim_cur >= needed {
        return Ok(());
    }
    if limit.rlim_max < needed {
        return Err(format!(
            "{needed} open files are needed but the hard limit is {} (raise it with ulimit -Hn)",
            limit.rlim_max
        ));
    }
    limit.rlim_cur = needed;
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(format!(
            "cannot raise the open-files limit to {needed}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_lines() {
        let text = "Name:\tconductor\nVmHWM:\t   5120 kB\nVmRSS:\t    4096 kB\n";
        assert_eq!(parse_status_kib(text, "VmHWM"), Some(5120));
        assert_eq!(parse_status_kib(text, "VmRSS"), Some(4096));
        assert_eq!(parse_status_kib(text, "VmSwap"), None);
    }

    #[test]
    fn this_process_has_a_resident_set_and_cpu_time() {
        // The main thread (which schedstat reports) has run before any test starts.
        let me = std::process::id();
        assert!(status_kib(me, "VmRSS").is_some_and(|k| k > 0));
        assert!(cpu_ns(me).is_some_and(|ns| ns > 0));
        assert_eq!(cpu_ns(u32::MAX), None);
    }
}
