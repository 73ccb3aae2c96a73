//! Support for the fault-injection tests: client processes that can be killed or frozen,
//! descriptor limits and CPU time of the conductor process, and round helpers that keep
//! members alive (their machines answer probes) while they wait.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};

use lockstep_proto::participant::Event;

use super::{Heard, Member, DEADLINE};

/// A client in a separate `python3` process: it says hello as `name`, answers probes, and on
/// its first Go prints `go <step>` (after sending `K` when `ack` is set), then sleeps without
/// reading or writing until it is killed.
pub struct ProcessClient {
    child: Child,
    lines: Receiver<String>,
}

const CLIENT_SCRIPT: &str = r#"
import socket, sys, time
port, name, ack = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "ack"
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"A1" + name.encode().ljust(12))
buf = b""
def take(n):
    global buf
    while len(buf) < n:
        chunk = s.recv(4096)
        if not chunk:
            print("closed", flush=True)
            sys.exit(1)
        buf += chunk
    out, buf = buf[:n], buf[n:]
    return out
while True:
    t = take(1)
    if t == b"A":
        take(13)
        print("hello", flush=True)
    elif t == b"!":
        step = int.from_bytes(take(4), "little")
        if ack:
            s.sendall(b"K")
        print("go", step, flush=True)
        break
    elif t == b"S":
        take(4)
    elif t == b"R":
        take(int.from_bytes(take(4), "little"))
        print("refused", flush=True)
        sys.exit(2)
    elif t == b"?":
        s.sendall(b".")
time.sleep(3600)
"#;

impl ProcessClient {
    /// Starts the client process against the conductor at `addr`.
    pub fn spawn(addr: SocketAddr, name: &str, ack: bool) -> ProcessClient {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(CLIENT_SCRIPT)
            .arg(addr.port().to_string())
            .arg(name)
            .arg(if ack { "ack" } else { "noack" })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn python3 (the fault tests need it)");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ProcessClient { child, lines }
    }

    /// Waits for the next line the client prints and checks that it starts with `prefix`.
    pub fn expect_line(&mut self, prefix: &str) -> String {
        let line = self.lines.recv_timeout(DEADLINE).unwrap_or_else(|e| {
            panic!("client process printed nothing ({e}), expected {prefix:?}")
        });
        assert!(
            line.starts_with(prefix),
            "expected {prefix:?}, got {line:?}"
        );
        line
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to the process (SIGKILL, SIGSTOP, ...).
    pub fn signal(&self, signal: i32) {
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for ProcessClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raises this process's soft limit on open descriptors to its hard limit (the test opens
/// thousands of sockets; the conductor it starts inherits the limit).
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    lim.rlim_cur = lim.rlim_max;
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
    lim.rlim_cur
}

/// Sets the descriptor limit (soft and hard) of the running process `pid`.
pub fn limit_fds(pid: u32, limit: u64) {
    let lim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &lim,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// The descriptors `pid` has open.
pub fn open_fds(pid: u32) -> Vec<u64> {
    let mut fds: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds
}

/// The lowest descriptor number `pid` does not use: a limit equal to it leaves no room.
pub fn lowest_free_fd(pid: u32) -> u64 {
    let fds = open_fds(pid);
    (0..).find(|n| fds.binary_search(n).is_err()).unwrap_or(0)
}

/// CPU time (user + system) the process has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The command name may contain spaces; the fields after it are space-separated. After the
    // closing parenthesis come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks as f64 / per_second.max(1) as f64
}

/// The next wave's Go for every member, all answering probes while they wait (so a long wait
/// does not get any of them dropped). Returns the step, checked to be the same for all.
pub fn wave(members: &mut [Member]) -> u32 {
    let mut steps: Vec<Option<u32>> = vec![None; members.len()];
    let end = std::time::Instant::now() + DEADLINE;
    while steps.iter().any(Option::is_none) {
        assert!(
            std::time::Instant::now() < end,
            "no wave within {DEADLINE:?}"
        );
        for (m, step) in members.iter_mut().zip(steps.iter_mut()) {
            if step.is_some() {
                continue;
            }
            match m.listen(std::time::Duration::from_millis(5)) {
                Heard::Msg(Event::Go(s)) => *step = Some(s),
                Heard::Msg(Event::Probed | Event::Slow | Event::ShuttingDown(_) | Event::Here)
                | Heard::Silence => {}
                Heard::Msg(other) => panic!("expected a Go, got {other}"),
                Heard::Closed => panic!("closed while waiting for a Go"),
            }
        }
    }
    let first = steps[0].unwrap_or_default();
    assert!(
        steps.iter().all(|s| *s == Some(first)),
        "different steps in one wave: {steps:?}"
    );
    first
}

/// One round with every member: each receives the same Go and answers `K!`. Returns the step.
pub fn round(members: &mut [Member]) -> u32 {
    let step = wave(members);
    for m in members.iter_mut() {
        m.finish();
    }
    step
}

/// Joins `n` members named `{prefix}{i}`.
pub fn join_all(conductor: &super::Conductor, prefix: &str, n: usize) -> Vec<Member> {
    (0..n)
        .map(|i| conductor.member(&format!("{prefix}{i}")))
        .collect()
}

/// Connects with a receive buffer as small as the kernel allows, so that a client which does
/// not read lets the conductor's queue fill soon.
pub fn connect_with_small_receive_buffer(addr: SocketAddr) -> std::net::TcpStream {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("connect");
    socket.into()
}
