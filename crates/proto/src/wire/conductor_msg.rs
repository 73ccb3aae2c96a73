//! Messages the conductor sends to clients (PROTOCOL.md "Bytes on the wire"): the type, its
//! encoding and the incremental decoder clients run.

use super::error::{DecodeError, Decoded};
use super::frame::{self, RawHello};
use super::text::Reason;

/// The type bytes the conductor may send, for error messages.
pub const CONDUCTOR_TYPES: &str = "A ! R X ? . T S E C";

/// One message from the conductor.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConductorMsg {
    /// `A`: hello with the conductor's version and id.
    Hello(RawHello),
    /// `!`: Go for this step.
    Go(u32),
    /// `R`: refusal; the connection is closed after it.
    Refusal(Reason),
    /// `X`: the conductor is closing this connection.
    Exit,
    /// `?`: are you still there?
    Ping,
    /// `.`: I'm still here.
    Here,
    /// `T`: this round is taking longer than expected.
    Slow,
    /// `S n`: shutting down in n steps.
    ShuttingDown(u32),
    /// `E`: shutting down due to an error.
    Error,
    /// `C`: ceasing operation, by the operator's decision.
    Cease,
}

impl ConductorMsg {
    /// The type byte that starts this message.
    pub fn type_byte(&self) -> u8 {
        match self {
            ConductorMsg::Hello(_) => b'A',
            ConductorMsg::Go(_) => b'!',
            ConductorMsg::Refusal(_) => b'R',
            ConductorMsg::Exit => b'X',
            ConductorMsg::Ping => b'?',
            ConductorMsg::Here => b'.',
            ConductorMsg::Slow => b'T',
            ConductorMsg::ShuttingDown(_) => b'S',
            ConductorMsg::Error => b'E',
            ConductorMsg::Cease => b'C',
        }
    }

    /// Appends the encoded message to `out`. Cannot fail: every field is already valid. Inlined:
    /// the conductor encodes straight into a connection's queue, where the message is known.
    #[inline(always)]
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            ConductorMsg::Hello(h) => frame::put_hello(out, h.version, &h.id),
            ConductorMsg::Go(step) | ConductorMsg::ShuttingDown(step) => {
                let [a, b, c, d] = step.to_le_bytes();
                out.extend_from_slice(&[self.type_byte(), a, b, c, d]);
            }
            ConductorMsg::Refusal(reason) => frame::put_refusal(out, reason),
            other => out.push(other.type_byte()),
        }
    }

    /// Decodes the message at the start of `buf`: `Ok(Some((msg, consumed)))`, `Ok(None)` when
    /// more bytes are needed, or an error naming the offending byte.
    pub fn decode(buf: &[u8]) -> Decoded<ConductorMsg> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let single = |msg| Ok(Some((msg, 1)));
        match first {
            b'A' => Ok(frame::hello(buf).map(|(h, n)| (ConductorMsg::Hello(h), n))),
            b'!' => Ok(frame::u32_payload(buf).map(|(s, n)| (ConductorMsg::Go(s), n))),
            b'S' => Ok(frame::u32_payload(buf).map(|(s, n)| (ConductorMsg::ShuttingDown(s), n))),
            b'R' => Ok(frame::refusal(buf)?.map(|(r, n)| (ConductorMsg::Refusal(r), n))),
            b'X' => single(ConductorMsg::Exit),
            b'?' => single(ConductorMsg::Ping),
            b'.' => single(ConductorMsg::Here),
            b'T' => single(ConductorMsg::Slow),
            b'E' => single(ConductorMsg::Error),
            b'C' => single(ConductorMsg::Cease),
            byte => Err(DecodeError::UnknownType {
                byte,
                expected: CONDUCTOR_TYPES,
            }),
        }
    }
}
