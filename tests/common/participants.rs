//! Participants as processes for the end-to-end tests: `conductor join` and Python programs,
//! with their stderr collected and their exit awaited under a deadline.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{collect, wait_for, Conductor};

/// A participant process. Killed on drop if still running.
pub struct Participant {
    pub child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Participant {
    /// Spawns `command` with stdout and stderr collected.
    pub fn spawn(mut command: Command) -> Participant {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        Participant {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits for the process to exit within `within`; returns its status.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let child = &mut self.child;
        let status = wait_for("a participant to exit", within, || {
            child.try_wait().expect("try_wait")
        });
        // The pipes close at exit; let the collecting threads catch up.
        wait_for("the participant's output to end", within, || {
            (Arc::strong_count(&self.stdout) == 1 && Arc::strong_count(&self.stderr) == 1)
                .then_some(())
        });
        status
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Participant {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `conductor join --id ID --port PORT -- COMMAND...` against `conductor`.
pub fn join(conductor: &Conductor, id: &str, command: &[&str]) -> Participant {
    join_port(conductor.addr.port(), id, command)
}

/// `conductor join --id ID --port PORT -- COMMAND...` on the loopback port `port`.
pub fn join_port(port: u16, id: &str, command: &[&str]) -> Participant {
    join_with(port, id, &[], command)
}

/// `conductor join --id ID --port PORT FLAGS... -- COMMAND...` on the loopback port `port`.
pub fn join_with(port: u16, id: &str, flags: &[&str], command: &[&str]) -> Participant {
    let mut join = Command::new(env!("CARGO_BIN_EXE_conductor"));
    join.args(["join", "--id", id, "--port"])
        .arg(port.to_string())
        .args(flags)
        .arg("--")
        .args(command);
    Participant::spawn(join)
}

/// The directory of the Python client.
pub fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/python")
}

/// The Python client's test modules (`test_*.py` in `clients/python/tests`), by name.
pub fn python_test_modules() -> Vec<String> {
    let dir = python_dir().join("tests");
    let mut modules: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let module = name.strip_suffix(".py")?;
            module.starts_with("test_").then(|| module.to_string())
        })
        .collect();
    modules.sort();
    assert!(!modules.is_empty(), "no test modules in {}", dir.display());
    modules
}

/// A `python3` command; fails the test with a clear message when python3 is missing.
pub fn python3() -> Command {
    let found = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "python3 is required to test the Python client: install it and put it on PATH"
    );
    let mut python = Command::new("python3");
    // Unbuffered, so a failing test shows everything printed before the failure.
    python.env("PYTHONUNBUFFERED", "1");
    python
}
