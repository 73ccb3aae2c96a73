//! The conductor's configuration (README "Configuration"), defined once. The fields of
//! [`Config`] are the keys of `config.json`, each with its doc, its range (the
//! `deserialize_with` function that reads it, in `config/values.rs`) and its default
//! ([`Config::default`]); serde derive reads the file, refusing unknown and duplicate keys, and
//! `serde_path_to_error` names the key of an error. Everything else is derived from or checked
//! against this one definition: the command-line flags `--KEY VALUE` ([`Config::keys`],
//! [`Config::set_flag`]), the settings listed by
//! `conductor --help` with their defaults and meanings (the one-line doc comment of each
//! field, [`Config::settings`]), the shipped `config.json` ([`Config::defaults_json`], checked
//! by a test), the README's table of keys (checked by a test) and the core's defaults
//! (`CoreConfig::new`, checked by a test). Adding a key is one field here, plus its line in the
//! README.
//!
//! Errors name the source (the file or the command line), the key and the problem. Reads the
//! file it is given; everything else is pure.

mod values;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use lockstep_proto::cidr::Cidr;
use lockstep_proto::core::{CoreConfig, EndOnFailure};
use lockstep_proto::round::RoundConfig;
use lockstep_proto::time::Duration;
use lockstep_proto::wire::Id;

pub(crate) use values::quoted;
use values::shorten;

