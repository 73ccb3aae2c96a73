//! A small HTTP/1.1 client for the tests of the conductor's HTTP endpoint: one request per
//! connection (the endpoint closes after each answer), read to the end with a deadline, and the
//! tools the tests check pages with (`promtool`, headless Chromium) when they are installed.

// Tests talk over real sockets and run tools (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{TempDir, DEADLINE};

/// An answer: status code, head lines, body.
#[derive(Debug)]
pub struct Answer {
    pub code: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Sends `request` as it is and reads the answer until the endpoint closes the connection.
pub fn raw(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect to the http endpoint");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(request).expect("send the request");
    read_answer(&mut stream)
}

/// Reads an answer to the end of the stream (a reset after the answer counts as its end).
pub fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !bytes.is_empty() => break,
            Err(e) => panic!("reading the answer: {e} (after {} bytes)", bytes.len()),
        }
    }
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {text:?}"));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Answer {
        code,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> Answer {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
}

/// `GET /status.json`, parsed.
pub fn status(addr: SocketAddr) -> serde_json::Value {
    let answer = get(addr, "/status.json");
    assert_eq!(answer.code, 200, "{answer:?}");
    serde_json::from_str(&answer.body).expect("status.json is JSON")
}

/// The value of the series `series` (name and labels, as written) in Prometheus text.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// `GET /metrics`, and the value of one series in it.
pub fn metric(addr: SocketAddr, series: &str) -> f64 {
    let answer = get(addr, "/metrics");
    assert_eq!(answer.code, 200, "{answer:?}");
    sample(&answer.body, series).unwrap_or_else(|| panic!("no {series} in\n{}", answer.body))
}

/// The path of `tool` when it is installed. Under CI (`CI=true`) a missing tool fails the
/// test: `.ci/run` installs it. Elsewhere the test says it skipped that part and goes on.
pub fn tool(tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{tool} is not installed; .ci/run installs it"
        );
        eprintln!("{tool} is not installed: skipping the part of this test that needs it");
    }
    found
}

/// Runs `promtool check metrics` on `text`; returns its exit success and output.
pub fn promtool_check(promtool: &PathBuf, args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Loads `url` in headless Chromium with a fresh profile, lets the page run for `budget` of
/// virtual time (its refreshes included), and returns the DOM it rendered. Chromium is given a
/// minute.
pub fn rendered_dom(chromium: &PathBuf, url: &str, budget: Duration) -> String {
    let profile = TempDir::new("chromium");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .arg(format!("--virtual-time-budget={}", budget.as_millis()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let dom = super::collect(child.stdout.take().expect("stdout"));
    let mut child = KillOnDrop(child);
    let status = super::wait_for(
        "chromium to render the page",
        Duration::from_secs(60),
        || child.0.try_wait().expect("wait for chromium"),
    );
    assert!(status.success(), "chromium failed: {status}");
    // Its output may still be in the pipe: the collecting thread ends at the end of the stream.
    super::wait_for("chromium's output to end", DEADLINE, || {
        (std::sync::Arc::strong_count(&dom) == 1).then_some(())
    });
    let text = dom.lock().unwrap().clone();
    text
}

/// A child process killed if the test fails while it runs.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
