//! The two forms of the status snapshot (`lockstep_proto::status::Status`) that the status
//! files hold: JSON for scripts, a table for people. Builds strings only; writing files belongs
//! to the driver.

use std::fmt::{self, Write as _};

pub use lockstep_proto::status::{ClientStatus, Failure, Slowest, Status};

/// Why no wave can go out, in the words the log, `status.txt` and `conductor status` share:
/// `waiting for 1 more participant (1 ready, 2 needed)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// Clients ready (Idle or Done).
    pub ready: u32,
    /// `min_clients`.
    pub needed: u32,
}

impl Shortfall {
    /// The shortfall a status snapshot shows: `None` while a round runs, enough clients are
    /// ready, or the conductor has stopped.
    pub fn of(status: &Status) -> Option<Shortfall> {
        let waiting = status.phase != "stopped"
            && status.round_started_ms_ago.is_none()
            && status.ready < status.min_clients;
        waiting.then_some(Shortfall {
            ready: status.ready,
            needed: status.min_clients,
        })
    }
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let more = self.needed.saturating_sub(self.ready);
        let noun = if more == 1 {
            "participant"
        } else {
            "participants"
        };
        write!(
            f,
            "waiting for {more} more {noun} ({} ready, {} needed)",
            self.ready, self.needed
        )
    }
}

/// Renders a status snapshot.
pub trait Render {
    /// The JSON form, pretty-printed, ending in a newline.
    fn to_json(&self) -> String;
    /// The form for a person (`status.txt`): a summary, then one line per client.
    fn to_text(&self) -> String;
    /// [`to_text`](Self::to_text) with a line saying how long ago the file was written
    /// (`age_ms`), as `conductor status` shows it: a file that keeps getting older belongs to a
    /// conductor that is stuck or gone.
    fn to_text_written(&self, age_ms: u64) -> String;
}

impl Render for Status {
    fn to_json(&self) -> String {
        // Serialising plain strings and numbers cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    fn to_text(&self) -> String {
        render(self, None)
    }

    fn to_text_written(&self, age_ms: u64) -> String {
        render(self, Some(age_ms))
    }
}

/// The form for a person. The summary fits an 80-column screen (a long `waiting on` list is
/// cut short) and 24 lines; the clients follow.
fn render(status: &Status, age_ms: Option<u64>) -> String {
    let mut out = String::new();
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    let _ = writeln!(
        out,
        "{} on {}",
        conductor_name(&status.server_id),
        status.address
    );
    if let Some(ms) = age_ms {
        let _ = writeln!(out, "written      {} ago", age(ms));
    }
    let _ = writeln!(out, "phase        {}", status.phase);
    if let Some(up) = &status.upstream {
        let step = up
            .last_step
            .map_or(String::new(), |s| format!(", last step {s}"));
        let _ = writeln!(out, "upstream     {} {}{step}", up.address, up.state);
    }
    if let Some(control) = control(status) {
        let _ = writeln!(out, "control      {control}");
    }
    if let Some(failure) = &status.failure {
        let line = format!("{}: {}", failure.id, failure.reason);
        let _ = writeln!(
            out,
            "failed       {}",
            cut(&line, SCREEN_WIDTH - LABEL_WIDTH)
        );
    }
    let _ = writeln!(
        out,
        "step         {}",
        or_dash(status.step.map(|s| s.to_string()))
    );
    let _ = writeln!(out, "waves sent   {}", status.waves_sent);
    let _ = writeln!(
        out,
        "round        {}",
        match (status.round_started_ms_ago, Shortfall::of(status)) {
            (Some(ms), _) => format!("running for {ms} ms"),
            (None, Some(shortfall)) => format!("none: {shortfall}"),
            (None, None) => "none running".to_string(),
        }
    );
    let waiting = if status.waiting_on.is_empty() {
        "-".to_string()
    } else {
        summary(&status.waiting_on, SCREEN_WIDTH - LABEL_WIDTH)
    };
    let _ = writeln!(out, "waiting on   {waiting}");
    let _ = writeln!(
        out,
        "last round   {}",
        or_dash(status.last_round_ms.map(|ms| format!("{ms:.3} ms")))
    );
    let _ = writeln!(
        out,
        "slowest      {}",
        or_dash(
            status
                .last_round_slowest
                .as_ref()
                .map(|s| format!("{} ({:.3} ms)", s.id, s.ms))
        )
    );
    let _ = writeln!(
        out,
        "uptime       {:.1} s",
        status.uptime_ms as f64 / 1000.0
    );
    if let Some(error) = &status.state_file_error {
        let _ = writeln!(out, "state file   {error}");
    }
    let _ = writeln!(out, "clients      {}", status.clients.len());
    if !status.clients.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<12}  {:<13}  {:>10}  peer",
            "id", "state", "heard ago"
        );
        for c in &status.clients {
            let exempt = c.exempt_ms.map_or(String::new(), |ms| {
                format!("  exempt {} s", ms.div_ceil(1000))
            });
            let _ = writeln!(
                out,
                "{:<12}  {:<13}  {:>7} ms  {}{exempt}",
                c.id, c.state, c.last_heard_ms_ago, c.peer
            );
        }
    }
    out
}