/// Upper bounds of the ranges below.
const U16: u64 = u16::MAX as u64;
const U32: u64 = u32::MAX as u64;
const ANY: u64 = u64::MAX;
/// Milliseconds that still fit the core's microsecond clock.
const MS: u64 = u64::MAX / 1000;
/// PROTOCOL.md "Bytes on the wire": steps are `u32`, so they can count at most 2^32 values.
const WRAP: u64 = 1 << 32;
/// The longest pace, in milliseconds: an hour between waves.
pub const MAX_PACE_MS: u64 = 3_600_000;
/// The longest path a Unix socket can be bound to (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Defines [`Config`] and, from the same text, [`Config::MEANINGS`]: every key in the order of
/// the fields, with the one line of its doc comment. That line is the key's meaning wherever it
/// is shown: `conductor --help` and the README's table (checked by a test).
macro_rules! settings {
    (
        $(#[$outer:meta])*
        pub struct Config {
            $(
                #[doc = $meaning:literal]
                $(#[$inner:meta])*
                pub $key:ident: $type:ty,
            )*
        }
    ) => {
        $(#[$outer])*
        pub struct Config {
            $(
                #[doc = $meaning]
                $(#[$inner])*
                pub $key: $type,
            )*
        }

        impl Config {
            /// Every key, in the documented order, with its meaning.
            const MEANINGS: &'static [(&'static str, &'static str)] =
                &[$((stringify!($key), $meaning)),*];
        }
    };
}

settings! {
/// The conductor's settings: the keys of `config.json`, in the documented order. Each doc comment
/// is one line, the key's meaning as `conductor --help` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// address to bind; an IPv6 address may be written in brackets (`[::1]`)
    #[serde(deserialize_with = "values::host")]
    pub host: String,
    /// TCP port; 0 picks a free one (printed at start-up and in status.json)
    #[serde(deserialize_with = "values::int::<_, u16, 0, U16>")]
    pub port: u16,
    /// the conductor's id, 1 to 12 printable characters
    #[serde(deserialize_with = "values::id", serialize_with = "values::id_text")]
    pub server_id: Id,
    /// clients that must be ready before a wave is sent
    #[serde(deserialize_with = "values::int::<_, u32, 1, U32>")]
    pub min_clients: u32,
    /// clients past their hello beyond this are refused with `full`
    #[serde(deserialize_with = "values::int::<_, u32, 1, U32>")]
    pub max_clients: u32,
    /// waves to run before a planned end; 0 = until stopped
    #[serde(deserialize_with = "values::int::<_, u64, 0, ANY>")]
    pub rounds: u64,
    /// steps count 0..step_wrap-1, then return to 0
    #[serde(deserialize_with = "values::int::<_, u64, 1, WRAP>")]
    pub step_wrap: u64,
    /// the N of the `S` countdown before a planned or graceful end
    #[serde(deserialize_with = "values::int::<_, u32, 0, U32>")]
    pub shutdown_countdown: u32,
    /// `true`: a participant's `R` ends the run (`E`, exit 3); `"closed"`: any loss without `X` too
    #[serde(
        deserialize_with = "values::end_on_failure",
        serialize_with = "values::end_on_failure_value"
    )]
    pub end_on_failure: EndOnFailure,
    /// time allowed for a client's hello; 0 = unlimited
    #[serde(deserialize_with = "values::int::<_, u64, 0, MS>")]
    pub hello_timeout_ms: u64,
    /// silence before `?` is sent, and its period; 0 = never
    #[serde(deserialize_with = "values::int::<_, u64, 0, MS>")]
    pub probe_after_ms: u64,
    /// silence before a client is removed; 0 = never
    #[serde(deserialize_with = "values::int::<_, u64, 0, MS>")]
    pub drop_after_ms: u64,
    /// a round longer than this broadcasts `T`, and again each period; 0 = never
    #[serde(deserialize_with = "values::int::<_, u64, 0, MS>")]
    pub slow_round_ms: u64,
    /// how often the status files are rewritten; below 100 (0 included) acts as 100
    #[serde(deserialize_with = "values::int::<_, u64, 0, MS>")]
    pub status_interval_ms: u64,
    /// human-readable status; `""` = don't write
    #[serde(deserialize_with = "values::string")]
    pub status_txt: String,
    /// machine-readable status; `""` = don't write
    #[serde(deserialize_with = "values::string")]
    pub status_json: String,
    /// records the run before each wave, to resume it after a restart; `""` = off
    #[serde(deserialize_with = "values::string")]
    pub state_file: String,
    /// with `state_file`: fsync each record, so that it outlives a machine crash too
    #[serde(deserialize_with = "values::boolean")]
    pub state_sync: bool,
    /// CIDR blocks allowed to connect; empty = all
    #[serde(
        deserialize_with = "values::blocks",
        serialize_with = "values::block_texts"
    )]
    pub allow: Vec<Cidr>,
    /// `IP:PORT` to serve `/metrics`, `/status.json` and a status page on; empty = off
    #[serde(deserialize_with = "values::http_address")]
    pub http: String,
    /// PEM certificate chain; set = TLS on every connection (see "Across machines")
    #[serde(deserialize_with = "values::string")]
    pub tls_cert: String,
    /// PEM private key of `tls_cert`
    #[serde(deserialize_with = "values::string")]
    pub tls_key: String,
    /// PEM CA certificates; set = every participant presents a certificate they signed
    #[serde(deserialize_with = "values::string")]
    pub tls_client_ca: String,
    /// with `tls_client_ca`: a hello's id must be a name of the participant's certificate
    #[serde(deserialize_with = "values::boolean")]
    pub tls_bind_ids: bool,
    /// waves go out at most every this many ms, on a fixed schedule; 0 = as fast as the participants allow
    #[serde(deserialize_with = "values::int::<_, u64, 0, MAX_PACE_MS>")]
    pub pace_ms: u64,
    /// Unix socket for `conductor ctl` (pause, resume, step, ...); relative = beside status_json; `""` = off
    #[serde(deserialize_with = "values::socket_path")]
    pub control: String,
}
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
            step_wrap: WRAP,
            shutdown_countdown: 3,
            end_on_failure: EndOnFailure::Never,
            hello_timeout_ms: 5_000,
            probe_after_ms: 5_000,
            drop_after_ms: 30_000,
            slow_round_ms: 10_000,
            status_interval_ms: 1_000,
            status_txt: "status.txt".to_string(),
            status_json: "status.json".to_string(),
            state_file: String::new(),
            state_sync: false,
            allow: Vec::new(),
            http: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client_ca: String::new(),
            tls_bind_ids: true,
            pace_ms: 0,
            control: "conductor.sock".to_string(),
        }
    }
}

/// One key as the help page and the README show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The key, as `config.json` spells it.
    pub key: &'static str,
    /// Its command-line flag.
    pub flag: String,
    /// What the flag's value is: `N`, `TEXT`, `BOOL` or `LIST` (comma-separated).
    pub placeholder: &'static str,
    /// Its default, as JSON.
    pub default: String,
    /// What it means: one line, with Markdown code marks.
    pub meaning: &'static str,
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

