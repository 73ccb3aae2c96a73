//! `conductor` (no subcommand): loads the configuration, binds, prints the start-up line and
//! runs the driver until the conductor ends.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use pico_args::Arguments;

use crate::config::{Config, ConfigError};
use crate::driver::{self, Driver, StatusFiles};
use lockstep_proto::round::EndKind;

/// Runs the conductor with the flags in `args`.
pub fn run(mut args: Arguments) -> i32 {
    let given: Option<PathBuf> = match args.opt_value_from_str("--config") {
        Ok(given) => given,
        Err(e) => return super::usage_error(&e.to_string()),
    };
    let (level, log_file) = match logging_flags(&mut args) {
        Ok(v) => v,
        Err(message) => return super::usage_error(&message),
    };
    let (config, source) = match configure(given, args.finish()) {
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
        eprintln!("conductor: {error}");
        return 2;
    }
    let tls = match driver::tls::Settings::load(&config, &source) {
        Ok(tls) => tls,
        Err(error) => {
            eprintln!("conductor: {error}");
            return 2;
        }
    };
    let log_batch = match super::logging::init(level, log_file.as_deref()) {
        Ok(batch) => batch,
        Err(message) => {
            eprintln!("conductor: {message}");
            return 2;
        }
    };
    let listener = match driver::bind(&config.host, config.port) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("conductor: error: {e}");
            return 1;
        }
    };
    let mut driver = match Driver::new(listener, config.core_config(), status_files) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("conductor: error: cannot start the event loop: {e}");
            return 1;
        }
    };
    driver.flush_log_batches(log_batch);
    let tls_note = match &tls {
        Some(_) if config.tls_client_ca.is_empty() => " (TLS)",
        Some(_) => " (TLS, client certificates required)",
        None => "",
    };
    driver.use_tls(tls);
    println!("listening on {}", driver.address());
    let _ = std::io::stdout().flush();
    log::info!(
        "conductor {} listening on {}{tls_note}",
        config.server_id,
        driver.address()
    );
    let end = driver.run();
    log::info!("exiting with code {}", end.exit_code());
    log::logger().flush();
    if let EndKind::Fatal(error) = &end {
        eprintln!("conductor: error: {error}");
    }
    end.exit_code()
}

/// Loads the configuration file (`given`, or `./config.json` if present) and applies the
/// setting flags in `rest`, the arguments no other flag took; returns the settings and where
/// they came from. Errors are printed and give exit code 2.
fn configure(given: Option<PathBuf>, rest: Vec<OsString>) -> Result<(Config, String), i32> {
    let (path, required) = match given {
        Some(p) => (p, true),
        None => (PathBuf::from("config.json"), false),
    };
    let mut config = Config::load(&path, required).map_err(|e| {
        eprintln!("conductor: {e}");
        2
    })?;
    for (key, value) in setting_flags(rest)? {
        config.set_flag(&key, &value).map_err(|e| {
            eprintln!("conductor: {e}");
            2
        })?;
    }
    let source = format!("{} and the command line", path.display());
    config.check(&source).map_err(|e| {
        eprintln!("conductor: {e}");
        2
    })?;
    Ok((config, source))
}

/// Splits `rest` into `--KEY VALUE` pairs, one flag per key of `config.json` in kebab-case
/// ([`Config::keys`]); returns each key in snake case with its value. Anything else is an
/// unexpected argument (exit 2).
fn setting_flags(rest: Vec<OsString>) -> Result<Vec<(String, String)>, i32> {
    let keys = Config::keys();
    let mut pairs = Vec::new();
    let mut rest = rest.into_iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = rest.next() {
        match keys.iter().find(|key| Config::flag(key) == arg) {
            Some(key) => match rest.next() {
                Some(value) => pairs.push((key.clone(), value)),
                None => return Err(super::usage_error(&format!("the flag {arg} needs a value"))),
            },
            None => {
                let unexpected: Vec<String> = std::iter::once(arg).chain(rest).collect();
                return Err(super::usage_error(&format!(
                    "unexpected argument(s): {}",
                    unexpected.join(" ")
                )));
            }
        }
    }
    Ok(pairs)
}

fn logging_flags(args: &mut Arguments) -> Result<(log::LevelFilter, Option<PathBuf>), String> {
    let level: Option<String> = args
        .opt_value_from_str("--log-level")
        .map_err(|e| e.to_string())?;
    let level = match level {
        Some(text) => super::logging::parse_level(&text)?,
        None => log::LevelFilter::Info,
    };
    let file: Option<PathBuf> = args
        .opt_value_from_str("--log-file")
        .map_err(|e| e.to_string())?;
    Ok((level, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> Vec<OsString> {
        line.iter().map(OsString::from).collect()
    }

    #[test]
    fn every_key_is_a_kebab_case_flag() {
        let line: Vec<String> = Config::keys()
            .iter()
            .flat_map(|key| [Config::flag(key), "1".to_string()])
            .collect();
        let line: Vec<&str> = line.iter().map(String::as_str).collect();
        let pairs = setting_flags(args(&line)).expect("every key is a flag");
        let keys: Vec<String> = pairs.into_iter().map(|(key, _)| key).collect();
        assert_eq!(keys, Config::keys());
        assert!(line.contains(&"--min-clients"));
    }

    #[test]
    fn other_arguments_and_missing_values_are_usage_errors() {
        assert_eq!(setting_flags(args(&["--bogus", "1"])), Err(2));
        assert_eq!(setting_flags(args(&["--port"])), Err(2));
        assert_eq!(setting_flags(args(&["--port", "1", "extra"])), Err(2));
        assert_eq!(setting_flags(args(&["--min_clients", "1"])), Err(2));
    }
}
