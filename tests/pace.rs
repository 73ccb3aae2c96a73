//! The pace end to end (PROTOCOL.md "Run control"): 200 waves at `pace_ms` 10 take 2 s and no
//! two come closer than the pace allows; a round that overruns its slot is followed at once and
//! counted late, and the schedule starts again from that wave. A functional test of the
//! scheduler with generous bounds, not a measurement: intervals are taken from the kernel's
//! receive timestamps (`SO_TIMESTAMPNS`), so this test's own scheduling does not distort them,
//! and a machine too loaded to keep the pace makes waves late, which the conductor counts.

// Kernel timestamps through recvmsg (see clippy.toml: tests use sockets and clocks freely).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::{Conductor, Heard};
use lockstep_proto::wire::ConductorMsg;

/// A participant that notes when the kernel received each of its Go messages.
struct Stamped {
    stream: TcpStream,
    /// Bytes received and not decoded yet, with the receive time of the first of them.
    held: Vec<u8>,
    held_at: Option<Duration>,
}

impl Stamped {
    fn join(addr: SocketAddr, name: &str) -> Stamped {
        // Timestamps on before connecting, so that every segment that arrives carries one.
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a socket");
        let on: libc::c_int = 1;
        // SAFETY: the descriptor is open; `on` is an int of the size given.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_TIMESTAMPNS: {}", std::io::Error::last_os_error());
        socket.connect(&addr.into()).expect("connect");
        let mut stream: TcpStream = socket.into();
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(common::DEADLINE))
            .expect("timeout");
        stream.write_all(&common::hello_bytes(name)).expect("hello");
        let mut me = Stamped {
            stream,
            held: Vec::new(),
            held_at: None,
        };
        match me.next() {
            (ConductorMsg::Hello(_), _) => me,
            (other, _) => panic!("expected the conductor's hello, got {other:?}"),
        }
    }

    /// One read, with the time the kernel received its bytes (since the epoch), or when it
    /// was read when the kernel does not say.
    fn receive(&mut self) -> Duration {
        let mut buf = [0u8; 512];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = [0u8; 64];
        // SAFETY: zeroed msghdr is valid; its pointers are set to live buffers below.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
        // SAFETY: every buffer msg points to outlives the call.
        let n = unsafe { libc::recvmsg(self.stream.as_raw_fd(), &mut msg, 0) };
        assert!(n > 0, "recvmsg: {n}: {}", std::io::Error::last_os_error());
        self.held.extend_from_slice(&buf[..n as usize]);
        // SAFETY: the control buffer was filled by recvmsg; the macros walk it within its
        // length and only read a timespec from a header of that type.
        unsafe {
            let mut header = libc::CMSG_FIRSTHDR(&msg);
            while !header.is_null() {
                if (*header).cmsg_level == libc::SOL_SOCKET
                    && (*header).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts =
                        std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<libc::timespec>());
                    return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
                }
                header = libc::CMSG_NXTHDR(&msg, header);
            }
        }
        // TCP leaves the stamp out now and then (a segment queued while the socket was busy):
        // the time of reading stands in for it.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("a clock after 1970")
    }

    /// The next message, with the receive time of the read its first byte came in.
    fn next(&mut self) -> (ConductorMsg, Duration) {
        loop {
            if let Ok(Some((msg, n))) = ConductorMsg::decode(&self.held) {
                let at = self.held_at.expect("held bytes have a time");
                self.held.drain(..n);
                if self.held.is_empty() {
                    self.held_at = None;
                }
                return (msg, at);
            }
            let at = self.receive();
            self.held_at.get_or_insert(at);
        }
    }

    /// The next Go's step and receive time.
    fn recv_go(&mut self) -> (u32, Duration) {
        match self.next() {
            (ConductorMsg::Go(step), at) => (step, at),
            (other, _) => panic!("expected a Go, got {other:?}"),
        }
    }

    fn finish(&mut self) {
        self.stream.write_all(b"K!").expect("K!");
    }
}

#[test]
fn two_hundred_waves_at_pace_10_take_two_seconds_and_keep_the_pace() {
    const PACE: Duration = Duration::from_millis(10);
    // A tenth of the pace: what a wake-up may add to a wave that is still on time.
    const ALLOWANCE: Duration = Duration::from_millis(1);
    let conductor = Conductor::start_quiet(&["--pace-ms", "10", "--min-clients", "2"]);
    let mut a = Stamped::join(conductor.addr, "a");
    let mut b = Stamped::join(conductor.addr, "b");
    let mut times = Vec::new();
    for step in 0..=200 {
        let (got, at) = a.recv_go();
        assert_eq!((got, b.recv_go().0), (step, step));
        times.push(at);
        a.finish();
        b.finish();
    }
    let intervals: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let total = times[200] - times[0];
    let shortest = intervals.iter().min().copied().unwrap_or_default();
    let late = conductor.ctl_status()["late_waves"]
        .as_u64()
        .expect("late_waves");
    eprintln!("200 intervals: {total:?} in all, the shortest {shortest:?}, {late} late wave(s)");
    // Less the allowance, and what the writes and the loopback add, which varies a little.
    let floor = PACE - ALLOWANCE - Duration::from_micros(300);
    for (i, &interval) in intervals.iter().enumerate() {
        if interval >= floor {
            continue;
        }
        // A conductor descheduled between deciding a wave and writing it delivers that wave
        // late while its schedule holds, so the interval after it is short by as much: then
        // the two together still span two paces. Sending a wave early never looks like that.
        let explained = i > 0 && intervals[i - 1] + interval >= 2 * PACE - ALLOWANCE;
        assert!(
            explained,
            "waves {i} and {} came {interval:?} apart at a pace of {PACE:?} (the interval \
             before: {:?})",
            i + 1,
            intervals.get(i.wrapping_sub(1))
        );
    }
    assert!(
        total >= (PACE - ALLOWANCE / 10) * 200,
        "{total:?}: faster than the pace"
    );
    // Without a late wave the schedule kept its start: 2 s, give or take 5%. A machine too
    // loaded to keep the pace makes waves late (each one starts the schedule again), and the
    // conductor says how many.
    if late == 0 {
        assert!(
            total <= PACE * 200 * 105 / 100,
            "{total:?}: the pace drifted"
        );
    }
}

#[test]
fn a_round_that_overruns_its_slot_is_followed_at_once_and_counted_late() {
    let conductor = Conductor::start_quiet(&["--pace-ms", "1000"]);
    let mut a = conductor.member("a");
    assert_eq!(a.recv_go(), 0);
    // The work of round 0 takes longer than the pace: nothing comes meanwhile.
    let end = Instant::now() + Duration::from_millis(1_300);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match a.listen(left) {
            Heard::Silence => {}
            other => panic!("during the round: {other:?}"),
        }
    }
    let done = Instant::now();
    a.finish();
    assert_eq!(a.recv_go(), 1);
    let after_done = done.elapsed();
    assert!(
        after_done < Duration::from_millis(500),
        "the next wave waited {after_done:?} after the overrun"
    );
    let wave_1 = Instant::now();
    conductor.wait_log("late wave: step 1 left ");
    assert_eq!(conductor.ctl_status()["late_waves"], 1);
    // The schedule starts again from the late wave: no burst, the next one a pace later.
    a.finish();
    assert_eq!(a.recv_go(), 2);
    assert!(
        wave_1.elapsed() >= Duration::from_millis(950),
        "wave 2 came {:?} after the late wave 1",
        wave_1.elapsed()
    );
}
