//! What one seed decides before the run starts: the conductor's settings (drawn from the whole
//! valid range, with small values favoured so that timeouts, wrap-around, bounds and planned
//! ends happen often) and the shape of the hostile world (how many clients, how faulty, how
//! long the faults last, which stops come when, which of the operator's commands come when).
//! Performs no I/O.

use std::net::{IpAddr, Ipv4Addr};

use crate::cidr::Cidr;
use crate::core::{Command, CoreConfig, EndOnFailure};
use crate::round::RoundConfig;
use crate::time::{Duration, Instant};
use crate::wire::Id;

use super::rng::Rng;

/// An operator action or a fatal error, at a time of the fault phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// SIGTERM.
    Graceful,
    /// SIGINT.
    Interrupt,
    /// The listening socket failed.
    Fatal,
    /// A command through the control socket.
    Control(Command),
    /// `exempt` for a member picked when it comes (none: the command names a stranger).
    Exempt(Duration),
    /// SIGUSR1: a planned restart.
    Restart,
}

/// Everything a seed fixes up front.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The conductor's settings.
    pub config: CoreConfig,
    /// When faults stop.
    pub calm_at: Instant,
    /// Rounds that must complete after faults stop, before the final stop.
    pub calm_rounds: u64,
    /// Clients present from the start.
    pub initial_clients: u64,
    /// Clients arriving during the fault phase.
    pub later_clients: u64,
    /// Chance (per mille) that a client misbehaves at all.
    pub fault_rate: u64,
    /// Chance (per mille) of a time jump before a step of the fault phase.
    pub jump_rate: u64,
    /// Operator actions during the fault phase.
    pub ops: Vec<(Instant, Op)>,
    /// The address block clients normally connect from.
    pub home: IpAddr,
}

fn millis(rng: &mut Rng, zero_per_mille: u64, lo: u64, hi: u64) -> Duration {
    if rng.chance(zero_per_mille) {
        Duration::ZERO
    } else {
        Duration::from_millis(rng.range(lo, hi))
    }
}

impl Plan {
    /// One of the operator's commands, with its argument.
    fn command(rng: &mut Rng, step_wrap: u64) -> Op {
        let command = match rng.below(7) {
            0 | 1 => Command::Pause,
            2 => Command::Resume,
            3 => Command::Step(rng.range(0, 4) as u32),
            // Mostly the next few steps, so that holds are reached.
            4 => Command::HoldAt(Some(rng.below(step_wrap.min(40)) as u32)),
            5 => Command::Pace(millis(rng, 300, 1, 60)),
            _ => return Op::Exempt(millis(rng, 200, 5, 3_000)),
        };
        Op::Control(command)
    }

    /// The plan for `seed`.
    pub fn new(rng: &mut Rng) -> Plan {
        let server_id = Id::new("conductor").unwrap_or_else(|_| unreachable!("a valid literal"));
        let min_clients = rng.pick(&[1, 1, 1, 2, 2, 3, 4]);
        let max_clients = min_clients + rng.pick(&[0, 1, 2, 4, 8, 50]);
        let rounds = if rng.chance(600) { 0 } else { rng.range(1, 25) };
        let step_wrap = rng.pick(&[1, 2, 3, 7, 1 << 32, 1 << 32, 1 << 32]);
        let allow = if rng.chance(300) {
            vec!["127.0.0.0/8"
                .parse::<Cidr>()
                .unwrap_or_else(|_| unreachable!("a valid block"))]
        } else {
            Vec::new()
        };
        let config = CoreConfig {
            server_id,
            rounds: RoundConfig {
                min_clients,
                rounds,
                step_wrap,
                shutdown_countdown: rng.range(0, 4) as u32,
                slow_round: millis(rng, 300, 5, 500),
                pace: if rng.chance(250) {
                    Duration::from_millis(rng.range(1, 50))
                } else {
                    Duration::ZERO
                },
            },
            max_clients,
            hello_timeout: millis(rng, 100, 20, 2_000),
            probe_after: millis(rng, 200, 5, 1_000),
            drop_after: millis(rng, 200, 40, 3_000),
            status_interval: (!rng.chance(300)).then(|| Duration::from_millis(rng.range(0, 500))),
            allow,
            max_queued_bytes: rng.pick(&[20, 64, 200, 600, 1_000, 2_048, 8_192]),
            linger: Duration::from_millis(rng.range(5, 2_000)),
            // The per-message events too: every event the core can output is exercised.
            trace_events: true,
            // And the records of a state file.
            persist: true,
            resume: None,
            // The simulation checks that rounds go on once faults stop; a fault ending the run
            // would end that check (the model check and the fuzz scripts cover this setting).
            end_on_failure: EndOnFailure::Never,
        };
        let calm_at = Instant::from_millis(rng.range(100, 6_000));
        let mut ops = Vec::new();
        for (op, per_mille) in [
            (Op::Graceful, 200),
            (Op::Interrupt, 80),
            (Op::Fatal, 30),
            (Op::Restart, 30),
        ] {
            if rng.chance(per_mille) {
                ops.push((Instant::from_micros(rng.below(calm_at.as_micros())), op));
            }
        }
        if rng.chance(400) {
            for _ in 0..rng.range(1, 8) {
                let at = Instant::from_micros(rng.below(calm_at.as_micros()));
                ops.push((at, Plan::command(rng, step_wrap)));
            }
        }
        Plan {
            config,
            calm_at,
            calm_rounds: rng.range(3, 30),
            initial_clients: rng.range(1, 8),
            later_clients: rng.range(0, 12),
            fault_rate: rng.pick(&[0, 100, 300, 600, 900]),
            jump_rate: rng.pick(&[0, 0, 2, 10]),
            ops,
            home: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        }
    }
}
