//! `conductor join --id ID [--host H] [--port P] [--heartbeat-ms N] [--reconnect-ms N]
//! [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-name NAME]] -- CMD [ARGS...]`: makes
//! any program a participant, over TLS when `--tls-ca` is given. For each Go it runs CMD (stdin closed, stdout and stderr
//! inherited) with `LOCKSTEP_STEP`, `LOCKSTEP_ID` and `LOCKSTEP_SERVER` in its environment,
//! through the client [`Runner`]: `K` first, `W` every heartbeat while CMD runs, Done when it
//! exits 0. A failing CMD is refused with `step N: command exited with status S` and its status
//! becomes the exit code. Broadcasts are printed to stderr in plain words. CMD runs in a
//! process group of its own; SIGTERM, SIGINT and SIGHUP are passed on to it, join leaves with
//! `X` and exits with 128 + the signal (see the `watch` module). Before it connects, join
//! checks that CMD can be found and executed (the `find` module), so that a typo does not
//! hold a run up until the first Go. A connection lost without the conductor's `C`, `E` or `X`
//! is ridden out for `--reconnect-ms` (the client reconnects; one line on stderr per outage);
//! a step the conductor sends again after a restart is answered without running CMD again.
//! A conductor that does not come back in time ends join with [`EXIT_GONE`].

mod find;
mod watch;

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use pico_args::Arguments;

use lockstep::{Client, ClientError, Event, Runner, StepError};

use super::{flags, Cmd};
use crate::config::Config;
use crate::tls_files::TlsFiles;

pub use lockstep::{DEFAULT_HEARTBEAT, DEFAULT_RECONNECT};
use watch::Watch;
pub use watch::GRACE;

/// Exit code when the connection fails or the conductor ends on an error.
const EXIT_FAILED: i32 = 1;
/// Exit code when the conductor refuses this participant.
const EXIT_REFUSED: i32 = 3;
/// Exit code when the connection was lost and the conductor did not come back within
/// `--reconnect-ms`.
pub const EXIT_GONE: i32 = 4;
/// Exit code when CMD exists but cannot be run (the shell's convention).
const EXIT_CANNOT_RUN: i32 = 126;
/// Exit code when CMD is not found (the shell's convention).
const EXIT_NOT_FOUND: i32 = 127;

/// What the command line asks for.
struct Join {
    id: String,
    host: String,
    port: u16,
    heartbeat: Option<Duration>,
    /// How long an outage is ridden out; zero = never.
    reconnect: Duration,
    tls: Option<TlsFiles>,
    program: OsString,
    args: Vec<OsString>,
}

/// Runs the subcommand; `command` is everything after `--`.
pub fn run(args: Arguments, command: Vec<OsString>) -> i32 {
    let join = match parse(args, command) {
        Ok(join) => join,
        Err(code) => return code,
    };
    if let Err(problem) = find::find(&join.program, std::env::var_os("PATH").as_deref()) {
        super::error(
            Cmd::Join,
            format!(
                "{}: cannot run command {}: {}",
                join.id,
                join.program.to_string_lossy(),
                problem.describe(&join.program)
            ),
        );
        return problem.exit_code();
    }
    participate(&join)
}

fn parse(mut args: Arguments, command: Vec<OsString>) -> Result<Join, i32> {
    let usage = |message: String| super::usage_error(Cmd::Join, message);
    let id: String = flags::required(&mut args, "--id").map_err(usage)?;
    let defaults = Config::default();
    let host = flags::value(&mut args, "--host")
        .map_err(usage)?
        .unwrap_or(defaults.host);
    let port = flags::value(&mut args, "--port")
        .map_err(usage)?
        .unwrap_or(defaults.port);
    let heartbeat_ms: Option<u64> = flags::value(&mut args, "--heartbeat-ms").map_err(usage)?;
    let heartbeat = match heartbeat_ms {
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms)),
        None => Some(DEFAULT_HEARTBEAT),
    };
    let reconnect_ms: Option<u64> = flags::value(&mut args, "--reconnect-ms").map_err(usage)?;
    let reconnect = reconnect_ms.map_or(DEFAULT_RECONNECT, Duration::from_millis);
    let tls = TlsFiles::from_flags(&mut args).map_err(usage)?;
    let mut command = command.into_iter();
    let Some(program) = command.next() else {
        let rest = args.finish();
        let looks_like_a_command = rest
            .first()
            .is_some_and(|first| !first.to_string_lossy().starts_with('-'));
        return Err(usage(if looks_like_a_command {
            format!(
                "the command is missing: put '--' before it, as in \
                 'conductor join --id {id} -- {}'",
                super::shown(&rest)
            )
        } else {
            format!(
                "the command is missing: give it after '--', as in \
                 'conductor join --id {id} -- ./step.sh'"
            )
        }));
    };
    super::finish(args, Cmd::Join)?;
    Ok(Join {
        id,
        host,
        port,
        heartbeat,
        reconnect,
        tls,
        program,
        args: command.collect(),
    })
}

