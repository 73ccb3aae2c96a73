//! Servers that `conductor bench` starts itself: a conductor (this same executable) or the
//! raw-barrier baseline, each on a free port. Reads the `listening on ADDR` line the server
//! prints first, and waits for it to exit once the clients are gone.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use super::report::StateRecorded;
use super::StateFileMode;

/// How long a server may take to exit after the last round.
const EXIT_DEADLINE: Duration = Duration::from_secs(10);

/// A server process started for one run. Killed on drop if still running.
pub struct Server {
    child: Child,
    /// Kept open so the server can never fail on a closed stdout.
    stdout: BufReader<ChildStdout>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its HTTP endpoint listens, when it was switched on.
    pub http: Option<SocketAddr>,
    /// Its scratch directory (configuration and log), removed on drop.
    dir: Option<PathBuf>,
}

/// What a conductor started for a run is told.
#[derive(Clone, Copy, Debug)]
pub struct ConductorRun {
    /// Clients, = `min_clients`, so every wave goes to all of them.
    pub clients: u32,
    /// Waves to run, = `rounds`, after which it ends by itself.
    pub waves: u64,
    /// Switch the HTTP endpoint on, on a free loopback port.
    pub http: bool,
    /// Its `pace_ms`.
    pub pace_ms: u64,
    /// Keep a state file in the scratch directory, synced or not.
    pub state_file: StateFileMode,
}

/// The state file's name in a spawned conductor's scratch directory.
const STATE_FILE: &str = "run.state";

