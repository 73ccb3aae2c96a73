//! Shared support for the end-to-end tests: start the real `conductor` binary on a free port,
//! talk to it with raw TCP clients, and wait for conditions with deadlines (never sleeps as
//! synchronisation).

// Tests drive the binary over real sockets and wait with deadlines (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
#![allow(dead_code)] // each test file uses a different part of this module

pub mod faults;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockstep::wire::{ClientMsg, ConductorMsg, Id, RawHello, VERSION};

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
    /// Everything it wrote to stderr so far (its log).
    log: Arc<Mutex<String>>,
    /// Its working directory (status files land here unless paths say otherwise).
    pub dir: TempDir,
}

impl Conductor {
    /// Starts `conductor --port 0 ARGS` in a fresh directory, with info logging, and waits
    /// for its `listening on` line.
    pub fn start(args: &[&str]) -> Conductor {
        Self::start_in(TempDir::new("conductor"), args)
    }

    /// Like [`start`](Self::start) in a given directory.
    pub fn start_in(dir: TempDir, args: &[&str]) -> Conductor {
        let mut child = Command::new(env!("CARGO_BIN_EXE_conductor"))
            .args(["--port", "0", "--log-level", "debug"])
            .args(args)
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn conductor");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
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
        Conductor {
            child,
            addr,
            log,
            dir,
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `text`.
    pub fn wait_log(&self, text: &str) {
        wait_for(&format!("log line {text:?}"), DEADLINE, || {
            self.log().contains(text).then_some(())
        });
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: i32) {
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let child = &mut self.child;
        wait_for("the conductor to exit", within, || {
            child.try_wait().expect("try_wait")
        })
    }

    /// Reads and parses a status.json in its directory.
    pub fn status(&self, name: &str) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.dir.path(name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Connects a raw client.
    pub fn connect(&self) -> Raw {
        Raw::connect(self.addr)
    }

    /// Connects and completes the hello as `name`; checks the conductor's hello.
    pub fn join(&self, name: &str) -> Raw {
        let mut c = self.connect();
        match c.recv() {
            ConductorMsg::Hello(h) => assert_eq!(h.version, VERSION),
            other => panic!("expected the conductor's hello, got {other:?}"),
        }
        c.send_msg(&hello(name));
        c
    }
}

impl Drop for Conductor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A valid client hello.
pub fn hello(name: &str) -> ClientMsg {
    ClientMsg::Hello(RawHello {
        version: VERSION,
        id: *Id::new(name).expect("test id").as_wire(),
    })
}

/// A raw TCP client that decodes what the conductor sends.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends one message.
    pub fn send_msg(&mut self, msg: &ClientMsg) {
        let mut bytes = Vec::new();
        msg.encode_into(&mut bytes);
        self.send(&bytes);
    }

    /// The next message, or `None` when the conductor closed the connection. Panics if
    /// nothing arrives within `within`.
    pub fn try_recv_within(&mut self, within: Duration) -> Option<ConductorMsg> {
        let end = Instant::now() + within;
        loop {
            match ConductorMsg::decode(&self.buf) {
                Ok(Some((msg, n))) => {
                    self.buf.drain(..n);
                    return Some(msg);
                }
                Ok(None) => {}
                Err(e) => panic!("conductor sent undecodable bytes: {e}"),
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "nothing from the conductor within {within:?}"
            );
            self.stream.set_read_timeout(Some(left)).expect("timeout");
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// The next message; panics on close or timeout.
    pub fn recv(&mut self) -> ConductorMsg {
        self.try_recv_within(DEADLINE)
            .expect("the conductor closed the connection")
    }

    /// Expects a Go and returns its step.
    pub fn recv_go(&mut self) -> u32 {
        match self.recv() {
            ConductorMsg::Go(step) => step,
            other => panic!("expected a Go, got {other:?}"),
        }
    }

    /// Expects a refusal and returns its text; then expects the connection to close.
    pub fn recv_refusal(&mut self) -> String {
        let reason = match self.recv() {
            ConductorMsg::Refusal(r) => r.as_str().to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        };
        self.expect_closed();
        reason
    }

    /// Expects the conductor to close the connection with nothing more sent.
    pub fn expect_closed(&mut self) {
        if let Some(msg) = self.try_recv_within(DEADLINE) {
            panic!("expected the connection to close, got {msg:?}");
        }
    }

    /// Nothing arrives for `quiet` (the connection stays open and silent).
    pub fn expect_silence(&mut self, quiet: Duration) {
        self.stream.set_read_timeout(Some(quiet)).expect("timeout");
        if !self.buf.is_empty() {
            panic!("unexpected bytes pending: {:?}", self.buf);
        }
        let mut chunk = [0u8; 64];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!("connection closed, expected silence"),
            Ok(n) => panic!("expected silence, got {:?}", &chunk[..n]),
            Err(_) => {}
        }
    }

    /// Half-closes the writing side.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// True when `path` exists.
pub fn exists(path: &Path) -> bool {
    path.exists()
}
