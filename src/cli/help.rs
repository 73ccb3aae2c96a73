//! The help pages, one per command: what it does, every flag with its default, exit codes.
//! Defaults come from where they are defined (the configuration, the commands' constants),
//! and the conductor's page lists every configuration key from [`Config::settings`]. Lines
//! are wrapped to fit 80 columns.

use super::{bench_cmd, ctl, join, status_cmd, Cmd, VERSION};
use crate::config::Config;
use crate::driver::control;

/// Width the pages are wrapped to.
const WIDTH: usize = 80;
/// The widest first column of a flag table; a longer flag puts its text on the next line.
const MAX_FLAG_COLUMN: usize = 26;

/// The help page of `cmd`.
pub fn page(cmd: Cmd) -> String {
    match cmd {
        Cmd::Run => conductor(),
        Cmd::Join => join_page(),
        Cmd::Status => status_page(),
        Cmd::Ctl => ctl_page(),
        Cmd::Bench => bench_page(),
        Cmd::Relay => relay_page(),
    }
}

fn relay_page() -> String {
    use lockstep_proto::relay::{DEFAULT_HEARTBEAT, DEFAULT_WINDOW};
    let flags = table(&[
        (
            "--upstream HOST:PORT",
            "the conductor (or relay) above this one (required)".to_string(),
        ),
        (
            "--id ID",
            "this relay's id upstream, 1 to 12 printable characters; also its id \
             downstream unless server_id is set (required)"
                .to_string(),
        ),
        (
            "--heartbeat-ms N",
            format!(
                "send W upstream every N ms while a round runs; 0 = only for ? (default: {})",
                DEFAULT_HEARTBEAT.as_millis()
            ),
        ),
        (
            "--reconnect-ms N",
            format!(
                "how long an upstream outage may last before the relay gives up (E, X, \
                 exit 1); 0 = at once (default: {})",
                DEFAULT_WINDOW.as_millis()
            ),
        ),
        (
            "--upstream-tls-ca FILE",
            "speak TLS upstream, trusting the CA certificates in FILE".to_string(),
        ),
        (
            "--upstream-tls-cert FILE",
            "with --upstream-tls-key: the certificate to present upstream".to_string(),
        ),
        (
            "--upstream-tls-key FILE",
            "the key of --upstream-tls-cert".to_string(),
        ),
        (
            "--upstream-tls-name NAME",
            "the name the upstream's certificate must carry (default: its host)".to_string(),
        ),
    ]);
    format!(
        "conductor relay: a conductor downstream, one participant upstream

Usage:
  conductor relay --upstream HOST:PORT --id ID [FLAGS] [conductor flags]

{}
Flags:
{flags}
{}
{}
",
        wrap(
            "It says hello upstream once min_clients of its own participants are ready. Each \
             Go from upstream goes to its ready participants with the same step; Done goes \
             upstream when all of them are Done (or gone). T, S, C and E are passed down. \
             Its own side takes every flag and key of the conductor (see 'conductor help'); \
             rounds, step_wrap, shutdown_countdown and slow_round_ms are the root's and \
             are not used; pace_ms, state_file and --fresh are refused (give them to the \
             root), and conductor ctl takes only exempt and status here. Its status files \
             and control socket default to status-ID.json, status-ID.txt and \
             conductor-ID.sock. A lost upstream is reconnected while the participants wait; \
             a Go repeated by a root resumed from its state file gets Done, never a second \
             wave.",
            0
        ),
        wrap(
            "Signals: SIGINT: C and X downstream, X upstream, exit 0; SIGTERM and SIGHUP: \
             finish the running round, Done and X upstream, then C and X downstream; \
             SIGUSR1: close every connection without a word and exit 0 (a planned restart).",
            0
        ),
        wrap(
            "Exit codes: 0 after the upstream's C or X, SIGINT or SIGTERM; 1 after the \
             upstream's E, a refusal from upstream, an outage longer than --reconnect-ms or \
             a fatal error; 2 for a bad command line or configuration.",
            0
        ),
    )
}

