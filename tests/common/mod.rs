//! Shared support for the end-to-end tests: start the real `conductor` binary on a free port,
//! talk to it as correct participants ([`Member`], driven by the participant state machine) or
//! with raw bytes ([`Raw`]), and wait for conditions with deadlines (never sleeps as
//! synchronisation).

// Tests drive the binary over real sockets and wait with deadlines (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
#![allow(dead_code)] // each test file uses a different part of this module

pub mod faults;
pub mod http;
mod member;
pub mod native;
pub mod participants;
mod raw;
pub mod readme;
pub mod tls;

// Each test file uses a different part of these, too.
#[allow(unused_imports)]
pub use member::{run_round, Member};
#[allow(unused_imports)]
pub use raw::{hello_bytes, Heard, Raw};

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The default time a test waits for anything.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `check` until it returns `Some` or `within` passes; panics with `what` on timeout.
pub fn wait_for<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads `stream` to its end on a thread, line by line, into the returned buffer.
pub fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let sink = Arc::new(Mutex::new(String::new()));
    let theirs = Arc::clone(&sink);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            theirs.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    sink
}

/// How many refusals of one kind `log` accounts for: the lines written in full (their reason
/// ends with `reason`) plus the counts of the summaries of that kind, `… and N more refused
/// `LABEL` in the last second`.
pub fn refusals_in(log: &str, reason: &str, label: &str) -> u64 {
    let summary = format!(" more refused `{label}` in the last second");
    log.lines()
        .map(|line| {
            if let Some(head) = line.strip_suffix(summary.as_str()) {
                let count = head.rsplit("… and ").next().unwrap_or_default();
                count
                    .replace(',', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{line}"))
            } else {
                u64::from(line.contains("refused: ") && line.ends_with(reason))
            }
        })
        .sum()
}

/// A fresh scratch directory under the target dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Makes a new empty directory named after `tag`.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("lockstep-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running conductor process. Killed on drop if still running.
pub struct Conductor {
    pub child: Child,
    pub addr: SocketAddr,
    /// The HTTP endpoint's address, when `--http` was given.
    pub http: Option<SocketAddr>,
    /// Everything it wrote to stderr so far (its log).
    log: Arc<Mutex<String>>,
    /// Its stderr, when the launch asked for it to be left unread.
    pub unread_stderr: Option<ChildStderr>,
    /// Its working directory (status files land here unless paths say otherwise).
    pub dir: TempDir,
    /// A relay's `--id`: its status files and control socket are named after it.
    relay_id: Option<String>,
}

/// How to start a conductor, beyond its arguments.
#[derive(Default)]
pub struct Launch {
    /// The working directory; a fresh one when `None`.
    pub dir: Option<TempDir>,
    /// Leave stderr unread, so that once its pipe is full the conductor blocks in logging.
    pub stall_log: bool,
    /// A soft limit on the conductor's open file descriptors.
    pub max_fds: Option<u64>,
    /// Arguments before all others: a subcommand such as `relay` with its flags.
    pub before: Vec<String>,
    /// Run inside this network namespace (`ip netns exec`).
    pub netns: Option<String>,
    /// The conductor's umask (the test's own otherwise).
    pub umask: Option<u32>,
}

impl Launch {
    /// `conductor relay --upstream UPSTREAM --id ID` before the other arguments.
    pub fn relay(upstream: &str, id: &str) -> Launch {
        let before = ["relay", "--upstream", upstream, "--id", id];
        Launch {
            before: before.iter().map(|s| s.to_string()).collect(),
            ..Launch::default()
        }
    }
}

impl Conductor {
    /// Starts `conductor --port 0 --log-level debug ARGS` in a fresh directory and waits for
    /// its `listening on` line (and its `http on` line with `--http`). `ARGS` may give
    /// `--port` or `--log-level` itself.
    pub fn start(args: &[&str]) -> Conductor {
        Self::launch(args, Launch::default())
    }

    /// Like [`start`](Self::start) in a given directory.
    pub fn start_in(dir: TempDir, args: &[&str]) -> Conductor {
        Self::launch(
            args,
            Launch {
                dir: Some(dir),
                ..Launch::default()
            },
        )
    }

    /// `conductor relay --upstream UPSTREAM --id ID --port 0 --log-level debug ARGS` in a
    /// fresh directory, once it listens.
    pub fn start_relay(upstream: &str, id: &str, args: &[&str]) -> Conductor {
        Self::launch(args, Launch::relay(upstream, id))
    }

    /// Like [`start`](Self::start) with probes, liveness drops and `T` switched off, for tests
    /// that expect an exact sequence of messages however slow the machine is. Settings `ARGS` gives itself are kept.
    pub fn start_quiet(args: &[&str]) -> Conductor {
        Self::start(&quiet(args))
    }

    /// Starts a conductor as `launch` says.
    pub fn launch(args: &[&str], launch: Launch) -> Conductor {
        let dir = launch.dir.unwrap_or_else(|| TempDir::new("conductor"));
        let mut command = match &launch.netns {
            Some(ns) => {
                let mut ip = Command::new("ip");
                ip.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_conductor")]);
                ip
            }
            None => Command::new(env!("CARGO_BIN_EXE_conductor")),
        };
        command.args(&launch.before);
        if !args.contains(&"--port") {
            command.args(["--port", "0"]);
        }
        if !args.contains(&"--log-level") {
            command.args(["--log-level", "debug"]);
        }
        command
            .args(args)
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(limit) = launch.max_fds {
            // SAFETY: setrlimit is async-signal-safe and touches only the child being started.
            unsafe {
                command.pre_exec(move || {
                    let mut lim = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    lim.rlim_cur = limit.min(lim.rlim_max);
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        if let Some(mask) = launch.umask {
            // SAFETY: umask is async-signal-safe and touches only the child being started.
            unsafe {
                command.pre_exec(move || {
                    libc::umask(mask as libc::mode_t);
                    Ok(())
                });
            }
        }
        let relay_id = launch
            .before
            .iter()
            .position(|a| a == "--id")
            .and_then(|i| launch.before.get(i + 1))
            .cloned();
        let mut child = command.spawn().expect("spawn conductor");
        let stderr = child.stderr.take().expect("stderr");
        let (log, unread_stderr) = if launch.stall_log {
            (Arc::new(Mutex::new(String::new())), Some(stderr))
        } else {
            (collect(stderr), None)
        };
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read start-up line");
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected start-up line {first:?}; log: {}",
                    log.lock().unwrap()
                )
            })
            .parse()
            .expect("address");
        let http = args.contains(&"--http").then(|| {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read the http line");
            line.trim()
                .strip_prefix("http on ")
                .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
                .parse()
                .expect("http address")
        });
        Conductor {
            child,
            addr,
            http,
            log,
            unread_stderr,
            dir,
            relay_id,
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `text`.
    pub fn wait_log(&self, text: &str) {
        self.wait_log_count(text, 1);
    }

    /// Waits until the log contains `text` at least `n` times.
    pub fn wait_log_count(&self, text: &str, n: usize) {
        wait_for(&format!("{n} log line(s) with {text:?}"), DEADLINE, || {
            (self.log().matches(text).count() >= n).then_some(())
        });
    }

    /// The log lines that contain `text`.
    pub fn log_lines(&self, text: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(text))
            .map(str::to_string)
            .collect()
    }

    /// How many refusals of one kind the log accounts for: see [`refusals_in`].
    pub fn refusals_logged(&self, reason: &str, label: &str) -> u64 {
        refusals_in(&self.log(), reason, label)
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: i32) {
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the process to exit and for its log to be read to the end.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let child = &mut self.child;
        let status = wait_for("the conductor to exit", within, || {
            child.try_wait().expect("try_wait")
        });
        // Its last log lines may still be in the pipe: the collecting thread ends at the end of
        // the stream.
        let log = &self.log;
        wait_for("the conductor's log to end", within, || {
            (Arc::strong_count(log) == 1).then_some(())
        });
        status
    }

    /// Waits for the process to exit with `code` (generous deadline) and returns its log.
    pub fn expect_exit(&mut self, code: i32) -> String {
        let status = self.wait_exit(DEADLINE);
        let log = self.log();
        assert_eq!(
            status.code(),
            Some(code),
            "exit status {status}; log:\n{log}"
        );
        log
    }

    /// Reads and parses a status.json in its directory.
    pub fn status(&self, name: &str) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.dir.path(name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The default name of its `status.json` (a relay's is named after its id).
    pub fn status_json(&self) -> String {
        match &self.relay_id {
            Some(id) => format!("status-{id}.json"),
            None => "status.json".to_string(),
        }
    }

    /// Waits until its `status.json` satisfies `check`, and returns it.
    pub fn wait_status(
        &self,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let name = self.status_json();
        wait_for(&format!("{name} with {what}"), DEADLINE, || {
            self.status(&name).filter(|v| check(v))
        })
    }

    /// True while the conductor is blocked writing to its stderr (Linux: the system call it
    /// is in, from /proc).
    pub fn blocked_writing_log(&self) -> bool {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{}/syscall", self.pid())) else {
            return false;
        };
        let mut fields = text.split_whitespace();
        let nr = fields.next().and_then(|n| n.parse::<libc::c_long>().ok());
        nr == Some(libc::SYS_write) && fields.next() == Some("0x2")
    }

    /// True while the conductor process is stopped (SIGSTOP), from Linux's /proc.
    pub fn is_stopped(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())) else {
            return false;
        };
        // The state follows the command name, which is in parentheses.
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "T")
    }

    /// Stops the conductor with SIGSTOP for `pause` (timed from when the process is seen
    /// stopped), calling `meanwhile` every 100 ms, then continues it with SIGCONT.
    pub fn pause(&self, pause: Duration, mut meanwhile: impl FnMut()) {
        self.signal(libc::SIGSTOP);
        wait_for("the conductor to stop", DEADLINE, || {
            self.is_stopped().then_some(())
        });
        let until = Instant::now() + pause;
        while Instant::now() < until {
            meanwhile();
            // Pacing the other side while the conductor is stopped, not synchronisation.
            std::thread::sleep(Duration::from_millis(100));
        }
        self.signal(libc::SIGCONT);
    }

    /// True while `signal` is pending for the conductor, not yet delivered (Linux: from the
    /// process's and its main thread's pending sets in /proc).
    pub fn signal_pending(&self, signal: i32) -> bool {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{}/status", self.pid())) else {
            return false;
        };
        let bit = 1u64 << (signal - 1);
        text.lines()
            .filter_map(|l| {
                l.strip_prefix("SigPnd:")
                    .or_else(|| l.strip_prefix("ShdPnd:"))
            })
            .filter_map(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .any(|mask| mask & bit != 0)
    }

    /// A duplicate of the conductor's listening socket, taken from the running process with
    /// `pidfd_getfd` (Linux 5.6+), so a test can make it fail.
    pub fn steal_listener(&self) -> socket2::Socket {
        use std::os::fd::FromRawFd;
        // SAFETY: plain system calls on our own child; every fd returned is checked and owned.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid(), 0) };
        assert!(
            pidfd >= 0,
            "pidfd_open: {}",
            std::io::Error::last_os_error()
        );
        let pidfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(pidfd as i32) };
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid())).expect("list fds");
        for entry in fds.flatten() {
            let Some(target) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            use std::os::fd::AsRawFd;
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
            if fd < 0 {
                continue;
            }
            let socket = unsafe { socket2::Socket::from_raw_fd(fd as i32) };
            let listening = socket.is_listener().unwrap_or(false);
            let here = socket
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .is_some_and(|a| a == self.addr);
            if listening && here {
                return socket;
            }
        }
        panic!("the conductor's listening socket was not found");
    }

    /// Its control socket: the default, beside the status files in its directory.
    pub fn control_socket(&self) -> PathBuf {
        match &self.relay_id {
            Some(id) => self.dir.path(&format!("conductor-{id}.sock")),
            None => self.dir.path("conductor.sock"),
        }
    }

    /// Runs `conductor ctl ARGS` against its control socket: exit code, stdout, stderr.
    pub fn ctl(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let socket = self.control_socket();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--control", socket.to_str().expect("a UTF-8 path")]);
        let mut ctl = vec!["ctl"];
        ctl.extend(all);
        run_to_exit(&self.dir.0, &ctl)
    }

    /// Runs `conductor ctl ARGS`, which must succeed, and returns what it printed.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.ctl(args);
        assert_eq!(code, Some(0), "ctl {args:?}: {err}{out}");
        out.trim_end().to_string()
    }

    /// The status document through `conductor ctl status`.
    pub fn ctl_status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ctl_ok(&["status"])).expect("ctl status is JSON")
    }

    /// Connects a raw client.
    pub fn connect(&self) -> Raw {
        Raw::connect(self.addr)
    }

    /// Connects and completes the hello as `name`; checks the conductor's hello.
    pub fn join(&self, name: &str) -> Raw {
        Raw::join(self.addr, name)
    }

    /// Joins one client per name, in order.
    pub fn join_all(&self, names: &[String]) -> Vec<Raw> {
        names.iter().map(|n| self.join(n)).collect()
    }

    /// Joins a correct participant as `name`.
    pub fn member(&self, name: &str) -> Member {
        Member::join(self.addr, name)
    }

    /// Joins one correct participant per name, in order.
    pub fn members(&self, names: &[String]) -> Vec<Member> {
        names.iter().map(|n| self.member(n)).collect()
    }
}

impl Drop for Conductor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Arguments that switch off probes, liveness drops and `T`.
pub const QUIET: [&str; 6] = [
    "--probe-after-ms",
    "0",
    "--drop-after-ms",
    "0",
    "--slow-round-ms",
    "0",
];

/// `ARGS` preceded by the settings of [`QUIET`] that `ARGS` does not give itself.
pub fn quiet<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all: Vec<&str> = QUIET
        .chunks(2)
        .filter(|pair| !args.contains(&pair[0]))
        .flatten()
        .copied()
        .collect();
    all.extend_from_slice(args);
    all
}

/// Runs `conductor ARGS` in `dir` to its end (it must exit within the deadline): exit code,
/// stdout, stderr.
pub fn run_to_exit(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_conductor"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn conductor");
    let status = wait_for("the conductor to exit", DEADLINE, || {
        child.try_wait().expect("try_wait")
    });
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    (status.code(), out, err)
}

/// Raises this process's soft limit on open files towards `want` (children inherit it) and
/// returns the limit now in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    lim.rlim_cur
}

/// `prefix-0`, `prefix-1`, ... as ids.
pub fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// True when `path` exists.
pub fn exists(path: &Path) -> bool {
    path.exists()
}