/// What the operator set through `conductor ctl` (or `pace_ms`), for the summary; `None` when
/// nothing is.
fn control(status: &Status) -> Option<String> {
    let mut parts = Vec::new();
    if status.paused {
        parts.push("paused".to_string());
    }
    if let Some(n) = status.steps_left {
        parts.push(format!("{n} stepped wave(s) left"));
    }
    if let Some(step) = status.hold_at {
        parts.push(format!("hold at step {step}"));
    }
    if status.pace_ms > 0 {
        parts.push(format!(
            "pace {} ms, {} late wave(s)",
            status.pace_ms, status.late_waves
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `conductor` and the conductor's id, unless the id is that word itself (the default id),
/// which would say it twice.
fn conductor_name(server_id: &str) -> String {
    if server_id == "conductor" {
        "conductor".to_string()
    } else {
        format!("conductor {server_id}")
    }
}

/// The screen the summary must fit.
const SCREEN_WIDTH: usize = 80;
/// The width of the summary's labels (`waiting on   `).
const LABEL_WIDTH: usize = 13;

/// `names` joined with commas, as many as fit in `width` characters; the others are counted:
/// `alice, bob and 28 more`.
fn summary(names: &[String], width: usize) -> String {
    let mut shown = String::new();
    for (n, name) in names.iter().enumerate() {
        let next = if shown.is_empty() {
            name.clone()
        } else {
            format!("{shown}, {name}")
        };
        let left = names.len() - n - 1;
        let tail = if left == 0 {
            0
        } else {
            format!(" and {left} more").len()
        };
        if next.chars().count() + tail > width && !shown.is_empty() {
            return format!("{shown} and {} more", names.len() - n);
        }
        shown = next;
    }
    shown
}

/// `text` cut to `width` characters, with `…` in place of what does not fit.
fn cut(text: &str, width: usize) -> String {
    match text.char_indices().nth(width.saturating_sub(1)) {
        Some((at, _)) if text.chars().count() > width => format!("{}…", &text[..at]),
        _ => text.to_string(),
    }
}

/// A file's age (or any span) for a person: tenths of a second under a minute, then minutes,
/// then hours.
pub fn age(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..=59 => format!("{:.1} s", ms as f64 / 1000.0),
        60..=3599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            server_id: "conductor".into(),
            address: "127.0.0.1:7878".into(),
            phase: "running".into(),
            step: Some(41),
            waves_sent: 42,
            round_started_ms_ago: Some(3),
            clients: vec![ClientStatus {
                id: "worker-1".into(),
                peer: "127.0.0.1:50312".into(),
                state: "Working".into(),
                last_heard_ms_ago: 1,
                exempt_ms: None,
            }],
            waiting_on: vec!["worker-1".into()],
            ready: 0,
            min_clients: 1,
            last_round_ms: Some(2.5),
            last_round_slowest: Some(Slowest {
                id: "worker-1".into(),
                ms: 2.1,
            }),
            uptime_ms: 12000,
            ..Status::default()
        }
    }

    #[test]
    fn json_has_the_spec_fields_and_round_trips() {
        let s = sample();
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        for key in [
            "server_id",
            "address",
            "phase",
            "step",
            "waves_sent",
            "round_started_ms_ago",
            "clients",
            "waiting_on",
            "ready",
            "min_clients",
            "last_round_ms",
            "last_round_slowest",
            "uptime_ms",
            "state_file_error",
            "failure",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["clients"][0]["state"], "Working");
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn nulls_before_the_first_round() {
        let s = Status {
            step: None,
            round_started_ms_ago: None,
            last_round_ms: None,
            last_round_slowest: None,
            ..sample()
        };
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert!(v["step"].is_null() && v["last_round_slowest"].is_null());
        assert!(s.to_text().contains("step         -"));
    }

    #[test]
    fn a_failing_state_file_is_shown_and_older_files_still_read() {
        let failing = Status {
            state_file_error: Some("cannot record the state in s: disk full".into()),
            ..sample()
        };
        assert!(failing
            .to_text()
            .contains("\nstate file   cannot record the state in s: disk full\n"));
        assert!(!sample().to_text().contains("state file"));
        let mut v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        assert!(v["state_file_error"].is_null());
        v.as_object_mut().unwrap().remove("state_file_error");
        let back: Status = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn text_names_who_holds_the_round_up() {
        let text = sample().to_text();
        assert!(text.contains("waiting on   worker-1"), "{text}");
        assert!(text.contains("Working"), "{text}");
    }

    #[test]
    fn what_the_operator_set_is_shown_only_when_set() {
        assert!(!sample().to_text().contains("control"));
        let mut s = Status {
            phase: "paused".into(),
            paused: true,
            hold_at: Some(120),
            pace_ms: 33,
            late_waves: 2,
            ..sample()
        };
        s.clients[0].exempt_ms = Some(59_001);
        let text = s.to_text();
        assert!(
            text.contains("\ncontrol      paused; hold at step 120; pace 33 ms, 2 late wave(s)\n"),
            "{text}"
        );
        assert!(text.contains("127.0.0.1:50312  exempt 60 s\n"), "{text}");
        // Files written before these fields existed still read.
        let old = r#"{"server_id":"c","address":"a","phase":"running","step":null,
            "waves_sent":0,"round_started_ms_ago":null,"clients":[{"id":"x","peer":"p",
            "state":"Idle","last_heard_ms_ago":1}],"waiting_on":[],"last_round_ms":null,
            "last_round_slowest":null,"uptime_ms":5}"#;
        let read: Status = serde_json::from_str(old).unwrap();
        assert!(!read.paused && read.pace_ms == 0 && read.clients[0].exempt_ms.is_none());
    }

    #[test]
    fn a_run_short_of_participants_says_how_many_more_it_needs() {
        let between_rounds = Status {
            phase: "stopping".into(),
            round_started_ms_ago: None,
            waiting_on: vec![],
            ready: 1,
            min_clients: 2,
            ..sample()
        };
        let text = between_rounds.to_text();
        assert!(
            text.contains(
                "\nround        none: waiting for 1 more participant (1 ready, 2 needed)\n"
            ),
            "{text}"
        );
        let nobody = Status {
            ready: 0,
            min_clients: 3,
            ..between_rounds.clone()
        };
        assert!(nobody
            .to_text()
            .contains("waiting for 3 more participants (0 ready, 3 needed)"));
        // Not while a round runs, once enough are ready, or after the end.
        for s in [
            sample(),
            Status {
                ready: 2,
                ..between_rounds.clone()
            },
            Status {
                phase: "stopped".into(),
                ..between_rounds.clone()
            },
        ] {
            assert_eq!(Shortfall::of(&s), None, "{s:?}");
            assert!(!s.to_text().contains("waiting for"), "{s:?}");
        }
        // A file from a conductor that did not write the counts reads as 0 and 0.
        let mut old: serde_json::Value = serde_json::from_str(&between_rounds.to_json()).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("ready");
        fields.remove("min_clients");
        let old: Status = serde_json::from_value(old).unwrap();
        assert_eq!(Shortfall::of(&old), None);
    }

    #[test]
    fn a_relay_shows_its_upstream() {
        assert!(!sample().to_text().contains("upstream"));
        assert!(!sample().to_json().contains("upstream"));
        let relay = Status {
            upstream: Some(lockstep_proto::status::UpstreamStatus {
                address: "10.0.0.1:7878".into(),
                state: "connected".into(),
                last_step: Some(41),
            }),
            ..sample()
        };
        assert!(relay
            .to_text()
            .contains("\nupstream     10.0.0.1:7878 connected, last step 41\n"));
        let v: serde_json::Value = serde_json::from_str(&relay.to_json()).unwrap();
        assert_eq!(v["upstream"]["state"], "connected");
        assert_eq!(v["upstream"]["last_step"], 41);
    }

    #[test]
    fn the_participant_that_ended_the_run_is_named() {
        assert!(!sample().to_text().contains("failed"));
        let ended = Status {
            phase: "stopped".into(),
            failure: Some(Failure {
                id: "worker-3".into(),
                reason: "step 2: command exited with status 7".into(),
            }),
            ..sample()
        };
        let text = ended.to_text();
        assert!(
            text.contains("\nfailed       worker-3: step 2: command exited with status 7\n"),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&ended.to_json()).unwrap();
        assert_eq!(v["failure"]["id"], "worker-3");
        // A reason of any length keeps the line on the screen.
        let long = Status {
            failure: Some(Failure {
                id: "worker-3".into(),
                reason: "x".repeat(531),
            }),
            ..ended
        };
        let text = long.to_text();
        let line = text.lines().find(|l| l.starts_with("failed")).unwrap();
        assert_eq!(line.chars().count(), SCREEN_WIDTH, "{line}");
        assert!(line.ends_with("x…"), "{line}");
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
    }

    #[test]
    fn the_header_names_the_conductor_once() {
        let text = sample().to_text();
        assert!(text.starts_with("conductor on 127.0.0.1:7878\n"), "{text}");
        let named = Status {
            server_id: "boss".into(),
            ..sample()
        };
        assert!(named
            .to_text()
            .starts_with("conductor boss on 127.0.0.1:7878\n"));
    }

    #[test]
    fn a_long_waiting_list_is_cut_to_fit_the_screen() {
        let names: Vec<String> = ["alice", "bob"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..28).map(|n| format!("worker-{n:05}")))
            .collect();
        let s = Status {
            waiting_on: names.clone(),
            ..sample()
        };
        let text = s.to_text();
        let line = text.lines().find(|l| l.starts_with("waiting on")).unwrap();
        assert!(line.chars().count() <= SCREEN_WIDTH, "{line}");
        assert!(
            line.starts_with("waiting on   alice, bob, worker-00000, "),
            "{line}"
        );
        assert!(line.ends_with(" more"), "{line}");
        assert_eq!(summary(&names[..2], 67), "alice, bob");
        assert_eq!(summary(&names[..3], 21), "alice, bob and 1 more");
        assert_eq!(summary(&names[..3], 20), "alice and 2 more");
        assert_eq!(summary(&names, 10), "alice and 29 more");
        // However many, the summary (before the clients) fits 80 x 24.
        let shown = s.to_text_written(5);
        let header: Vec<&str> = shown.lines().take_while(|l| !l.is_empty()).collect();
        assert!(header.len() <= 24, "{header:?}");
        assert!(header.iter().all(|l| l.chars().count() <= SCREEN_WIDTH));
    }

    #[test]
    fn the_age_of_the_file_is_shown_for_a_person() {
        let text = sample().to_text_written(1234);
        assert!(text.contains("\nwritten      1.2 s ago\n"), "{text}");
        assert!(!sample().to_text().contains("written"));
        assert_eq!(age(59_960), "60.0 s");
        assert_eq!(age(61_000), "1 min 1 s");
        assert_eq!(age(7_380_000), "2 h 3 min");
    }
}
