//! SPEC §7: the conductor's configuration — defaults, `config.json`, command-line overrides,
//! range checks, and errors that name the source, the key and the problem. Reads the file it
//! is given; everything else is pure.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::cidr::Cidr;
use crate::core::CoreConfig;
use crate::round::RoundConfig;
use crate::time::Duration;
use crate::wire::Id;

/// Every key `config.json` accepts, in the SPEC's order.
pub const KEYS: [&str; 16] = [
    "host",
    "port",
    "server_id",
    "min_clients",
    "max_clients",
    "rounds",
    "step_wrap",
    "shutdown_countdown",
    "hello_timeout_ms",
    "probe_after_ms",
    "drop_after_ms",
    "slow_round_ms",
    "status_interval_ms",
    "status_txt",
    "status_json",
    "allow",
];

/// The conductor's settings after defaults, file and flags.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Address to bind.
    pub host: String,
    /// TCP port; 0 picks a free one.
    pub port: u16,
    /// The conductor's id.
    pub server_id: Id,
    /// Ready clients needed before a wave.
    pub min_clients: u32,
    /// Clients past their hello beyond this are refused.
    pub max_clients: u32,
    /// Waves before a planned end; 0 = until stopped.
    pub rounds: u64,
    /// Steps count 0..step_wrap-1.
    pub step_wrap: u64,
    /// The N of the `S` countdown.
    pub shutdown_countdown: u32,
    /// Time allowed for a hello, ms; 0 = unlimited.
    pub hello_timeout_ms: u64,
    /// Silence before `?`, ms; 0 = never.
    pub probe_after_ms: u64,
    /// Silence before removal, ms; 0 = never.
    pub drop_after_ms: u64,
    /// `T` period, ms; 0 = never.
    pub slow_round_ms: u64,
    /// Status rewrite period, ms.
    pub status_interval_ms: u64,
    /// Human-readable status file; empty = none.
    pub status_txt: String,
    /// Machine-readable status file; empty = none.
    pub status_json: String,
    /// Allowed address blocks; empty = all.
    pub allow: Vec<Cidr>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".to_string(),
            port: 7878,
            server_id: Id::new("conductor").unwrap_or_else(|_| unreachable!("a valid literal id")),
            min_clients: 1,
            max_clients: 10_000,
            rounds: 0,
            step_wrap: 1 << 32,
            shutdown_countdown: 3,
            hello_timeout_ms: 5_000,
            probe_after_ms: 5_000,
            drop_after_ms: 30_000,
            slow_round_ms: 10_000,
            status_interval_ms: 1_000,
            status_txt: "status.txt".to_string(),
            status_json: "status.json".to_string(),
            allow: Vec::new(),
        }
    }
}

/// A configuration problem: where it was found, which key, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file path, or `command line`.
    pub source: String,
    /// The key (or flag) concerned, if any.
    pub key: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}: key \"{key}\": {}", self.source, self.problem),
            None => write!(f, "{}: {}", self.source, self.problem),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where a value came from, for error messages.
#[derive(Clone, Copy)]
enum Origin<'a> {
    File(&'a Path),
    Flag,
}

impl Origin<'_> {
    fn error(self, key: &str, problem: impl Into<String>) -> ConfigError {
        match self {
            Origin::File(path) => ConfigError {
                source: path.display().to_string(),
                key: Some(key.to_string()),
                problem: problem.into(),
            },
            Origin::Flag => ConfigError {
                source: "command line".to_string(),
                key: Some(format!("--{}", key.replace('_', "-"))),
                problem: problem.into(),
            },
        }
    }
}