fn participate(join: &Join) -> i32 {
    let tag = format!("{}: {}", Cmd::Join.name(), join.id);
    let connected = match &join.tls {
        None => Client::connect((join.host.as_str(), join.port), &join.id),
        Some(flags) => match flags.config(&join.host) {
            Ok(tls) => {
                let host = if join.host.contains(':') {
                    format!("[{}]", join.host)
                } else {
                    join.host.clone()
                };
                Client::connect_tls(&format!("{host}:{}", join.port), &join.id, &tls)
            }
            Err(e) => {
                eprintln!("{tag}: {e}");
                return 2;
            }
        },
    };
    let client = match connected {
        Ok(client) => {
            let said = tag.clone();
            client
                .reconnect_within(join.reconnect)
                .on_outage(move |outage| eprintln!("{said}: {outage}"))
        }
        Err(e) => return report(&tag, &e),
    };
    // The end of the connection is watched only when it ends join: an outage is announced
    // once, when the client finds it, and ridden out.
    let watched = if join.reconnect.is_zero() {
        client.watcher().map(Some)
    } else {
        Ok(None)
    };
    let watch = match watched.and_then(|fd| Watch::start(fd, client.sender(), tag.clone())) {
        Ok(watch) => watch,
        Err(e) => {
            eprintln!("{tag}: cannot watch for signals: {e}");
            return EXIT_FAILED;
        }
    };
    let server = client.peer_addr().to_string();
    let mut failed_with = None;
    let result = Runner::new(client)
        .heartbeat(join.heartbeat)
        .on_event(|event| match event {
            Event::Slow | Event::ShuttingDown(_) | Event::Cease | Event::ErrorShutdown => {
                eprintln!("{tag}: the conductor says: {event}")
            }
            // The run's result reports these; the client handles the rest itself, and the
            // outage before a repeated step had its line.
            Event::Go(_)
            | Event::Repeated(_)
            | Event::Exit
            | Event::Refused(_)
            | Event::Hello(_)
            | Event::Probed
            | Event::Here => {}
        })
        .run(|step| {
            let mut command = Command::new(&join.program);
            command
                .args(&join.args)
                .env("LOCKSTEP_STEP", step.to_string())
                .env("LOCKSTEP_ID", &join.id)
                .env("LOCKSTEP_SERVER", &server)
                .stdin(Stdio::null());
            let status = watch.run_step(&mut command, step);
            let (code, problem) = match status {
                Ok(status) if status.success() => return Ok(()),
                Ok(status) => failure(status),
                Err(e) => {
                    let code = match e.kind() {
                        std::io::ErrorKind::NotFound => EXIT_NOT_FOUND,
                        _ => EXIT_CANNOT_RUN,
                    };
                    let program = join.program.to_string_lossy();
                    (code, format!("cannot run command {program}: {e}"))
                }
            };
            failed_with = Some(code);
            Err(StepError::new(problem))
        });
    // A signal that ended the run ends join its own way.
    watch.settle();
    match result {
        Ok(_) => 0,
        Err(ClientError::StepFailed { reason, .. }) => {
            eprintln!("{tag}: {reason} (refused the step and left)");
            failed_with.unwrap_or(EXIT_FAILED)
        }
        Err(e) => report(&tag, &e),
    }
}

