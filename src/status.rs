//! The two forms of the status snapshot (`lockstep_proto::status::Status`) that the status
//! files hold: JSON for scripts, a table for people. Builds strings only; writing files belongs
//! to the driver.

use std::fmt::Write as _;

pub use lockstep_proto::status::{ClientStatus, Slowest, Status};

/// Renders a status snapshot.
pub trait Render {
    /// The JSON form, pretty-printed, ending in a newline.
    fn to_json(&self) -> String;
    /// The form for a person: a summary, then one line per client.
    fn to_text(&self) -> String;
}

impl Render for Status {
    fn to_json(&self) -> String {
        // Serialising plain strings and numbers cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
        let _ = writeln!(out, "conductor {} on {}", self.server_id, self.address);
        let _ = writeln!(out, "phase        {}", self.phase);
        let _ = writeln!(
            out,
            "step         {}",
            or_dash(self.step.map(|s| s.to_string()))
        );
        let _ = writeln!(out, "waves sent   {}", self.waves_sent);
        let _ = writeln!(
            out,
            "round        {}",
            match self.round_started_ms_ago {
                Some(ms) => format!("running for {ms} ms"),
                None => "none running".to_string(),
            }
        );
        let waiting = if self.waiting_on.is_empty() {
            "-".to_string()
        } else {
            self.waiting_on.join(", ")
        };
        let _ = writeln!(out, "waiting on   {waiting}");
        let _ = writeln!(
            out,
            "last round   {}",
            or_dash(self.last_round_ms.map(|ms| format!("{ms:.3} ms")))
        );
        let _ = writeln!(
            out,
            "slowest      {}",
            or_dash(
                self.last_round_slowest
                    .as_ref()
                    .map(|s| format!("{} ({:.3} ms)", s.id, s.ms))
            )
        );
        let _ = writeln!(out, "uptime       {:.1} s", self.uptime_ms as f64 / 1000.0);
        let _ = writeln!(out, "clients      {}", self.clients.len());
        if !self.clients.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{:<12}  {:<13}  {:>10}  peer",
                "id", "state", "heard ago"
            );
            for c in &self.clients {
                let _ = writeln!(
                    out,
                    "{:<12}  {:<13}  {:>7} ms  {}",
                    c.id, c.state, c.last_heard_ms_ago, c.peer
                );
            }
        }
        out
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
            }],
            waiting_on: vec!["worker-1".into()],
            last_round_ms: Some(2.5),
            last_round_slowest: Some(Slowest {
                id: "worker-1".into(),
                ms: 2.1,
            }),
            uptime_ms: 12000,
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
            "last_round_ms",
            "last_round_slowest",
            "uptime_ms",
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
    fn text_names_who_holds_the_round_up() {
        let text = sample().to_text();
        assert!(text.contains("waiting on   worker-1"), "{text}");
        assert!(text.contains("Working"), "{text}");
    }
}