impl Config {
    /// Loads `path` over the defaults. With `required` false a missing file means defaults.
    #[allow(clippy::disallowed_methods)] // reading the configuration file is this function's job
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(config),
            Err(e) => {
                return Err(ConfigError {
                    source: path.display().to_string(),
                    key: None,
                    problem: format!("cannot read the file: {e}"),
                })
            }
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| ConfigError {
            source: path.display().to_string(),
            key: None,
            problem: format!("not valid JSON: {e}"),
        })?;
        let Value::Object(map) = value else {
            return Err(ConfigError {
                source: path.display().to_string(),
                key: None,
                problem: "the top level must be a JSON object".to_string(),
            });
        };
        config.apply_map(&map, Origin::File(path))?;
        Ok(config)
    }

    fn apply_map(
        &mut self,
        map: &Map<String, Value>,
        origin: Origin<'_>,
    ) -> Result<(), ConfigError> {
        for (key, value) in map {
            self.set(key, value, origin)?;
        }
        Ok(())
    }

    /// Overrides one key from a command-line flag value (`--allow` takes comma-separated
    /// blocks).
    pub fn set_flag(&mut self, key: &str, text: &str) -> Result<(), ConfigError> {
        let origin = Origin::Flag;
        let value = match key {
            "host" | "server_id" | "status_txt" | "status_json" => Value::String(text.to_string()),
            "allow" => Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ),
            _ if KEYS.contains(&key) => match text.trim().parse::<u64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    return Err(origin.error(key, format!("expected a whole number, got {text:?}")))
                }
            },
            _ => return Err(origin.error(key, "no such setting")),
        };
        self.set(key, &value, origin)
    }

    fn set(&mut self, key: &str, value: &Value, origin: Origin<'_>) -> Result<(), ConfigError> {
        let err = |problem: String| origin.error(key, problem);
        let int = |min: u64, max: u64| -> Result<u64, ConfigError> {
            match value.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(n),
                Some(n) => Err(err(format!("{n} is out of range {min}..={max}"))),
                None => Err(err(format!(
                    "expected a whole number from {min} to {max}, got {value}"
                ))),
            }
        };
        let string = || -> Result<String, ConfigError> {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| err(format!("expected a string, got {value}")))
        };
        const U32: u64 = u32::MAX as u64;
        const MS: u64 = u64::MAX / 1000;
        match key {
            "host" => {
                let host = string()?;
                if host.trim().is_empty() {
                    return Err(err("must not be empty".to_string()));
                }
                self.host = host;
            }
            "port" => self.port = int(0, u64::from(u16::MAX))? as u16,
            "server_id" => {
                let id = string()?;
                self.server_id = Id::new(&id).map_err(|e| {
                    err(format!(
                        "{id:?} is not a valid id (1 to 12 printable ASCII characters): {e}"
                    ))
                })?;
            }
            "min_clients" => self.min_clients = int(1, U32)? as u32,
            "max_clients" => self.max_clients = int(1, U32)? as u32,
            "rounds" => self.rounds = int(0, u64::MAX)?,
            "step_wrap" => self.step_wrap = int(1, 1 << 32)?,
            "shutdown_countdown" => self.shutdown_countdown = int(0, U32)? as u32,
            "hello_timeout_ms" => self.hello_timeout_ms = int(0, MS)?,
            "probe_after_ms" => self.probe_after_ms = int(0, MS)?,
            "drop_after_ms" => self.drop_after_ms = int(0, MS)?,
            "slow_round_ms" => self.slow_round_ms = int(0, MS)?,
            "status_interval_ms" => self.status_interval_ms = int(0, MS)?,
            "status_txt" => self.status_txt = string()?,
            "status_json" => self.status_json = string()?,
            "allow" => {
                let Some(items) = value.as_array() else {
                    return Err(err(format!("expected a list of CIDR blocks, got {value}")));
                };
                let mut blocks = Vec::with_capacity(items.len());
                for item in items {
                    let text = item.as_str().ok_or_else(|| {
                        err(format!("expected CIDR blocks as strings, got {item}"))
                    })?;
                    blocks.push(text.parse::<Cidr>().map_err(err)?);
                }
                self.allow = blocks;
            }
            _ => {
                return Err(err(format!(
                    "unknown key (known keys: {})",
                    KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The part of the configuration the sans-IO core uses.
    pub fn core_config(&self) -> CoreConfig {
        let mut core = CoreConfig::new(self.server_id);
        core.rounds = RoundConfig {
            min_clients: self.min_clients,
            rounds: self.rounds,
            step_wrap: self.step_wrap,
            shutdown_countdown: self.shutdown_countdown,
            slow_round: Duration::from_millis(self.slow_round_ms),
        };
        core.max_clients = self.max_clients;
        core.hello_timeout = Duration::from_millis(self.hello_timeout_ms);
        core.probe_after = Duration::from_millis(self.probe_after_ms);
        core.drop_after = Duration::from_millis(self.drop_after_ms);
        let writes_status = !self.status_txt.is_empty() || !self.status_json.is_empty();
        core.status_interval =
            writes_status.then(|| Duration::from_millis(self.status_interval_ms));
        core.allow = self.allow.clone();
        core
    }

    /// The status file paths that are switched on.
    pub fn status_paths(&self) -> (Option<PathBuf>, Option<PathBuf>) {
        let path = |p: &str| (!p.is_empty()).then(|| PathBuf::from(p));
        (path(&self.status_json), path(&self.status_txt))
    }

    /// The shipped `config.json`: every key with its default value.
    pub fn defaults_json() -> String {
        let d = Config::default();
        let value = serde_json::json!({
            "host": d.host,
            "port": d.port,
            "server_id": d.server_id.as_str(),
            "min_clients": d.min_clients,
            "max_clients": d.max_clients,
            "rounds": d.rounds,
            "step_wrap": d.step_wrap,
            "shutdown_countdown": d.shutdown_countdown,
            "hello_timeout_ms": d.hello_timeout_ms,
            "probe_after_ms": d.probe_after_ms,
            "drop_after_ms": d.drop_after_ms,
            "slow_round_ms": d.slow_round_ms,
            "status_interval_ms": d.status_interval_ms,
            "status_txt": d.status_txt,
            "status_json": d.status_json,
            "allow": Vec::<String>::new(),
        });
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json(text: &str) -> Result<Config, ConfigError> {
        let map: Map<String, Value> = serde_json::from_str(text).unwrap();
        let mut c = Config::default();
        c.apply_map(&map, Origin::File(Path::new("test.json")))?;
        Ok(c)
    }

    #[test]
    fn every_key_is_read() {
        let c = from_json(
            r#"{"host":"0.0.0.0","port":9,"server_id":"boss","min_clients":3,"max_clients":4,
               "rounds":5,"step_wrap":6,"shutdown_countdown":7,"hello_timeout_ms":8,
               "probe_after_ms":9,"drop_after_ms":10,"slow_round_ms":11,"status_interval_ms":12,
               "status_txt":"","status_json":"s.json","allow":["10.0.0.0/8","::1/128"]}"#,
        )
        .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.server_id.as_str()),
            ("0.0.0.0", 9, "boss")
        );
        assert_eq!(
            (c.min_clients, c.max_clients, c.rounds, c.step_wrap),
            (3, 4, 5, 6)
        );
        assert_eq!(c.shutdown_countdown, 7);
        assert_eq!(
            (c.hello_timeout_ms, c.probe_after_ms, c.drop_after_ms),
            (8, 9, 10)
        );
        assert_eq!((c.slow_round_ms, c.status_interval_ms), (11, 12));
        assert_eq!(c.status_paths(), (Some(PathBuf::from("s.json")), None));
        assert_eq!(c.allow.len(), 2);
    }

    #[test]
    fn errors_name_file_key_and_problem() {
        let cases = [
            (r#"{"prot": 1}"#, "test.json: key \"prot\": unknown key"),
            (
                r#"{"port": "x"}"#,
                "test.json: key \"port\": expected a whole number from 0 to 65535, got \"x\"",
            ),
            (
                r#"{"port": 70000}"#,
                "test.json: key \"port\": 70000 is out of range 0..=65535",
            ),
            (
                r#"{"min_clients": 0}"#,
                "key \"min_clients\": 0 is out of range 1..=",
            ),
            (
                r#"{"max_clients": 0}"#,
                "key \"max_clients\": 0 is out of range",
            ),
            (
                r#"{"step_wrap": 0}"#,
                "key \"step_wrap\": 0 is out of range 1..=4294967296",
            ),
            (
                r#"{"step_wrap": 4294967297}"#,
                "key \"step_wrap\": 4294967297 is out of range",
            ),
            (
                r#"{"server_id": "much-too-long-id"}"#,
                "key \"server_id\": \"much-too-long-id\" is not a valid id",
            ),
            (r#"{"server_id": ""}"#, "key \"server_id\""),
            (
                r#"{"allow": ["10.0.0.0/40"]}"#,
                "key \"allow\": \"10.0.0.0/40\" has a prefix length",
            ),
            (
                r#"{"allow": "10.0.0.0/8"}"#,
                "key \"allow\": expected a list",
            ),
            (
                r#"{"rounds": -1}"#,
                "key \"rounds\": expected a whole number",
            ),
        ];
        for (json, expected) in cases {
            let msg = from_json(json).unwrap_err().to_string();
            assert!(msg.contains(expected), "{json}: {msg}");
        }
    }

    #[test]
    fn flags_override_and_name_the_flag() {
        let mut c = Config::default();
        c.set_flag("min_clients", "4").unwrap();
        c.set_flag("allow", "10.0.0.0/8, 127.0.0.1/32").unwrap();
        c.set_flag("status_json", "").unwrap();
        assert_eq!(c.min_clients, 4);
        assert_eq!(c.allow.len(), 2);
        assert_eq!(c.status_paths().0, None);
        let e = c.set_flag("port", "http").unwrap_err().to_string();
        assert_eq!(
            e,
            "command line: key \"--port\": expected a whole number, got \"http\""
        );
        let e = c.set_flag("min_clients", "0").unwrap_err().to_string();
        assert!(e.contains("--min-clients"), "{e}");
    }

    #[test]
    fn missing_default_file_means_defaults_but_a_given_one_is_an_error() {
        let missing = Path::new("/nonexistent/lockstep/config.json");
        assert_eq!(Config::load(missing, false).unwrap(), Config::default());
        let e = Config::load(missing, true).unwrap_err().to_string();
        assert!(
            e.starts_with("/nonexistent/lockstep/config.json: cannot read the file"),
            "{e}"
        );
    }

    #[test]
    fn shipped_defaults_parse_back_to_the_defaults() {
        let map: Map<String, Value> = serde_json::from_str(&Config::defaults_json()).unwrap();
        assert_eq!(map.len(), KEYS.len());
        let mut c = Config::default();
        c.apply_map(&map, Origin::File(Path::new("config.json")))
            .unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn shipped_config_json_lists_every_key_with_its_default() {
        assert_eq!(include_str!("../config.json"), Config::defaults_json());
    }

    #[test]
    fn status_off_when_both_paths_are_empty() {
        let mut c = Config::default();
        assert!(c.core_config().status_interval.is_some());
        c.status_json.clear();
        c.status_txt.clear();
        assert!(c.core_config().status_interval.is_none());
    }
}