/// The exit code and the words for a command that did not exit 0; a death by signal N counts
/// as status 128+N, as shells report it.
fn failure(status: ExitStatus) -> (i32, String) {
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, format!("command exited with status {code}")),
        (None, Some(signal)) => (
            128 + signal,
            format!(
                "command exited with status {} (killed by signal {signal})",
                128 + signal
            ),
        ),
        (None, None) => (EXIT_FAILED, format!("command ended abnormally ({status})")),
    }
}

/// Prints a session error and returns its exit code.
fn report(tag: &str, error: &ClientError) -> i32 {
    eprintln!("{tag}: {error}");
    match error {
        ClientError::Refused { .. } => EXIT_REFUSED,
        ClientError::ConductorGone { .. } => EXIT_GONE,
        // The id comes from the command line.
        ClientError::InvalidId { .. } => 2,
        _ => EXIT_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &[&str], command: &[&str]) -> Result<Join, i32> {
        parse(
            Arguments::from_vec(line.iter().map(OsString::from).collect()),
            command.iter().map(OsString::from).collect(),
        )
    }

    #[test]
    fn defaults_come_from_the_contract() {
        let join = parse_line(&["--id", "w1"], &["echo", "--id", "x"]).expect("valid");
        assert_eq!(join.id, "w1");
        assert_eq!((join.host.as_str(), join.port), ("127.0.0.1", 7878));
        assert_eq!(join.heartbeat, Some(DEFAULT_HEARTBEAT));
        assert_eq!(join.reconnect, DEFAULT_RECONNECT);
        assert_eq!(join.tls, None);
        assert_eq!(join.program, "echo");
        assert_eq!(join.args, ["--id", "x"]);
    }

    #[test]
    fn flags_override_and_zero_heartbeat_is_none() {
        let line = [
            "--id",
            "w2",
            "--host",
            "::1",
            "--port",
            "9000",
            "--heartbeat-ms",
            "0",
            "--reconnect-ms",
            "0",
        ];
        let join = parse_line(&line, &["true"]).expect("valid");
        assert_eq!((join.host.as_str(), join.port), ("::1", 9000));
        assert_eq!(join.heartbeat, None);
        assert_eq!(join.reconnect, Duration::ZERO);
    }

    #[test]
    fn missing_id_or_command_and_bad_numbers_are_usage_errors() {
        assert_eq!(parse_line(&[], &["true"]).err(), Some(2));
        assert_eq!(parse_line(&["--id", "w"], &[]).err(), Some(2));
        assert_eq!(
            parse_line(&["--id", "w", "--port", "http"], &["true"]).err(),
            Some(2)
        );
        assert_eq!(
            parse_line(&["--id", "w", "extra"], &["true"]).err(),
            Some(2)
        );
    }

    #[test]
    fn tls_flags_go_together() {
        let line = [
            "--id",
            "w",
            "--tls-ca",
            "ca.pem",
            "--tls-cert",
            "w.pem",
            "--tls-key",
            "w.key",
            "--tls-name",
            "conductor.example",
        ];
        let join = parse_line(&line, &["true"]).expect("valid");
        assert_eq!(
            join.tls,
            Some(TlsFiles {
                ca: "ca.pem".into(),
                identity: Some(("w.pem".into(), "w.key".into())),
                name: Some("conductor.example".to_string()),
            })
        );
        let only_ca = parse_line(&["--id", "w", "--tls-ca", "ca.pem"], &["true"]);
        assert!(only_ca
            .expect("valid")
            .tls
            .is_some_and(|t| t.identity.is_none()));
        for bad in [
            &["--id", "w", "--tls-ca", "ca.pem", "--tls-cert", "w.pem"][..],
            &["--id", "w", "--tls-key", "w.key", "--tls-cert", "w.pem"][..],
            &["--id", "w", "--tls-name", "x"][..],
        ] {
            assert_eq!(parse_line(bad, &["true"]).err(), Some(2), "{bad:?}");
        }
    }

    #[test]
    fn failures_say_the_status_and_signals_count_as_128_plus() {
        assert_eq!(
            failure(ExitStatus::from_raw(3 << 8)),
            (3, "command exited with status 3".to_string())
        );
        assert_eq!(
            failure(ExitStatus::from_raw(9)),
            (
                137,
                "command exited with status 137 (killed by signal 9)".to_string()
            )
        );
    }
}
