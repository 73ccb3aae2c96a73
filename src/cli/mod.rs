//! The `conductor` command line: picks the subcommand and hands over to it. Each subcommand
//! returns the process exit code.

// The command line prints, logs, reads status files, runs commands and waits between them
// (see clippy.toml).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

mod bench_cmd;
mod join;
mod logging;
mod run;
mod status_cmd;

use std::ffi::OsString;

use pico_args::Arguments;

/// Usage text for `conductor --help`.
pub const USAGE: &str = "\
conductor — makes many processes advance in lockstep over TCP

USAGE:
  conductor [--config FILE] [--KEY VALUE ...] [--log-level LEVEL] [--log-file FILE]
  conductor status [--file status.json] [--watch]
  conductor join --id ID [--host H] [--port P] [--heartbeat-ms N]
                 [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-name NAME]] -- CMD [ARGS...]
  conductor bench (--addr H:P | --spawn | --baseline PATH) [--clients N | --procs N]
                  [--rounds R] [--warmup W] [--work-us U] [--server-pid PID] [--json]
                  [--tls | --tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-name NAME]]

Runs the conductor. Settings come from config.json (or --config FILE) and are overridden by
flags: --host, --port, --min-clients, --rounds, and --KEY VALUE in kebab-case for any key of
config.json (--allow takes comma-separated CIDR blocks).
--log-level is one of off, error, warn, info (default), debug, trace.

`conductor bench` runs N simulated clients (in one event loop, or one per process with
--procs) against a server: one listening at --addr, a conductor it starts itself (--spawn,
with min_clients = N and the rounds needed), or the raw-barrier baseline at PATH. It reports
connect time, rounds per second, round-time percentiles, protocol violations and, for a
server it started or --server-pid, the server's memory per client. --work-us simulates work
between each Go and its answer. Defaults: 1 client, 1000 rounds, no work. With --spawn --tls
the clients speak TLS: the run makes a CA, the conductor's certificate and one client
certificate per client (naming its id), and the conductor requires client certificates. With
--addr, --tls-ca FILE and the other --tls flags (as for join) give the clients' TLS settings.

Signals: SIGTERM and SIGHUP stop gracefully (a countdown, then C and X); SIGINT ceases at
once (C, X), a second SIGINT exits at once; SIGQUIT keeps its default (ends at once, core dump).
Exit codes: 0 after a planned end, a graceful stop, a hang-up or an interrupt; 1 after a fatal
error; 2 for a bad command line or configuration; 130 after a second SIGINT.

`conductor join` makes CMD a participant: for each Go it runs CMD with LOCKSTEP_STEP,
LOCKSTEP_ID and LOCKSTEP_SERVER (host:port) in its environment, sending W every
--heartbeat-ms (default 1000; 0 = none) while it runs and Done when it exits 0. Defaults:
--host 127.0.0.1, --port 7878. Broadcasts are printed to stderr. Exit codes: 0 after the
conductor's end; CMD's own status if it fails (128+N if signal N killed it, 126/127 if it
could not be started), after refusing the step with the reason; 1 if the connection fails or
the conductor ends on an error; 2 for a bad command line; 3 if the conductor refuses it. CMD
runs in a process group of its own: SIGTERM, SIGINT or SIGHUP to join is passed on to it, join
sends X and exits with 128+N (the rest of CMD's group is killed after 5 s at most).
With --tls-ca FILE join speaks TLS, trusting the CA certificates in FILE for the conductor's
certificate, which must name --tls-name (default: --host); --tls-cert and --tls-key give the
certificate and key to present when the conductor asks for one. TLS failures exit 1.
";

/// Runs the command line given in `raw` (without the program name) and returns the exit code.
/// Everything after the first `--` is a command for `conductor join`.
pub fn main(mut raw: Vec<OsString>) -> i32 {
    let command = raw
        .iter()
        .position(|arg| arg == "--")
        .map(|at| raw.drain(at..).skip(1).collect::<Vec<_>>());
    let mut args = Arguments::from_vec(raw);
    if args.contains(["-h", "--help"]) {
        print!("{USAGE}");
        return 0;
    }
    let sub = match args.subcommand() {
        Ok(sub) => sub,
        Err(e) => return usage_error(&e.to_string()),
    };
    if command.is_some() && sub.as_deref() != Some("join") {
        return usage_error("'--' introduces the command of 'conductor join' only");
    }
    match sub.as_deref() {
        Some("join") => join::run(args, command.unwrap_or_default()),
        None => run::run(args),
        Some("status") => status_cmd::run(args),
        Some("bench") => bench_cmd::run(args),
        Some(other) => usage_error(&format!("unknown subcommand {other:?}")),
    }
}

/// Prints a command-line error and returns exit code 2.
pub(crate) fn usage_error(message: &str) -> i32 {
    eprintln!("conductor: {message}");
    eprintln!("try 'conductor --help'");
    2
}

/// Fails with exit code 2 if arguments are left over.
pub(crate) fn finish(args: Arguments) -> Result<(), i32> {
    let rest = args.finish();
    if rest.is_empty() {
        Ok(())
    } else {
        let rest: Vec<String> = rest
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        Err(usage_error(&format!(
            "unexpected argument(s): {}",
            rest.join(" ")
        )))
    }
}
