//! `conductor` (no subcommand): loads the configuration, binds, prints the start-up line and
//! runs the driver until the conductor ends.

use std::io::Write;
use std::path::PathBuf;

use pico_args::Arguments;

use crate::config::Config;
use crate::driver::{self, Driver, StatusFiles};
use crate::round::EndKind;

/// Runs the conductor with the flags in `args`.
pub fn run(mut args: Arguments) -> i32 {
    let config = match configure(&mut args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (level, log_file) = match logging_flags(&mut args) {
        Ok(v) => v,
        Err(message) => return super::usage_error(&message),
    };
    if let Err(code) = super::finish(args) {
        return code;
    }
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
    let (json, txt) = config.status_paths();
    let mut driver = match Driver::new(listener, config.core_config(), StatusFiles { json, txt }) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("conductor: error: cannot start the event loop: {e}");
            return 1;
        }
    };
    driver.flush_log_batches(log_batch);
    println!("listening on {}", driver.address());
    let _ = std::io::stdout().flush();
    log::info!(
        "conductor {} listening on {}",
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

/// Reads `--config` and every setting flag; errors are printed and give exit code 2.
fn configure(args: &mut Arguments) -> Result<Config, i32> {
    let given: Option<PathBuf> = args
        .opt_value_from_str("--config")
        .map_err(|e| super::usage_error(&e.to_string()))?;
    let (path, required) = match given {
        Some(p) => (p, true),
        None => (PathBuf::from("config.json"), false),
    };
    let mut config = Config::load(&path, required).map_err(|e| {
        eprintln!("conductor: {e}");
        2
    })?;
    for flag in SETTING_FLAGS {
        let value: Option<String> = args
            .opt_value_from_fn(flag, |s| Ok::<_, std::convert::Infallible>(s.to_string()))
            .map_err(|e| super::usage_error(&e.to_string()))?;
        if let Some(value) = value {
            config
                .set_flag(&flag[2..].replace('-', "_"), &value)
                .map_err(|e| {
                    eprintln!("conductor: {e}");
                    2
                })?;
        }
    }
    let source = format!("{} and the command line", path.display());
    config.check(&source).map_err(|e| {
        eprintln!("conductor: {e}");
        2
    })?;
    Ok(config)
}

/// One flag per key of `config.json`, in kebab-case.
const SETTING_FLAGS: [&str; 16] = [
    "--host",
    "--port",
    "--server-id",
    "--min-clients",
    "--max-clients",
    "--rounds",
    "--step-wrap",
    "--shutdown-countdown",
    "--hello-timeout-ms",
    "--probe-after-ms",
    "--drop-after-ms",
    "--slow-round-ms",
    "--status-interval-ms",
    "--status-txt",
    "--status-json",
    "--allow",
];

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
    use crate::config::KEYS;

    #[test]
    fn every_key_has_a_flag() {
        let from_flags: Vec<String> = SETTING_FLAGS
            .iter()
            .map(|f| f[2..].replace('-', "_"))
            .collect();
        assert_eq!(from_flags, KEYS);
    }
}
