//! Messages a client sends to the conductor (PROTOCOL.md "Bytes on the wire"): the type, its
//! encoding and the incremental decoder the conductor runs on every connection.

use super::error::{DecodeError, Decoded};
use super::frame::{self, RawHello};
use super::text::Reason;

/// The type bytes a client may send, for error messages.
pub const CLIENT_TYPES: &str = "A K ! W . ? X R";

/// One message from a client. Its tag is a plain byte (no niche in the refusal's text), so that
/// telling messages apart is one load on the conductor's hot path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ClientMsg {
    /// `A`: hello, with the raw version and id (validated by the conductor).
    Hello(RawHello),
    /// `K`: the Go was received.
    Received,
    /// `!`: the step's work is done.
    Done,
    /// `W`: still working.
    Working,
    /// `.`: here, not working.
    Here,
    /// `?`: are you still there?
    Ping,
    /// `X`: the client leaves.
    Exit,
    /// `R`: the client refuses to go on, with its reason.
    Refusal(Reason),
}

impl ClientMsg {
    /// The type byte that starts this message.
    pub fn type_byte(&self) -> u8 {
        match self {
            ClientMsg::Hello(_) => b'A',
            ClientMsg::Received => b'K',
            ClientMsg::Done => b'!',
            ClientMsg::Working => b'W',
            ClientMsg::Here => b'.',
            ClientMsg::Ping => b'?',
            ClientMsg::Exit => b'X',
            ClientMsg::Refusal(_) => b'R',
        }
    }

    /// Appends the encoded message to `out`. Cannot fail: every field is already valid.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            ClientMsg::Hello(h) => frame::put_hello(out, h.version, &h.id),
            ClientMsg::Refusal(reason) => frame::put_refusal(out, reason),
            other => out.push(other.type_byte()),
        }
    }

    /// Decodes the message at the start of `buf`: `Ok(Some((msg, consumed)))`, `Ok(None)` when
    /// more bytes are needed, or an error naming the offending byte.
    pub fn decode(buf: &[u8]) -> Decoded<ClientMsg> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let single = |msg| Ok(Some((msg, 1)));
        match first {
            b'A' => Ok(frame::hello(buf).map(|(h, n)| (ClientMsg::Hello(h), n))),
            b'K' => single(ClientMsg::Received),
            b'!' => single(ClientMsg::Done),
            b'W' => single(ClientMsg::Working),
            b'.' => single(ClientMsg::Here),
            b'?' => single(ClientMsg::Ping),
            b'X' => single(ClientMsg::Exit),
            b'R' => Ok(frame::refusal(buf)?.map(|(r, n)| (ClientMsg::Refusal(r), n))),
            byte => Err(DecodeError::UnknownType {
                byte,
                expected: CLIENT_TYPES,
            }),
        }
    }
}
