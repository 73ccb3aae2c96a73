//! `conductor` (no subcommand): loads the configuration, opens the state file (where the run
//! resumes, or `--fresh`), binds, prints the start-up line and runs the driver until the
//! conductor ends. `conductor relay` runs the same, with an upstream side added to the driver
//! and no state file of its own (its steps are the root's).

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use pico_args::Arguments;

use super::{flags, Cmd};
use crate::config::{Config, ConfigError};
use crate::driver::{self, control, Driver, Start, StateFile, StatusFiles, StatusLock};
use lockstep_proto::round::EndKind;

/// Runs the conductor with the flags in `args`.
pub fn run(args: Arguments) -> i32 {
    serve(Cmd::Run, args, None)
}

/// What makes a conductor a relay: its upstream side.
pub struct RelaySetup {
    /// The relay's own settings.
    pub config: lockstep_proto::relay::RelayConfig,
    /// `HOST:PORT` of the upstream conductor.
    pub upstream: String,
    /// TLS to the upstream, when given.
    pub tls: Option<crate::bench::tls::ClientTls>,
}

/// Runs a conductor (`cmd` names it in messages) with the settings flags in `args`; a relay
/// when `relay` is given.
pub fn serve(cmd: Cmd, mut args: Arguments, relay: Option<RelaySetup>) -> i32 {
    let given = match flags::path(&mut args, "--config") {
        Ok(given) => given,
        Err(message) => return super::usage_error(cmd, message),
    };
    let (level, log_file) = match logging_flags(&mut args) {
        Ok(v) => v,
        Err(message) => return super::usage_error(cmd, message),
    };
    let fresh = args.contains("--fresh");
    if fresh && relay.is_some() {
        return super::usage_error(cmd, RELAY_KEEPS_NO_STATE.to_string());
    }
    let (config, source) = match configure(cmd, given, args.finish(), relay.as_ref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (json, txt) = config.status_paths();
    let status_files = StatusFiles { json, txt };
    if let Err((key, problem)) = status_files.check() {
        let error = ConfigError {
            source,
            key: Some(key.to_string()),
            problem,
        };
        super::error(cmd, error);
        return 2;
    }
    let tls = match driver::tls::Settings::load(&config, &source) {
        Ok(tls) => tls,
        Err(error) => {
            super::error(cmd, error);
            return 2;
        }
    };
    // Held until the conductor has written its last status and returns.
    let status_lock = match StatusLock::take(status_files.paths()) {
        Ok(lock) => lock,
        Err(in_use) => {
            super::error(cmd, in_use);
            return 2;
        }
    };
    // Made before anything starts a thread (it sets the umask for a moment), and after the
    // status lock, so that a second conductor in the same directory is refused by that first.
    // A socket another conductor answers on, or something else at its path, refuses the start;
    // one the system will not make (a missing directory, say) is logged, and the rounds run
    // without it, as they do without a status file that cannot be written.
    let mut control_problem = None;
    let control = match config.control_path() {
        Some(path) => match control::socket::bind(&path) {
            Ok(bound) => Some(bound),
            Err(e @ control::socket::BindError::Io(..)) => {
                control_problem = Some(format!(
                    "control socket: {e}; conductor ctl cannot reach this conductor"
                ));
                None
            }
            Err(e) => {
                let error = ConfigError {
                    source,
                    key: Some("control".to_string()),
                    problem: e.to_string(),
                };
                super::error(cmd, error);
                return 2;
            }
        },
        None => None,
    };
    let state = if config.state_file.is_empty() {
        None
    } else {
        let path = PathBuf::from(&config.state_file);
        let rounds = config.core_config().rounds;
        match StateFile::open(&path, &rounds, fresh, config.state_sync) {
            Ok(opened) => Some(opened),
            Err(error) => {
                super::error(cmd, error);
                return 2;
            }
        }
    };
    let log_batch = match super::logging::init(level, log_file.as_deref()) {
        Ok(batch) => batch,
        Err(message) => {
            super::error(cmd, message);
            return 2;
        }
    };
    for problem in status_lock.problems().iter().chain(&control_problem) {
        log::warn!("{problem}");
    }
    let listener = match driver::bind(&config.host, config.port) {
        Ok(l) => l,
        Err(e) => {
            super::error(cmd, format!("error: {e}"));
            return 1;
        }
    };
    let mut core_config = config.core_config();
    if relay.is_some() {
        // `T` comes from the root, passed down; a relay keeps no round time of its own.
        core_config.rounds.slow_round = lockstep_proto::time::Duration::ZERO;
        if config.server_id == Config::default().server_id {
            if let Some(setup) = &relay {
                core_config.server_id = setup.config.id;
            }
        }
    }
    let relay_note = relay
        .as_ref()
        .map(|r| format!(", relaying to {} as {}", r.upstream, r.config.id))
        .unwrap_or_default();
    let server_id = core_config.server_id;
    if let Some((file, start)) = &state {
        core_config.persist = true;
        say_where_the_run_starts(file, *start, fresh, &mut core_config);
    }
    let mut driver = match Driver::new(listener, core_config, status_files) {
        Ok(d) => d,
        Err(e) => {
            super::error(cmd, format!("error: cannot start the event loop: {e}"));
            return 1;
        }
    };
    driver.flush_log_batches(log_batch);
    let control_path = control.as_ref().map(|(_, file)| file.path().to_path_buf());
    if let Some((listener, file)) = control {
        if let Err(e) = driver.serve_control(listener, file) {
            super::error(cmd, format!("error: cannot serve the control socket: {e}"));
            return 1;
        }
    }
    if let Some((file, _)) = state {
        driver.keep_state(file);
    }
    let http = match config.http_address() {
        Some(address) => match serve_http(&mut driver, address) {
            Ok(bound) => Some(bound),
            Err(e) => {
                super::error(cmd, format!("error: {e}"));
                return 1;
            }
        },
        None => None,
    };
    let tls_note = match &tls {
        Some(_) if config.tls_client_ca.is_empty() => " (TLS)",
        Some(_) => " (TLS, client certificates required)",
        None => "",
    };
    driver.use_tls(tls);
    if let Some(setup) = relay {
        driver.relay(setup.config, setup.upstream, setup.tls);
    }
    println!("listening on {}", driver.address());
    if let Some(bound) = http {
        println!("http on {bound}");
    }
    let _ = std::io::stdout().flush();
    log::info!(
        "conductor {} listening on {}{tls_note}{relay_note}",
        server_id,
        driver.address()
    );
    if let Some(bound) = http {
        log::info!("http: metrics at http://{bound}/metrics, the status page at http://{bound}/");
    }
    if let Some(path) = control_path {
        log::info!("control socket at {} (conductor ctl)", path.display());
    }
    let end = driver.run();
    log::info!("exiting with code {}", end.exit_code());
    log::logger().flush();
    match &end {
        EndKind::Fatal(error) => super::error(cmd, format!("error: {error}")),
        EndKind::ParticipantFailed { .. } => super::error(cmd, format!("ended: {end}")),
        _ => {}
    }
    drop(status_lock);
    end.exit_code()
}

/// Logs where the run starts, as the state file said, and sets the core to resume there.
fn say_where_the_run_starts(
    file: &StateFile,
    start: Start,
    fresh: bool,
    core: &mut lockstep_proto::core::CoreConfig,
) {
    let path = file.path().display();
    match start {
        Start::Resume { record } => {
            core.resume = Some(record.waves_sent);
            log::info!(
                "resuming after step {} from {path}; --fresh starts at 0",
                record.step
            );
        }
        Start::Fresh { .. } if fresh => {
            log::info!("starting at step 0 (--fresh): {path} is overwritten");
        }
        Start::Fresh {
            after_finished: true,
        } => log::info!("{path} holds a run that had finished; starting at step 0"),
        Start::Fresh { .. } => log::info!("recording the run in {path}"),
    }
}

/// Binds the HTTP endpoint's address (port 0 picks a free one) and serves it from the driver's
/// loop; returns the bound address.
fn serve_http(driver: &mut Driver, address: SocketAddr) -> Result<SocketAddr, String> {
    let listener = driver::bind(&address.ip().to_string(), address.port())
        .map_err(|e| format!("http: {e}"))?;
    driver
        .serve_http(listener)
        .map_err(|e| format!("http: cannot serve on {address}: {e}"))
}

/// Loads the configuration file (`given`, or `./config.json` if present) and applies the
/// setting flags in `rest`, the arguments no other flag took; returns the settings and where
/// they came from (the file, the command line, or both: only what was read is named). Errors
/// are printed and give exit code 2.
fn configure(
    cmd: Cmd,
    given: Option<PathBuf>,
    rest: Vec<OsString>,
    relay: Option<&RelaySetup>,
) -> Result<(Config, String), i32> {
    let fail = |e: ConfigError| {
        super::error(cmd, e);
        2
    };
    let (path, required) = match given {
        Some(p) => (p, true),
        None => (PathBuf::from("config.json"), false),
    };
    let loaded = Config::load(&path, required).map_err(fail)?;
    let read = loaded.is_some();
    let mut config = loaded.unwrap_or_default();
    let flags = setting_flags(cmd, rest)?;
    for (key, value) in &flags {
        config.set_flag(key, value).map_err(fail)?;
    }
    let source = match (read, flags.is_empty()) {
        (true, true) => path.display().to_string(),
        (true, false) => format!("{} and the command line", path.display()),
        (false, _) => "command line".to_string(),
    };
    if let Some(setup) = relay {
        let on_command_line: Vec<&str> = flags.iter().map(|(key, _)| key.as_str()).collect();
        relay_defaults(&mut config, setup.config.id, &on_command_line);
        let refused = if !config.state_file.is_empty() {
            Some(("state_file", RELAY_KEEPS_NO_STATE))
        } else if config.pace_ms != 0 {
            Some(("pace_ms", RELAY_HAS_NO_PACE))
        } else {
            None
        };
        if let Some((key, problem)) = refused {
            return Err(fail(ConfigError {
                source,
                key: Some(key.to_string()),
                problem: problem.to_string(),
            }));
        }
    }
    config.check(&source).map_err(fail)?;
    Ok((config, source))
}

/// Why a relay takes no `state_file` and no `--fresh`.
const RELAY_KEEPS_NO_STATE: &str = "a relay keeps no state file: its steps are the root's, \
     and the root's state_file is where a run resumes; give it to the root";

/// Why a relay takes no `pace_ms`.
const RELAY_HAS_NO_PACE: &str = "a relay's waves are its upstream's, sent as they come: \
     give pace_ms to the root";

/// A relay's status files and control socket, where they are left at the conductor's
/// defaults, are named after its `id` (`status-ID.json`, `status-ID.txt`,
/// `conductor-ID.sock`, with any character other than a letter, a digit, `-`, `_` or `.`
/// written `_`), so that a root and its relays can share a directory (and its `config.json`).
/// A key set by a flag (`on_command_line`) is kept as given, even at the default's value.
fn relay_defaults(config: &mut Config, id: lockstep_proto::wire::Id, on_command_line: &[&str]) {
    let id: String = id
        .as_str()
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    let defaults = Config::default();
    let named = [
        (
            "status_json",
            &mut config.status_json,
            &defaults.status_json,
            format!("status-{id}.json"),
        ),
        (
            "status_txt",
            &mut config.status_txt,
            &defaults.status_txt,
            format!("status-{id}.txt"),
        ),
        (
            "control",
            &mut config.control,
            &defaults.control,
            format!("conductor-{id}.sock"),
        ),
    ];
    for (key, value, default, own) in named {
        if value == default && !on_command_line.contains(&key) {
            *value = own;
        }
    }
}

/// Splits `rest` into `--KEY VALUE` pairs, one flag per key of `config.json` in kebab-case
/// ([`Config::keys`]); returns each key in snake case with its value. Anything else is an
/// unexpected argument (exit 2).
fn setting_flags(cmd: Cmd, rest: Vec<OsString>) -> Result<Vec<(String, String)>, i32> {
    let keys = Config::keys();
    let mut pairs = Vec::new();
    let mut rest = rest.into_iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = rest.next() {
        match keys.iter().find(|key| Config::flag(key) == arg) {
            Some(key) => match rest.next() {
                Some(value) => pairs.push((key.clone(), value)),
                None => return Err(super::usage_error(cmd, format!("{arg} needs a value"))),
            },
            None => {
                let unexpected: Vec<String> = std::iter::once(arg).chain(rest).collect();
                return Err(super::usage_error(
                    cmd,
                    format!("unexpected argument(s): {}", unexpected.join(" ")),
                ));
            }
        }
    }
    Ok(pairs)
}

fn logging_flags(args: &mut Arguments) -> Result<(log::LevelFilter, Option<PathBuf>), String> {
    let level: Option<String> = flags::value(args, "--log-level")?;
    let level = match level {
        Some(text) => super::logging::parse_level(&text)?,
        None => log::LevelFilter::Info,
    };
    let file = flags::path(args, "--log-file")?;
    Ok((level, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> Vec<OsString> {
        line.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_relay_names_its_files_after_its_id_unless_a_flag_names_them() {
        let id = lockstep_proto::wire::Id::new("rack 1").expect("a valid id");
        let mut config = Config::default();
        relay_defaults(&mut config, id, &[]);
        assert_eq!(
            [&config.status_json, &config.status_txt, &config.control],
            [
                "status-rack_1.json",
                "status-rack_1.txt",
                "conductor-rack_1.sock"
            ]
        );
        let mut config = Config::default();
        relay_defaults(&mut config, id, &["status_json"]);
        assert_eq!(config.status_json, Config::default().status_json);
        assert_eq!(config.status_txt, "status-rack_1.txt");
        let mut config = Config {
            control: "ctl.sock".to_string(),
            ..Config::default()
        };
        relay_defaults(&mut config, id, &[]);
        assert_eq!(config.control, "ctl.sock");
    }

    #[test]
    fn every_key_is_a_kebab_case_flag() {
        let line: Vec<String> = Config::keys()
            .iter()
            .flat_map(|key| [Config::flag(key), "1".to_string()])
            .collect();
        let line: Vec<&str> = line.iter().map(String::as_str).collect();
        let pairs = setting_flags(Cmd::Run, args(&line)).expect("every key is a flag");
        let keys: Vec<String> = pairs.into_iter().map(|(key, _)| key).collect();
        assert_eq!(keys, Config::keys());
        assert!(line.contains(&"--min-clients"));
    }

    #[test]
    fn other_arguments_and_missing_values_are_usage_errors() {
        assert_eq!(setting_flags(Cmd::Run, args(&["--bogus", "1"])), Err(2));
        assert_eq!(setting_flags(Cmd::Run, args(&["--port"])), Err(2));
        assert_eq!(
            setting_flags(Cmd::Run, args(&["--port", "1", "extra"])),
            Err(2)
        );
        assert_eq!(
            setting_flags(Cmd::Run, args(&["--min_clients", "1"])),
            Err(2)
        );
    }
}