fn conductor() -> String {
    let flags = table(&[
        (
            "--config FILE",
            "the configuration file (default: ./config.json, if there is one)".to_string(),
        ),
        (
            "--log-level L",
            "off, error, warn, info, debug or trace (default: info)".to_string(),
        ),
        (
            "--log-file FILE",
            "append the log to FILE (default: stderr)".to_string(),
        ),
        (
            "--fresh",
            "with state_file: start at step 0 and overwrite the file, instead of resuming \
             the run it recorded"
                .to_string(),
        ),
        ("-h, --help", "show this page".to_string()),
        ("-V, --version", "show the version".to_string()),
    ]);
    let settings: Vec<(String, String)> = Config::settings()
        .into_iter()
        .map(|s| {
            let meaning = s.meaning.replace('`', "");
            (
                format!("{} {}", s.flag, s.placeholder),
                format!("{meaning} (default: {})", s.default),
            )
        })
        .collect();
    format!(
        "conductor {VERSION}: makes many processes advance in lockstep over TCP

Usage:
  conductor [--config FILE] [--KEY VALUE ...] [--log-level L] [--log-file FILE]
            [--fresh]
  conductor join --id ID [FLAGS] -- COMMAND [ARGS...]
  conductor relay --upstream HOST:PORT --id ID [FLAGS] [--KEY VALUE ...]
  conductor status [--file FILE] [--watch]
  conductor ctl COMMAND [ARGS] [--control PATH]
  conductor bench (--spawn | --addr HOST:PORT | --baseline PATH) [FLAGS]
  conductor help [COMMAND]

{}
Flags:
{flags}
Settings (the keys of config.json; LIST is comma-separated):
{}
{}
{}",
        wrap(
            "Without a command, runs the conductor: it sends every participant Go for step n, \
             and step n+1 once each has answered Done (or left). Settings come from \
             config.json (or --config FILE); each flag --KEY VALUE below overrides the file's \
             KEY. 'conductor help COMMAND' or 'conductor COMMAND --help' describes join (run \
             a command as a participant), relay (one conductor's participant, another's \
             conductor), status (show a status file), ctl (pause, resume, step or pace a \
             running conductor) and bench (measure a server).",
            0
        ),
        table(&settings),
        wrap(
            "Signals: SIGTERM and SIGHUP stop gracefully (a countdown, then C and X); SIGINT \
             ceases at once (C, X), a second SIGINT exits at once; SIGUSR1 restarts: the \
             state recorded, every connection closed without a word (participants reconnect \
             to the next conductor, which resumes from state_file), exit 0 at once; SIGQUIT \
             keeps its default (ends at once, core dump).",
            0
        ),
        wrap(
            "Exit codes: 0 after a planned end, a graceful stop, a hang-up, a restart \
             (SIGUSR1) or an interrupt; 1 after a fatal error; 2 for a bad command line or \
             configuration, status files or a state file another conductor is using, or a \
             state file that cannot be resumed from; 130 after a second SIGINT.",
            0
        ),
    )
}

