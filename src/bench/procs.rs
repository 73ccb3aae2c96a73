//! One participant per process, as real users run it: starts N copies of this executable as
//! `conductor bench --clients 1`, each with its own event loop and id, and combines their
//! reports (each process's round times are kept, so percentiles cover all of them).

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use super::report::Report;
use super::Options;

/// Runs `procs` single-client processes against `addr` and aggregates their reports. The
/// first process reads the server's figures when `server_pid` is given.
pub fn run(
    options: &Options,
    addr: SocketAddr,
    procs: u32,
    server_pid: Option<u32>,
) -> Result<Report, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find this executable to start clients: {e}"))?;
    let mut children = Vec::new();
    for n in 0..procs {
        let mut command = Command::new(&exe);
        super::server::die_with_parent(&mut command);
        command.arg("bench");
        if let (0, Some(pid)) = (n, server_pid) {
            command.args(["--server-pid", &pid.to_string()]);
        }
        let child = command
            .args(["--addr", &addr.to_string()])
            .args(["--clients", "1"])
            .args(["--rounds", &options.rounds.to_string()])
            .args(["--warmup", &options.warmup().to_string()])
            .args(["--work-us", &options.work_us.to_string()])
            .args(["--first-id", &(options.first_id + u64::from(n)).to_string()])
            .args(["--samples", "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start client process {n}: {e}"))?;
        children.push(child);
    }
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (n, child) in children.into_iter().enumerate() {
        let output = child
            .wait_with_output()
            .map_err(|e| format!("client process {n}: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        match serde_json::from_str::<Report>(stdout.trim()) {
            Ok(report) if output.status.success() => reports.push(report),
            _ => failures.push(format!(
                "client process {n} ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        }
    }
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    Ok(Report::aggregate(String::new(), &reports))
}