impl Server {
    /// Starts this executable as a conductor on a free loopback port, with every other
    /// setting at its default (so status files are written, once a second), its status files
    /// and log in a scratch directory; with `http`, its HTTP endpoint on a free port too. With `tls_ids` it speaks TLS and requires client
    /// certificates: the directory gets a CA and the conductor's certificate, and the clients'
    /// settings (one certificate per id) are returned.
    pub fn conductor(
        run: ConductorRun,
        tls_ids: Option<&[String]>,
    ) -> Result<(Server, Option<super::tls::ClientTls>), String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this executable to start a conductor: {e}"))?;
        let dir = scratch_dir("conductor")?;
        let mut config = serde_json::json!({
            "host": "127.0.0.1",
            "port": 0,
            "min_clients": run.clients,
            "max_clients": run.clients.max(1),
            "rounds": run.waves,
            "http": if run.http { "127.0.0.1:0" } else { "" },
            "pace_ms": run.pace_ms,
        });
        if run.state_file != StateFileMode::Off {
            config["state_file"] = dir.join(STATE_FILE).display().to_string().into();
            config["state_sync"] = (run.state_file == StateFileMode::Synced).into();
        }
        let mut client_tls = None;
        if let Some(ids) = tls_ids {
            let (files, clients) = super::tls::spawned(&dir, ids)?;
            config["tls_cert"] = files.cert.display().to_string().into();
            config["tls_key"] = files.key.display().to_string().into();
            config["tls_client_ca"] = files.client_ca.display().to_string().into();
            client_tls = Some(clients);
        }
        let config_path = dir.join("config.json");
        std::fs::write(&config_path, config.to_string())
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let mut command = Command::new(exe);
        command
            .arg("--config")
            .arg(&config_path)
            .arg("--log-file")
            .arg(dir.join("conductor.log"))
            .current_dir(&dir);
        let mut server = Server::start(command, "conductor")?;
        server.dir = Some(dir);
        if run.http {
            server.http = Some(server.read_http_line()?);
        }
        Ok((server, client_tls))
    }

    /// Starts this executable as relay number `r` of a tree under the conductor at `root`, on
    /// a free loopback port, waiting for `clients` participants before it says hello
    /// upstream; its status files and log in a scratch directory.
    pub fn relay(root: SocketAddr, r: u32, clients: u32) -> Result<Server, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this executable to start a relay: {e}"))?;
        let dir = scratch_dir(&format!("relay{r}"))?;
        let config = serde_json::json!({
            "host": "127.0.0.1",
            "port": 0,
            "min_clients": clients,
            "max_clients": clients.max(1),
        });
        let config_path = dir.join("config.json");
        std::fs::write(&config_path, config.to_string())
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let mut command = Command::new(exe);
        command
            .args(["relay", "--upstream", &root.to_string(), "--id"])
            .arg(format!("relay{r}"))
            .arg("--config")
            .arg(&config_path)
            .arg("--log-file")
            .arg(dir.join("conductor.log"))
            .current_dir(&dir);
        let mut server = Server::start(command, "relay")?;
        server.dir = Some(dir);
        Ok(server)
    }

    /// What the state file of a conductor started with one holds now (after its exit).
    pub fn state_recorded(&self, mode: StateFileMode) -> Result<StateRecorded, String> {
        let dir = self.dir.as_ref().ok_or("no scratch directory")?;
        let path = dir.join(STATE_FILE);
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let (record, _) = lockstep_proto::record::read(&bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .ok_or_else(|| format!("{}: no record", path.display()))?;
        Ok(StateRecorded {
            mode,
            waves_recorded: record.waves_sent,
            finished: record.finished,
        })
    }

    /// Starts the baseline executable at `path` with `--clients N` on a free port.
    pub fn baseline(path: &Path, clients: u32) -> Result<Server, String> {
        let mut command = Command::new(path);
        command.arg("--clients").arg(clients.to_string());
        Server::start(command, &path.display().to_string())
    }

    fn start(mut command: Command, what: &str) -> Result<Server, String> {
        die_with_parent(&mut command);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok());
        match (read, addr) {
            (Ok(_), Some(addr)) => Ok(Server {
                child,
                stdout,
                addr,
                http: None,
                dir: None,
            }),
            _ => {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(format!(
                    "{what} did not say where it listens (first line {line:?}, {status})"
                ))
            }
        }
    }

    /// Reads the conductor's second line, `http on ADDR`.
    fn read_http_line(&mut self) -> Result<SocketAddr, String> {
        let mut line = String::new();
        let read = self.stdout.read_line(&mut line);
        let addr = line
            .trim()
            .strip_prefix("http on ")
            .and_then(|a| a.parse().ok());
        match (read, addr) {
            (Ok(_), Some(addr)) => Ok(addr),
            _ => Err(format!(
                "the conductor did not say where it serves HTTP (line {line:?}){}",
                self.keep_log()
            )),
        }
    }

    /// The late waves a conductor this command started counted, from its last status file.
    pub fn late_waves(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.dir.as_ref()?.join("status.json")).ok()?;
        let status: serde_json::Value = serde_json::from_str(&text).ok()?;
        status["late_waves"].as_u64()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the server to exit by itself and returns its exit code.
    pub fn wait(&mut self) -> Result<i32, String> {
        let end = Instant::now() + EXIT_DEADLINE;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status.code().unwrap_or(-1)),
                Ok(None) if Instant::now() < end => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    return Err(format!(
                        "the server did not exit within {} s after the last round{}",
                        EXIT_DEADLINE.as_secs(),
                        self.log_hint()
                    ));
                }
                Err(e) => return Err(format!("cannot wait for the server: {e}")),
            }
        }
    }

    /// Points at the conductor's log, kept for a failed run.
    pub fn keep_log(&mut self) -> String {
        let hint = self.log_hint();
        self.dir = None;
        hint
    }

    fn log_hint(&self) -> String {
        self.dir.as_ref().map_or(String::new(), |d| {
            format!("; its log is {}", d.join("conductor.log").display())
        })
    }
}

/// A fresh scratch directory for one server of this run.
fn scratch_dir(what: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "lockstep-bench-{}-{what}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Makes the child killed when this process dies, so that an interrupted run leaves no server
/// or client process behind.
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: between fork and exec the closure only makes one async-signal-safe system call.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