fn join_page() -> String {
    let defaults = Config::default();
    let flags = table(&[
        (
            "--id ID",
            "this participant's id, 1 to 12 printable characters (required)".to_string(),
        ),
        (
            "--host HOST",
            format!("the conductor's address (default: {})", defaults.host),
        ),
        (
            "--port PORT",
            format!("the conductor's port (default: {})", defaults.port),
        ),
        (
            "--heartbeat-ms N",
            format!(
                "send W every N ms while COMMAND runs; 0 = never (default: {})",
                join::DEFAULT_HEARTBEAT.as_millis()
            ),
        ),
        (
            "--reconnect-ms N",
            format!(
                "after the connection is lost without a goodbye, try to reconnect for N ms; \
                 0 = never (default: {})",
                join::DEFAULT_RECONNECT.as_millis()
            ),
        ),
        (
            "--tls-ca FILE",
            "speak TLS, trusting the CA certificates in FILE for the conductor's \
             certificate (default: plaintext)"
                .to_string(),
        ),
        (
            "--tls-cert FILE",
            "with --tls-ca: the certificate chain to present when the conductor asks for one \
             (default: none)"
                .to_string(),
        ),
        (
            "--tls-key FILE",
            "with --tls-cert: its private key".to_string(),
        ),
        (
            "--tls-name NAME",
            "with --tls-ca: the name the conductor's certificate must carry (default: --host)"
                .to_string(),
        ),
        ("-h, --help", "show this page".to_string()),
    ]);
    format!(
        "conductor join: makes any command a participant

Usage:
  conductor join --id ID [--host HOST] [--port PORT] [--heartbeat-ms N]
                 [--reconnect-ms N]
                 [--tls-ca FILE [--tls-cert FILE --tls-key FILE]
                 [--tls-name NAME]] -- COMMAND [ARGS...]

{}
Flags:
{flags}
{}
{}",
        wrap(
            "Connects to the conductor as ID. For each Go it runs COMMAND (stdin closed, stdout \
             and stderr inherited) with LOCKSTEP_STEP, LOCKSTEP_ID and LOCKSTEP_SERVER \
             (host:port) in its environment, sends W every heartbeat while COMMAND runs and \
             Done when it exits 0. COMMAND is looked up in PATH (a name with a slash is a \
             path) and must be executable before join connects. The conductor's T, S n, C and \
             E are printed to stderr in plain words. A connection lost without C, E or X is an \
             outage: join says so in one line, reconnects as the same ID (a restarted \
             conductor resumes its run) and answers a step it ran already without running \
             COMMAND again.",
            0
        ),
        wrap(
            "Exit codes: 0 after the conductor's end; COMMAND's own status if it fails (128+N \
             if signal N killed it), after refusing the step with the reason; 127 if COMMAND \
             is not found and 126 if it is not executable (both before connecting); 1 if the \
             connection fails (TLS failures included) or the conductor ends on an error; 2 for \
             a bad command line; 3 \
             if the conductor refuses the participant; 4 if the connection was lost and the \
             conductor did not come back within --reconnect-ms.",
            0
        ),
        wrap(
            &format!(
                "Signals: COMMAND runs in a process group of its own; SIGTERM, SIGINT or \
                 SIGHUP to join is passed on to it, join leaves with X and exits with 128+N \
                 (whatever is left of COMMAND's group is killed after {} s).",
                join::GRACE.as_secs()
            ),
            0
        ),
    )
}

fn status_page() -> String {
    let flags = table(&[
        (
            "--file FILE",
            format!("the status file (default: {})", status_cmd::DEFAULT_FILE),
        ),
        (
            "--watch",
            format!(
                "redraw every {} s; after a last frame, end once the file says the conductor \
                 has stopped",
                status_cmd::WATCH_PERIOD.as_secs()
            ),
        ),
        ("-h, --help", "show this page".to_string()),
    ]);
    format!(
        "conductor status: shows a conductor's status file

Usage:
  conductor status [--file FILE] [--watch]

{}
Flags:
{flags}
{}",
        wrap(
            "Shows the status.json a conductor writes as a table for a person, with the age \
             of the file: a conductor rewrites it every status_interval_ms, so a file that \
             keeps getting older belongs to a conductor that is stuck or gone.",
            0
        ),
        wrap(
            "Exit codes: 0 once shown (with --watch, once the conductor has stopped); 1 if \
             the file cannot be read (with --watch, it is read again every time); 2 for a bad \
             command line.",
            0
        ),
    )
}

