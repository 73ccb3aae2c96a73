//! Field-level decoding shared by both directions: the fixed-size hello, the `u32le` payloads
//! and the length-prefixed refusal. Each helper returns `Ok(None)` while bytes are missing.

use byteorder::{ByteOrder, LittleEndian};

use super::error::DecodeError;
use super::text::{Reason, ID_LEN, MAX_REASON_LEN};

/// Length of a hello: type byte, version byte, id.
pub const HELLO_LEN: usize = 2 + ID_LEN;
/// Length of a message carrying one `u32le`.
pub const U32_MSG_LEN: usize = 5;
/// Length of the header of a refusal: type byte and `u32le` length.
pub const REFUSAL_HEADER_LEN: usize = 5;

/// The fields of a hello as received: the version byte and the raw id, validated later by
/// whoever decides what an invalid one means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RawHello {
    /// The version character; protocol version 1 is `b'1'`.
    pub version: u8,
    /// The id bytes, padding included.
    pub id: [u8; ID_LEN],
}

/// Reads a hello starting at `buf[0]`.
pub fn hello(buf: &[u8]) -> Option<(RawHello, usize)> {
    let bytes = buf.get(..HELLO_LEN)?;
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(&bytes[2..]);
    Some((
        RawHello {
            version: bytes[1],
            id,
        },
        HELLO_LEN,
    ))
}

/// Reads the `u32le` payload of a 5-byte message starting at `buf[0]`.
pub fn u32_payload(buf: &[u8]) -> Option<(u32, usize)> {
    let bytes = buf.get(..U32_MSG_LEN)?;
    Some((LittleEndian::read_u32(&bytes[1..]), U32_MSG_LEN))
}

/// Reads a refusal starting at `buf[0]`. The length is checked as soon as it is known, before
/// waiting for the text.
pub fn refusal(buf: &[u8]) -> Result<Option<(Reason, usize)>, DecodeError> {
    let Some((len, _)) = u32_payload(buf) else {
        return Ok(None);
    };
    if len as usize > MAX_REASON_LEN {
        return Err(DecodeError::RefusalTooLong { len });
    }
    let total = REFUSAL_HEADER_LEN + len as usize;
    let Some(text) = buf.get(REFUSAL_HEADER_LEN..total) else {
        return Ok(None);
    };
    let reason = Reason::from_wire(text).map_err(DecodeError::RefusalText)?;
    Ok(Some((reason, total)))
}

/// Appends a refusal.
pub fn put_refusal(out: &mut Vec<u8>, reason: &Reason) {
    out.push(b'R');
    put_u32(out, reason.as_str().len() as u32);
    out.extend_from_slice(reason.as_str().as_bytes());
}

/// Appends a `u32le`.
pub fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a hello.
pub fn put_hello(out: &mut Vec<u8>, version: u8, id: &[u8; ID_LEN]) {
    out.push(b'A');
    out.push(version);
    out.extend_from_slice(id);
}
