//! The control socket's line protocol (PROTOCOL.md "Run control"): one command per line, read
//! into a [`Request`] with a message naming what is wrong, and written back as its canonical
//! line (what `conductor ctl` sends). Pure: no I/O.

use std::fmt;

use lockstep_proto::core::Command;
use lockstep_proto::time::Duration;
use lockstep_proto::wire::Id;

use crate::config::{quoted, MAX_PACE_MS};

/// The longest exemption, in seconds: a day.
pub const MAX_EXEMPT_SECONDS: u64 = 86_400;

/// The commands, as the answer to an unknown one lists them.
pub const USAGE: &str =
    "pause, resume, step N, hold-at STEP, hold-at off, pace MS, exempt ID SECONDS, status";

/// What a line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// The status document, as one line of JSON.
    Status,
    /// A command for the conductor.
    Command(Command),
}

/// Reads one line (without its line ending).
pub fn parse(line: &str) -> Result<Request, String> {
    let mut words = line.split_whitespace();
    let Some(name) = words.next() else {
        return Err(format!("an empty line; the commands are {USAGE}"));
    };
    let args: Vec<&str> = words.collect();
    let request = match (name, args.as_slice()) {
        ("status", []) => Request::Status,
        ("pause", []) => Request::Command(Command::Pause),
        ("resume", []) => Request::Command(Command::Resume),
        ("step", [n]) => {
            let n = number(n, "step N: N", 1, u64::from(u32::MAX))?;
            Request::Command(Command::Step(n as u32))
        }
        ("hold-at", ["off"]) => Request::Command(Command::HoldAt(None)),
        ("hold-at", [step]) => {
            let step = number(step, "hold-at STEP: STEP", 0, u64::from(u32::MAX))?;
            Request::Command(Command::HoldAt(Some(step as u32)))
        }
        ("pace", [ms]) => {
            let ms = number(ms, "pace MS: MS", 0, MAX_PACE_MS)?;
            Request::Command(Command::Pace(Duration::from_millis(ms)))
        }
        ("exempt", [_, .., seconds]) => {
            // An id may hold spaces: it is everything between the command and the seconds.
            let id = line
                .trim()
                .strip_prefix("exempt")
                .and_then(|rest| rest.trim().strip_suffix(seconds))
                .unwrap_or_default()
                .trim();
            let id = Id::new(id).map_err(|e| format!("exempt ID SECONDS: {}: {e}", quoted(id)))?;
            let seconds = number(seconds, "exempt ID SECONDS: SECONDS", 0, MAX_EXEMPT_SECONDS)?;
            let duration = Duration::from_millis(seconds * 1000);
            Request::Command(Command::Exempt { id, duration })
        }
        ("status" | "pause" | "resume" | "step" | "hold-at" | "pace" | "exempt", _) => {
            return Err(format!(
                "{}: wrong arguments; the commands are {USAGE}",
                quoted(line.trim())
            ))
        }
        _ => {
            return Err(format!(
                "unknown command {}; the commands are {USAGE}",
                quoted(name)
            ))
        }
    };
    Ok(request)
}

/// A whole number from `min` to `max`.
fn number(text: &str, what: &str, min: u64, max: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{what} must be from {min} to {max}, not {n}")),
        Err(_) => Err(format!(
            "{what} must be a whole number, not {}",
            quoted(text)
        )),
    }
}

impl fmt::Display for Request {
    /// The canonical line, without its line ending: what [`parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Status => f.write_str("status"),
            Request::Command(Command::Pause) => f.write_str("pause"),
            Request::Command(Command::Resume) => f.write_str("resume"),
            Request::Command(Command::Step(n)) => write!(f, "step {n}"),
            Request::Command(Command::HoldAt(None)) => f.write_str("hold-at off"),
            Request::Command(Command::HoldAt(Some(step))) => write!(f, "hold-at {step}"),
            Request::Command(Command::Pace(pace)) => write!(f, "pace {}", pace.as_millis()),
            Request::Command(Command::Exempt { id, duration }) => {
                write!(f, "exempt {id} {}", duration.as_millis() / 1000)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_reads_and_writes_back_the_same() {
        let lines = [
            "status",
            "pause",
            "resume",
            "step 3",
            "hold-at 120",
            "hold-at off",
            "pace 33",
            "pace 0",
            "exempt worker-1 60",
            "exempt my worker 0",
        ];
        for line in lines {
            let request = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(request.to_string(), line);
        }
        assert_eq!(parse("  step   3 "), Ok(Request::Command(Command::Step(3))));
        let Ok(Request::Command(Command::Exempt { id, duration })) = parse("exempt my worker 60")
        else {
            panic!("an exemption")
        };
        assert_eq!((id.as_str(), duration.as_millis()), ("my worker", 60_000));
    }

    #[test]
    fn a_bad_line_says_what_is_wrong() {
        let cases = [
            ("", "an empty line; the commands are pause, resume"),
            ("jump", "unknown command \"jump\"; the commands are"),
            ("step", "\"step\": wrong arguments"),
            ("step 0", "step N: N must be from 1 to 4294967295, not 0"),
            ("step x", "step N: N must be a whole number, not \"x\""),
            ("pause now", "\"pause now\": wrong arguments"),
            (
                "hold-at 4294967296",
                "hold-at STEP: STEP must be from 0 to 4294967295",
            ),
            (
                "pace 3600001",
                "pace MS: MS must be from 0 to 3600000, not 3600001",
            ),
            ("exempt 60", "\"exempt 60\": wrong arguments"),
            (
                "exempt bob -1",
                "SECONDS must be a whole number, not \"-1\"",
            ),
            ("exempt bob 86401", "SECONDS must be from 0 to 86400"),
            (
                "exempt a-much-too-long-id 5",
                "exempt ID SECONDS: \"a-much-too-long-id\": ",
            ),
        ];
        for (line, want) in cases {
            let got = parse(line).unwrap_err();
            assert!(got.contains(want), "{line:?}: {got}");
        }
        // A huge word is never shown whole.
        let huge = "x".repeat(5_000);
        assert!(parse(&huge).unwrap_err().len() < 300);
    }
}
