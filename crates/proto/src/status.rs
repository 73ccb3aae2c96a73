//! The status snapshot the conductor's status files show: plain data, in the shape of
//! `status.json` (serde derives the field names). Rendering it and writing files belong to the
//! driver.

use serde::{Deserialize, Serialize};

/// One client past its hello.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientStatus {
    /// Its id, without padding.
    pub id: String,
    /// Its address.
    pub peer: String,
    /// Its state, by PROTOCOL.md's names.
    pub state: String,
    /// Milliseconds since it last sent anything.
    pub last_heard_ms_ago: u64,
    /// Milliseconds its exemption from the liveness checks still lasts, if it is exempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exempt_ms: Option<u64>,
}

/// The participant whose Done came last in the last finished round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slowest {
    /// Its id.
    pub id: String,
    /// Milliseconds from its Go to its Done.
    pub ms: f64,
}

/// The participant whose failure ended the run (`end_on_failure`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Its id.
    pub id: String,
    /// Its `R` reason, or how it was lost.
    pub reason: String,
}

/// The upstream side as the status files show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamStatus {
    /// `HOST:PORT` of the upstream conductor (filled in by the driver).
    pub address: String,
    /// `waiting` (for `min_clients`), `connecting`, `connected`, `reconnecting` or `closed`.
    pub state: String,
    /// The step of the last Go from upstream; `null` before the first.
    pub last_step: Option<u32>,
}

/// Everything the status files show.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The conductor's id.
    pub server_id: String,
    /// The bound address, filled in by the driver.
    pub address: String,
    /// `waiting`, `running`, `paused`, `stopping` or `stopped`.
    pub phase: String,
    /// The step of the last wave sent.
    pub step: Option<u32>,
    /// Waves sent so far.
    pub waves_sent: u64,
    /// Milliseconds since the running round's wave; `null` between rounds.
    pub round_started_ms_ago: Option<u64>,
    /// Clients past their hello.
    pub clients: Vec<ClientStatus>,
    /// Participants of the running round that are not Done yet.
    pub waiting_on: Vec<String>,
    /// Clients ready for the next wave (Idle or Done).
    #[serde(default)]
    pub ready: u32,
    /// Clients that must be ready before a wave is sent.
    #[serde(default)]
    pub min_clients: u32,
    /// Duration of the last finished round.
    pub last_round_ms: Option<f64>,
    /// Who finished last in the last finished round.
    pub last_round_slowest: Option<Slowest>,
    /// Milliseconds since the conductor started.
    pub uptime_ms: u64,
    /// Held by the operator: no new wave (also while a countdown's `stopping` phase shows).
    #[serde(default)]
    pub paused: bool,
    /// Waves a `step N` still lets out before pausing.
    #[serde(default)]
    pub steps_left: Option<u32>,
    /// The step before whose wave the conductor will pause.
    #[serde(default)]
    pub hold_at: Option<u32>,
    /// The pace in milliseconds; 0 = none.
    #[serde(default)]
    pub pace_ms: u64,
    /// Paced waves that left late (their round overran the slot).
    #[serde(default)]
    pub late_waves: u64,
    /// Why the state file cannot be written, while its writes fail (filled in by the driver);
    /// `null` while they work, or without a state file.
    #[serde(default)]
    pub state_file_error: Option<String>,
    /// The participant whose failure ended the run; `null` otherwise.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// A relay's upstream side; absent for a conductor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamStatus>,
}