impl ConfigError {
    fn in_file(path: &Path, key: Option<&str>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            source: path.display().to_string(),
            key: key.map(shorten),
            problem: problem.into(),
        }
    }

    fn in_flag(key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            source: "command line".to_string(),
            key: Some(shorten(&Config::flag(key))),
            problem: problem.into(),
        }
    }
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

/// What serde_json says, without the position it appends (given separately).
fn bare_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&position) {
        Some(bare) if error.line() > 0 => bare.to_string(),
        _ => text,
    }
}

/// The key an error is about: the first map key on its path.
fn key_of(path: &serde_path_to_error::Path) -> Option<String> {
    path.iter().find_map(|segment| match segment {
        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
        _ => None,
    })
}

impl Config {
    /// Loads `path` over the defaults. With `required` false a missing file is `None`: the
    /// defaults apply, and messages do not name a file that was not read.
    #[allow(clippy::disallowed_methods)] // reading the configuration file is this function's job
    pub fn load(path: &Path, required: bool) -> Result<Option<Config>, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
            Err(e) => Err(ConfigError::in_file(
                path,
                None,
                format!("cannot read the file: {e}"),
            )),
        }
    }

    /// Reads the text of the file `path`: a JSON object of keys, each at most once. A UTF-8
    /// byte order mark at the start is skipped (some editors write one).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // The syntax and the top level first: serde derive would also take a list for the
        // object, field by field.
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ConfigError::in_file(path, None, format!("not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(ConfigError::in_file(
                path,
                None,
                "the top level must be a JSON object",
            ));
        }
        let mut reader = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut reader).map_err(|e| {
            let line = e.inner().line();
            let message = bare_message(e.inner());
            let (key, problem) = match key_of(e.path()) {
                Some(key) if message.starts_with("unknown field") => {
                    let problem =
                        format!("unknown key (known keys: {})", Config::keys().join(", "));
                    (Some(key), problem)
                }
                Some(key) => (Some(key), message),
                // serde derive reports a key given twice at the object, not at the key.
                None => match message
                    .strip_prefix("duplicate field `")
                    .and_then(|rest| rest.split_once('`'))
                {
                    Some((key, _)) => (
                        Some(key.to_string()),
                        "given more than once (each key may appear once)".to_string(),
                    ),
                    None => (None, message),
                },
            };
            let problem = format!("{problem} (line {line})");
            ConfigError::in_file(path, key.as_deref(), problem)
        })
    }

    /// Every key, as `config.json` and the flags spell it (snake case), in alphabetical order.
    pub fn keys() -> Vec<String> {
        Config::default()
            .to_map()
            .into_iter()
            .map(|(key, _)| key)
            .collect()
    }

    /// Every key in the documented order, with its default and its meaning, as `conductor --help`
    /// lists them.
    pub fn settings() -> Vec<Setting> {
        let defaults = Config::default().to_map();
        Config::MEANINGS
            .iter()
            .map(|&(key, meaning)| {
                let default = defaults.get(key).cloned().unwrap_or(Value::Null);
                let placeholder = match default {
                    Value::String(_) => "TEXT",
                    Value::Array(_) => "LIST",
                    Value::Bool(_) => "BOOL",
                    _ => "N",
                };
                Setting {
                    key,
                    flag: Config::flag(key),
                    placeholder,
                    default: default.to_string(),
                    meaning: meaning.trim(),
                }
            })
            .collect()
    }

    /// The command-line flag of `key`: `--` and the key in kebab-case.
    pub fn flag(key: &str) -> String {
        format!("--{}", key.replace('_', "-"))
    }

    /// The settings as a JSON object, keyed as in `config.json`.
    fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // Every field serializes to plain JSON under a string key.
            _ => unreachable!("the settings serialize to a JSON object"),
        }
    }

    /// Overrides one key from a command-line flag value: a string key takes the text as it
    /// is, `allow` takes comma-separated blocks, a switch `true` or `false` (or a word its
    /// key knows, such as `closed`), a number key a whole number; the kind of a key is that of
    /// its default. The value goes through the same checks as in the file.
    pub fn set_flag(&mut self, key: &str, text: &str) -> Result<(), ConfigError> {
        let mut map = self.to_map();
        let value = match Config::default().to_map().get(key) {
            None => return Err(ConfigError::in_flag(key, "no such setting")),
            Some(Value::String(_)) => Value::String(text.to_string()),
            Some(Value::Array(_)) => Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ),
            Some(Value::Bool(_)) => match text.trim() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                // The key's reader says whether it takes the word.
                word => Value::String(word.to_string()),
            },
            Some(_) => match text.trim().parse::<u64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    return Err(ConfigError::in_flag(
                        key,
                        format!("expected a whole number, got {}", quoted(text)),
                    ))
                }
            },
        };
        map.insert(key.to_string(), value);
        *self = serde_path_to_error::deserialize(Value::Object(map))
            .map_err(|e| ConfigError::in_flag(key, e.inner().to_string()))?;
        Ok(())
    }

    /// Checks the settings against each other once file and flags are applied; `source`
    /// names where they came from. `min_clients` above `max_clients` could never send a wave;
    /// one path for both status files would have each write overwrite the other's.
    pub fn check(&self, source: &str) -> Result<(), ConfigError> {
        let error = |key: &str, problem: String| ConfigError {
            source: source.to_string(),
            key: Some(key.to_string()),
            problem,
        };
        if self.min_clients > self.max_clients {
            return Err(error(
                "min_clients",
                format!(
                    "{} is more than max_clients ({}): no wave could ever be sent",
                    self.min_clients, self.max_clients
                ),
            ));
        }
        if let Some((key, problem)) = self.tls_mismatch() {
            return Err(error(key, problem.to_string()));
        }
        if let Some((key, problem)) = self.state_mismatch() {
            return Err(error(key, problem));
        }
        if !self.status_json.is_empty() && same_path(&self.status_json, &self.status_txt) {
            return Err(error(
                "status_txt",
                format!(
                    "{} is also status_json: each status file needs a path of its own \
                     (\"\" switches one off)",
                    quoted(&self.status_txt)
                ),
            ));
        }
        if let Some(path) = self.control_path() {
            let len = path.as_os_str().len();
            if len > MAX_SOCKET_PATH {
                return Err(error(
                    "control",
                    format!(
                        "{} is {len} bytes long; a Unix socket's path holds at most \
                         {MAX_SOCKET_PATH}: give a shorter one",
                        quoted(&path.display().to_string())
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The control socket's path, when it is switched on: a relative `control` is taken from
    /// the directory of `status_json` (of `status_txt` when only that one is on; the working
    /// directory when neither is), so that the socket sits beside the status files.
    pub fn control_path(&self) -> Option<PathBuf> {
        if self.control.is_empty() {
            return None;
        }
        let control = Path::new(&self.control);
        let beside = [&self.status_json, &self.status_txt]
            .into_iter()
            .find(|p| !p.is_empty())
            .and_then(|p| Path::new(p).parent());
        Some(match beside {
            Some(dir) if control.is_relative() => dir.join(control),
            _ => control.to_path_buf(),
        })
    }

    /// State keys that make no sense with the rest: a sync without a file, a file with steps
    /// that cannot tell a repeated wave from the next, a file that is also a status file.
    fn state_mismatch(&self) -> Option<(&'static str, String)> {
        if self.state_file.is_empty() {
            return self.state_sync.then(|| {
                (
                    "state_sync",
                    "is true but state_file is empty: there is nothing to sync".to_string(),
                )
            });
        }
        if self.step_wrap < 2 {
            return Some((
                "state_file",
                "needs a step_wrap of 2 or more: with step_wrap 1 every Go carries step 0, so a \
                 participant could not tell the step sent again after a restart from the next"
                    .to_string(),
            ));
        }
        let status = [&self.status_json, &self.status_txt];
        if let Some(taken) = status
            .into_iter()
            .find(|p| !p.is_empty() && same_path(p, &self.state_file))
        {
            return Some((
                "state_file",
                format!(
                    "{} is also a status file: each file needs a path of its own",
                    quoted(taken)
                ),
            ));
        }
        None
    }

    /// TLS keys that make no sense together: a certificate without its key or the reverse,
    /// or a client CA without TLS.
    fn tls_mismatch(&self) -> Option<(&'static str, &'static str)> {
        match (
            self.tls_cert.is_empty(),
            self.tls_key.is_empty(),
            self.tls_client_ca.is_empty(),
        ) {
            (false, true, _) => Some((
                "tls_key",
                "is empty but tls_cert is set: give the certificate's private key",
            )),
            (true, false, _) => Some((
                "tls_cert",
                "is empty but tls_key is set: give the certificate the key belongs to",
            )),
            (true, true, false) => Some((
                "tls_client_ca",
                "is set but tls_cert is not: client certificates are asked for only over TLS",
            )),
            _ => None,
        }
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
            pace: Duration::from_millis(self.pace_ms),
        };
        core.max_clients = self.max_clients;
        core.hello_timeout = Duration::from_millis(self.hello_timeout_ms);
        core.probe_after = Duration::from_millis(self.probe_after_ms);
        core.drop_after = Duration::from_millis(self.drop_after_ms);
        let writes_status = !self.status_txt.is_empty() || !self.status_json.is_empty();
        core.status_interval =
            writes_status.then(|| Duration::from_millis(self.status_interval_ms));
        core.allow = self.allow.clone();
        core.end_on_failure = self.end_on_failure;
        core
    }

    /// The status file paths that are switched on.
    pub fn status_paths(&self) -> (Option<PathBuf>, Option<PathBuf>) {
        let path = |p: &str| (!p.is_empty()).then(|| PathBuf::from(p));
        (path(&self.status_json), path(&self.status_txt))
    }

    /// The HTTP endpoint's address, when it is switched on. The text was checked when it was
    /// read, so it parses.
    pub fn http_address(&self) -> Option<SocketAddr> {
        self.http.parse().ok()
    }

    /// The shipped `config.json`: every key with its default value.
    pub fn defaults_json() -> String {
        let value = Value::Object(Config::default().to_map());
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Whether two paths name the same file as written (`./a` and `a` do; links are not followed).
fn same_path(a: &str, b: &str) -> bool {
    fn parts(p: &str) -> Vec<Component<'_>> {
        Path::new(p)
            .components()
            .filter(|c| *c != Component::CurDir)
            .collect()
    }
    parts(a) == parts(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("test.json"), text)
    }

    #[test]
    fn every_key_is_read() {
        let c = from_json(
            r#"{"host":"0.0.0.0","port":9,"server_id":"boss","min_clients":3,"max_clients":4,
               "rounds":5,"step_wrap":6,"shutdown_countdown":7,"hello_timeout_ms":8,
               "probe_after_ms":9,"drop_after_ms":10,"slow_round_ms":11,"status_interval_ms":12,
               "status_txt":"","status_json":"s.json","allow":["10.0.0.0/8","::1/128"],
               "http":"[::1]:9878","end_on_failure":"closed"}"#,
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
        assert_eq!(c.http_address(), Some("[::1]:9878".parse().unwrap()));
        assert_eq!(c.end_on_failure, EndOnFailure::Closed);
        assert_eq!(c.core_config().end_on_failure, EndOnFailure::Closed);
        assert_eq!(c.to_map()["end_on_failure"], "closed");
        for (json, want) in [
            ("true", EndOnFailure::Refusal),
            ("false", EndOnFailure::Never),
        ] {
            let c = from_json(&format!(r#"{{"end_on_failure": {json}}}"#)).unwrap();
            assert_eq!(c.end_on_failure, want);
            assert_eq!(c.to_map()["end_on_failure"].to_string(), json);
        }
        assert_eq!(Config::default().http_address(), None);
    }

    #[test]
    fn errors_name_file_key_and_problem() {
        let cases = [
            (
                r#"{"prot": 1}"#,
                "test.json: key \"prot\": unknown key (known keys: allow, ",
            ),
            (
                r#"{"port": "x"}"#,
                "test.json: key \"port\": expected a whole number from 0 to 65535, got \"x\"",
            ),
            (
                r#"{"port": 70000}"#,
                "test.json: key \"port\": 70000 is out of range 0..=65535 (line 1)",
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
            (r#"{"host": " "}"#, "key \"host\": must not be empty"),
            (
                r#"{"host": "[example.com]"}"#,
                "key \"host\": \"[example.com]\" is in brackets, which only an IPv6 address takes",
            ),
            (
                r#"{"allow": ["10.0.0.0/40"]}"#,
                "key \"allow\": \"10.0.0.0/40\" has a prefix length",
            ),
            (
                r#"{"allow": ["10.0.0.1/8"]}"#,
                "key \"allow\": \"10.0.0.1/8\" has host bits set beyond the /8 prefix",
            ),
            (
                r#"{"allow": "10.0.0.0/8"}"#,
                "key \"allow\": expected a list",
            ),
            (
                r#"{"allow": [8]}"#,
                "key \"allow\": expected CIDR blocks as strings, got 8",
            ),
            (
                r#"{"rounds": -1}"#,
                "key \"rounds\": expected a whole number",
            ),
            (
                "{\n  \"rounds\": 1,\n  \"port\": 1,\n  \"rounds\": 2\n}",
                "test.json: key \"rounds\": given more than once (each key may appear once) \
                 (line 4)",
            ),
            (
                "{\"port\": 1",
                "test.json: not valid JSON: EOF while parsing",
            ),
            ("[1, 2]", "test.json: the top level must be a JSON object"),
            (
                r#"{"http": "localhost:9878"}"#,
                "key \"http\": \"localhost:9878\" is not an address to serve HTTP on: expected \
                 IP:PORT",
            ),
            (
                r#"{"http": "::1:9878"}"#,
                "key \"http\": \"::1:9878\" is not an address",
            ),
            (
                r#"{"http": 9878}"#,
                "key \"http\": expected a string, got 9878",
            ),
            (
                r#"{"tls_bind_ids": "yes"}"#,
                "key \"tls_bind_ids\": expected true or false, got \"yes\"",
            ),
            (
                r#"{"end_on_failure": "true"}"#,
                "key \"end_on_failure\": expected false, true or \"closed\", got \"true\"",
            ),
            (
                r#"{"end_on_failure": 1}"#,
                "key \"end_on_failure\": expected false, true or \"closed\", got 1",
            ),
            ("{} {}", "test.json: not valid JSON: trailing characters"),
        ];
        for (json, expected) in cases {
            let msg = from_json(json).unwrap_err().to_string();
            assert!(msg.contains(expected), "{json}: {msg}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let c = from_json("\u{feff}{\"port\": 9}").unwrap();
        assert_eq!(c.port, 9);
    }

    #[test]
    fn messages_never_show_a_huge_value_or_key_whole() {
        let huge = "9".repeat(100_000);
        let texts = [
            format!(r#"{{"port": "{huge}"}}"#),
            format!(r#"{{"server_id": "{huge}"}}"#),
            format!(r#"{{"allow": ["{huge}"]}}"#),
            format!(r#"{{"allow": [[{}9]]}}"#, "9,".repeat(50_000)),
            format!(r#"{{"host": "[{huge}]"}}"#),
            format!(r#"{{"{huge}": 1}}"#),
        ];
        for text in texts {
            let msg = from_json(&text).unwrap_err().to_string();
            assert!(msg.len() < 600, "{} bytes: {}", msg.len(), &msg[..600]);
            assert!(msg.contains("9…"), "{msg}");
        }
        let mut c = Config::default();
        let msg = c.set_flag("rounds", &huge).unwrap_err().to_string();
        assert!(msg.len() < 200 && msg.contains("99…"), "{msg}");
    }

    #[test]
    fn an_ipv6_host_in_brackets_is_read_without_them() {
        assert_eq!(from_json(r#"{"host": "[::1]"}"#).unwrap().host, "::1");
        let mut c = Config::default();
        c.set_flag("host", "[::]").unwrap();
        assert_eq!(c.host, "::");
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
        assert_eq!(
            e,
            "command line: key \"--min-clients\": 0 is out of range 1..=4294967295"
        );
        let e = c
            .set_flag("server_id", "x".repeat(13).as_str())
            .unwrap_err();
        assert!(e.to_string().contains("is not a valid id"), "{e}");
        let e = c.set_flag("tls_bind_ids", "no").unwrap_err().to_string();
        assert_eq!(
            e,
            "command line: key \"--tls-bind-ids\": expected true or false, got \"no\""
        );
        for (text, want) in [
            ("closed", EndOnFailure::Closed),
            ("true", EndOnFailure::Refusal),
            ("false", EndOnFailure::Never),
            ("closed", EndOnFailure::Closed),
            // A switch the file set to "closed" is still a switch on the command line.
            ("true", EndOnFailure::Refusal),
        ] {
            c.set_flag("end_on_failure", text).unwrap();
            assert_eq!(c.end_on_failure, want, "{text}");
        }
        let e = c.set_flag("end_on_failure", "yes").unwrap_err().to_string();
        assert_eq!(
            e,
            "command line: key \"--end-on-failure\": expected false, true or \"closed\", got \"yes\""
        );
        let e = c.set_flag("prot", "1").unwrap_err().to_string();
        assert_eq!(e, "command line: key \"--prot\": no such setting");
        // A failed flag leaves the settings as they were.
        assert_eq!(c.min_clients, 4);
    }

    #[test]
    fn every_key_has_a_flag_that_sets_it() {
        for key in Config::keys() {
            let mut c = Config::default();
            let before = c.to_map()[&key].clone();
            let text = match &before {
                Value::String(_) if key == "host" => "::1".to_string(),
                Value::String(_) if key == "http" => "127.0.0.1:0".to_string(),
                Value::String(_) => "x".to_string(),
                Value::Array(_) => "10.0.0.0/8".to_string(),
                Value::Bool(on) => (!on).to_string(),
                _ => "2".to_string(),
            };
            c.set_flag(&key, &text).unwrap();
            assert_ne!(c.to_map()[&key], before, "{}", Config::flag(&key));
        }
        assert_eq!(Config::flag("status_interval_ms"), "--status-interval-ms");
    }

    #[test]
    fn settings_that_contradict_each_other_are_refused() {
        let mut c = Config::default();
        c.set_flag("min_clients", "5").unwrap();
        c.set_flag("max_clients", "2").unwrap();
        let e = c.check("config.json and the command line").unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.json and the command line: key \"min_clients\": 5 is more than \
             max_clients (2): no wave could ever be sent"
        );
        c.set_flag("max_clients", "5").unwrap();
        assert!(c.check("x").is_ok());

        for (json, txt) in [
            ("status.json", "status.json"),
            ("out/s", "./out/s"),
            ("/tmp/s", "/tmp//s"),
        ] {
            c.status_json = json.to_string();
            c.status_txt = txt.to_string();
            let e = c.check("x").unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "x: key \"status_txt\": \"{txt}\" is also status_json"
                )),
                "{e}"
            );
        }
        c.status_json = String::new();
        c.status_txt = String::new();
        assert!(c.check("x").is_ok(), "both off is fine");
        c.status_json = "a/s".to_string();
        c.status_txt = "b/s".to_string();
        assert!(c.check("x").is_ok());
    }

    #[test]
    fn state_keys_fit_the_rest() {
        let problem = |file: &str, sync: bool, step_wrap: u64| {
            let c = Config {
                state_file: file.to_string(),
                state_sync: sync,
                step_wrap,
                ..Config::default()
            };
            c.check("x").err().map(|e| e.to_string())
        };
        assert_eq!(problem("", false, 1), None);
        assert_eq!(problem("run.state", true, 2), None);
        assert_eq!(
            problem("", true, 2).as_deref(),
            Some(
                "x: key \"state_sync\": is true but state_file is empty: there is nothing to sync"
            )
        );
        assert!(problem("run.state", false, 1).is_some_and(
            |e| e.starts_with("x: key \"state_file\": needs a step_wrap of 2 or more")
        ));
        assert!(problem("./status.json", false, 2).is_some_and(
            |e| e.starts_with("x: key \"state_file\": \"status.json\" is also a status file")
        ));
        let c = from_json(r#"{"state_file": "s", "state_sync": true, "step_wrap": 2}"#).unwrap();
        assert_eq!((c.state_file.as_str(), c.state_sync), ("s", true));
    }

    #[test]
    fn tls_keys_come_together() {
        let problem = |cert: &str, key: &str, ca: &str| {
            let c = Config {
                tls_cert: cert.to_string(),
                tls_key: key.to_string(),
                tls_client_ca: ca.to_string(),
                ..Config::default()
            };
            c.check("x").err().map(|e| e.to_string())
        };
        assert_eq!(problem("", "", ""), None);
        assert_eq!(problem("c.pem", "k.pem", ""), None);
        assert_eq!(problem("c.pem", "k.pem", "ca.pem"), None);
        assert_eq!(
            problem("c.pem", "", "").as_deref(),
            Some("x: key \"tls_key\": is empty but tls_cert is set: give the certificate's private key")
        );
        assert!(problem("", "k.pem", "")
            .is_some_and(|e| e.starts_with("x: key \"tls_cert\": is empty but tls_key is set")));
        assert!(
            problem("", "", "ca.pem").is_some_and(
                |e| e.starts_with("x: key \"tls_client_ca\": is set but tls_cert is not")
            )
        );
    }

    #[test]
    fn missing_default_file_means_defaults_but_a_given_one_is_an_error() {
        let missing = Path::new("/nonexistent/lockstep/config.json");
        assert_eq!(Config::load(missing, false).unwrap(), None);
        let e = Config::load(missing, true).unwrap_err().to_string();
        assert!(
            e.starts_with("/nonexistent/lockstep/config.json: cannot read the file"),
            "{e}"
        );
    }

    #[test]
    fn shipped_defaults_parse_back_to_the_defaults() {
        let c = Config::parse(Path::new("config.json"), &Config::defaults_json()).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(Config::keys().len(), 26);
        assert_eq!(from_json("{}").unwrap(), Config::default());
    }

    #[test]
    fn every_key_has_a_meaning_and_a_default() {
        let settings = Config::settings();
        let mut keys: Vec<String> = settings.iter().map(|s| s.key.to_string()).collect();
        assert_eq!(
            keys.first().map(String::as_str),
            Some("host"),
            "the documented order"
        );
        keys.sort();
        assert_eq!(keys, Config::keys());
        for s in &settings {
            assert!(!s.meaning.is_empty() && !s.meaning.contains('\n'), "{s:?}");
            assert_eq!(s.flag, Config::flag(s.key));
        }
        let port = settings.iter().find(|s| s.key == "port").unwrap();
        assert_eq!((port.placeholder, port.default.as_str()), ("N", "7878"));
        let host = settings.iter().find(|s| s.key == "host").unwrap();
        assert_eq!(
            (host.placeholder, host.default.as_str()),
            ("TEXT", "\"127.0.0.1\"")
        );
    }

    #[test]
    fn shipped_config_json_lists_every_key_with_its_default() {
        assert_eq!(include_str!("../../config.json"), Config::defaults_json());
    }

    #[test]
    fn the_core_defaults_are_the_configuration_defaults() {
        let defaults = Config::default();
        assert_eq!(defaults.core_config(), CoreConfig::new(defaults.server_id));
    }

    #[test]
    fn the_control_socket_sits_beside_the_status_files() {
        let mut c = Config::default();
        assert_eq!(c.control_path(), Some(PathBuf::from("conductor.sock")));
        c.status_json = "/run/lockstep/status.json".to_string();
        assert_eq!(
            c.control_path(),
            Some(PathBuf::from("/run/lockstep/conductor.sock"))
        );
        c.status_json.clear();
        c.status_txt = "out/status.txt".to_string();
        assert_eq!(c.control_path(), Some(PathBuf::from("out/conductor.sock")));
        c.control = "/tmp/ctl.sock".to_string();
        assert_eq!(c.control_path(), Some(PathBuf::from("/tmp/ctl.sock")));
        c.control.clear();
        assert_eq!(c.control_path(), None);
        c.control = "x".repeat(200);
        let e = c.check("x").unwrap_err().to_string();
        assert!(
            e.starts_with("x: key \"control\": \"out/xxx") && e.contains("at most 107"),
            "{e}"
        );
        let e = from_json(r#"{"control": "a\u0000b"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key \"control\": \"a\\u0000b\" contains a NUL byte"),
            "{e}"
        );
    }

    #[test]
    fn the_pace_is_read_in_range() {
        let e = from_json(r#"{"pace_ms": 3600001}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key \"pace_ms\": 3600001 is out of range 0..=3600000"),
            "{e}"
        );
        assert_eq!(
            from_json(r#"{"pace_ms": 33}"#)
                .unwrap()
                .core_config()
                .rounds
                .pace,
            Duration::from_millis(33)
        );
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