fn ctl_page() -> String {
    let flags = table(&[
        (
            "--control PATH",
            format!(
                "the conductor's control socket (default: {}; the conductor makes it beside \
                 its status.json)",
                ctl::DEFAULT_SOCKET
            ),
        ),
        ("-h, --help", "show this page".to_string()),
    ]);
    let commands = table(&[
        (
            "pause",
            "no new wave after the running round; participants wait, answering probes".to_string(),
        ),
        (
            "resume",
            "waves go out again (clears a step N); the next wave follows".to_string(),
        ),
        (
            "step N",
            "exactly N more waves (the running round does not count), then paused".to_string(),
        ),
        (
            "hold-at STEP",
            "pause before the wave of STEP, once; 'hold-at off' clears it".to_string(),
        ),
        (
            "pace MS",
            format!(
                "waves at most every MS ms from now on, 0 to {} (0 = as fast as the \
                 participants allow)",
                crate::config::MAX_PACE_MS
            ),
        ),
        (
            "exempt ID SECONDS",
            format!(
                "no probe and no liveness drop for participant ID for SECONDS (0 ends it, at \
                 most {}): a debugger holds it",
                control::request::MAX_EXEMPT_SECONDS
            ),
        ),
        (
            "status",
            "the status document, as one line of JSON".to_string(),
        ),
    ]);
    format!(
        "conductor ctl: controls a running conductor

Usage:
  conductor ctl COMMAND [ARGS] [--control PATH]

{}
Commands:
{commands}
Flags:
{flags}
{}",
        wrap(
            "Sends COMMAND to the conductor over its control socket (key control) and prints \
             what it did, or the status document for status. The socket is its owner's alone \
             (mode 0600): run ctl as the user who runs the conductor. The conductor logs every \
             command with the user and process that gave it.",
            0
        ),
        wrap(
            &format!(
                "Exit codes: 0 once carried out; 1 if the conductor refuses the command (the \
                 reason is on stderr), cannot be reached or does not answer within {} s; 2 for \
                 a bad command line.",
                ctl::ANSWER_TIMEOUT.as_secs()
            ),
            0
        ),
    )
}

fn bench_page() -> String {
    let flags = table(&[
        (
            "--spawn",
            "start a conductor with min_clients = N on a free port".to_string(),
        ),
        (
            "--addr HOST:PORT",
            "a server already listening there, with min_clients = N".to_string(),
        ),
        (
            "--baseline PATH",
            "start the raw-barrier baseline at PATH".to_string(),
        ),
        (
            "--clients N",
            "simulated clients (default: 1, or one per process with --procs)".to_string(),
        ),
        (
            "--procs P",
            "spread the clients over P processes (default: all in this process)".to_string(),
        ),
        (
            "--rounds R",
            format!("rounds to measure (default: {})", bench_cmd::DEFAULT_ROUNDS),
        ),
        (
            "--warmup W",
            "waves before the measured ones (default: a tenth of the rounds, 2 to 100)".to_string(),
        ),
        (
            "--work-us U",
            "simulated work between each Go and its answer, in microseconds (default: 0)"
                .to_string(),
        ),
        (
            "--server-pid PID",
            "report this server process's memory and CPU time (default: the server bench \
             started, if any)"
                .to_string(),
        ),
        ("--json", "print the report as one JSON object".to_string()),
        (
            "--tls",
            "with --spawn: the clients speak TLS; the run makes a CA, the conductor's \
             certificate and one client certificate per client, and the conductor requires \
             them (default: plaintext)"
                .to_string(),
        ),
        (
            "--tls-ca FILE",
            "with --addr: the clients speak TLS, trusting FILE; --tls-cert FILE, --tls-key \
             FILE and --tls-name NAME as for join"
                .to_string(),
        ),
        (
            "--scrape-http",
            "with --spawn: switch the conductor's HTTP endpoint on and scrape its /metrics \
             every second during the run (default: off)"
                .to_string(),
        ),
        (
            "--relays K",
            "with --spawn: start K relays under the conductor and spread the clients over \
             them in turn (default: 0, the clients connect to the conductor)"
                .to_string(),
        ),
        (
            "--pace-ms MS",
            "with --spawn: the conductor's pace_ms; the round times are then the intervals \
             between waves, and the report adds their minimum and the late waves (default: \
             none)"
                .to_string(),
        ),
        (
            "--state-file",
            "with --spawn: the conductor keeps a state file (state_file) in its scratch \
             directory; the report says what it held at the end (default: off)"
                .to_string(),
        ),
        (
            "--state-sync",
            "with --spawn: a state file synced after each record (state_sync: true)".to_string(),
        ),
        (
            "--first-id N",
            "the number in the first client's id (default: 0; set by --procs)".to_string(),
        ),
        (
            "--samples",
            "put every round time in the report (set by --procs)".to_string(),
        ),
        ("-h, --help", "show this page".to_string()),
    ]);
    format!(
        "conductor bench: measures a barrier server the way its clients see it

Usage:
  conductor bench (--spawn | --addr HOST:PORT | --baseline PATH)
                  [--clients N] [--procs P] [--rounds R] [--warmup W]
                  [--work-us U] [--server-pid PID] [--json] [--scrape-http]
                  [--relays K] [--pace-ms MS] [--state-file | --state-sync]
                  [--tls | --tls-ca FILE [--tls-cert FILE --tls-key FILE]
                  [--tls-name NAME]]

{}
Flags (exactly one of --spawn, --addr, --baseline):
{flags}
{}",
        wrap(
            "Runs N simulated clients against a server and reports connect time, rounds per \
             second, round-time percentiles, protocol violations, and the server's CPU time \
             per round and memory per client (for a server it started, or --server-pid).",
            0
        ),
        wrap(
            "Exit codes: 0 after a run; 1 if the run fails; 2 for a bad command line.",
            0
        ),
    )
}

