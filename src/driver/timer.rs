//! A one-shot timer for a mio loop with microsecond resolution (a Linux `timerfd`): epoll's own
//! timeout counts whole milliseconds, too coarse for a pace of a few milliseconds or for
//! simulated work of a few microseconds. The loop registers [`TimerFd::source`], arms it, and
//! clears it when it fires; it never blocks on it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use mio::unix::SourceFd;

/// A timerfd. See the module docs.
#[derive(Debug)]
pub struct TimerFd {
    fd: OwnedFd,
    /// The same descriptor, for mio's `SourceFd`, which borrows one.
    raw: RawFd,
}

impl TimerFd {
    /// A disarmed timer on the monotonic clock, non-blocking.
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: plain system call; the result is checked before use.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor owned by nobody else.
        Ok(TimerFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            raw: fd,
        })
    }

    /// What to register with mio (readable when the timer fires).
    pub fn source(&self) -> SourceFd<'_> {
        SourceFd(&self.raw)
    }

    /// Fires once, `after` from now (at least a nanosecond, since zero would disarm it).
    pub fn arm(&self, after: Duration) -> io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: the descriptor is open and `spec` is a valid itimerspec.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Consumes the expiry count so the next expiry wakes the loop again.
    pub fn clear(&self) {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a buffer of 8.
        unsafe {
            libc::read(self.fd.as_raw_fd(), count.as_mut_ptr().cast(), count.len());
        }
    }
}
