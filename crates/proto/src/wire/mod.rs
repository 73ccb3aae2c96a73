//! The wire format of protocol version 1 (PROTOCOL.md "Bytes on the wire"): validated text
//! fields, the messages of each direction, allocation-free encoding into a caller's buffer and
//! incremental decoding. Performs no I/O.

mod client_msg;
mod conductor_msg;
mod error;
mod frame;
mod text;

pub use client_msg::{ClientMsg, CLIENT_TYPES};
pub use conductor_msg::{ConductorMsg, CONDUCTOR_TYPES};
pub use error::{DecodeError, Decoded};
pub use frame::RawHello;
pub use text::{is_printable, Id, Reason, ShowByte, TextError, ID_LEN, MAX_REASON_LEN};

/// The protocol version this crate speaks, as it appears in a hello.
pub const VERSION: u8 = b'1';
/// No message of either direction is longer than this.
pub const MAX_MESSAGE_LEN: usize = 536;

#[cfg(test)]
mod tests;