/// Flags and what they do, in two columns; the second is wrapped.
fn table(rows: &[(impl AsRef<str>, String)]) -> String {
    let column = rows
        .iter()
        .map(|(flag, _)| flag.as_ref().len() + 4)
        .filter(|&width| width <= MAX_FLAG_COLUMN)
        .max()
        .unwrap_or(MAX_FLAG_COLUMN);
    let mut out = String::new();
    for (flag, text) in rows {
        let text = wrap(text, column);
        let first = format!("  {}", flag.as_ref());
        if first.len() + 2 <= column {
            out += &format!("{first:<column$}{}", text.get(column..).unwrap_or("\n"));
        } else {
            out += &format!("{first}\n{text}");
        }
    }
    out
}

/// `text` in lines of at most [`WIDTH`] columns (a longer word has a line of its own), each
/// indented by `indent` spaces and ending in a newline.
fn wrap(text: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > WIDTH {
            out += &format!("{:indent$}{line}\n", "");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out += &format!("{:indent$}{line}\n", "");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_fits_80_columns() {
        for cmd in [
            Cmd::Run,
            Cmd::Join,
            Cmd::Relay,
            Cmd::Status,
            Cmd::Ctl,
            Cmd::Bench,
        ] {
            for line in page(cmd).lines() {
                assert!(line.chars().count() <= WIDTH, "{cmd:?}: {line:?}");
            }
        }
    }

    #[test]
    fn the_conductors_page_lists_every_key_with_its_default() {
        let text = page(Cmd::Run);
        for s in Config::settings() {
            let at = text.find(&format!("  {} {}", s.flag, s.placeholder));
            let at = at.unwrap_or_else(|| panic!("{} missing:\n{text}", s.flag));
            let (entry, _) = text[at..].split_once("\n  --").unwrap_or((&text[at..], ""));
            let entry = entry.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                entry.contains(&format!("(default: {})", s.default)),
                "{entry}"
            );
        }
    }

    #[test]
    fn tables_align_and_wrap() {
        let text = table(&[
            ("--a", "short".to_string()),
            ("--much-longer-flag-than-the-column", "x ".repeat(50)),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "  --a  short");
        assert_eq!(lines[1], "  --much-longer-flag-than-the-column");
        assert!(lines[2].starts_with("       x x"), "{text}");
        assert!(lines.len() > 3, "{text}");
    }
}
