//! Participants spread over processes, as real users run them: starts P copies of this
//! executable as `conductor bench --clients K`, the N clients shared out as evenly as they go
//! (100 over 8 is four processes of 13 and four of 12), each process with its own event loop
//! and its clients' ids following the previous process's; then combines their reports (each
//! process's round times are kept, so percentiles cover all of them).

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use super::report::Report;
use super::Options;

/// Runs `options.clients` clients in `procs` processes against `addr` and aggregates their
/// reports. The first process reads the server's figures when `server_pid` is given.
pub fn run(
    options: &Options,
    addr: SocketAddr,
    procs: u32,
    server_pid: Option<u32>,
) -> Result<Report, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find this executable to start clients: {e}"))?;
    let mut children = Vec::new();
    let mut first_id = options.first_id;
    for (n, clients) in shares(options.clients, procs).into_iter().enumerate() {
        let mut command = Command::new(&exe);
        super::server::die_with_parent(&mut command);
        command.arg("bench");
        if let (0, Some(pid)) = (n, server_pid) {
            command.args(["--server-pid", &pid.to_string()]);
        }
        let child = command
            .args(["--addr", &addr.to_string()])
            .args(["--clients", &clients.to_string()])
            .args(["--rounds", &options.rounds.to_string()])
            .args(["--warmup", &options.warmup().to_string()])
            .args(["--work-us", &options.work_us.to_string()])
            .args(["--first-id", &first_id.to_string()])
            .args(["--samples", "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start client process {n}: {e}"))?;
        children.push(child);
        first_id += u64::from(clients);
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

/// `clients` shared out over `procs` processes (at least one), the first ones taking one more
/// when they do not divide evenly.
fn shares(clients: u32, procs: u32) -> Vec<u32> {
    let procs = procs.max(1);
    (0..procs)
        .map(|n| clients / procs + u32::from(n < clients % procs))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_shared_out_as_evenly_as_they_go() {
        assert_eq!(shares(100, 8), [13, 13, 13, 13, 12, 12, 12, 12]);
        assert_eq!(shares(3, 3), [1, 1, 1]);
        assert_eq!(shares(7, 1), [7]);
        for (clients, procs) in [(100, 8), (5, 4), (1000, 7)] {
            let shared = shares(clients, procs);
            assert_eq!(shared.len(), procs as usize);
            assert_eq!(shared.iter().sum::<u32>(), clients);
        }
    }
}
