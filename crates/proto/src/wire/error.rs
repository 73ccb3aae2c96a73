//! What the decoders report for bytes that are not a message (PROTOCOL.md "Bytes on the wire").
//! Short input is not an error: the decoders answer "need more" with `Ok(None)`.

use std::fmt;

use super::text::{ShowByte, TextError};

/// What a decoder returns: a message and the bytes it used, `None` for "need more bytes", or
/// an error for bytes that are no message.
pub type Decoded<M> = Result<Option<(M, usize)>, DecodeError>;

/// Why bytes could not be decoded as a message of the expected direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The type byte is not one this direction uses.
    UnknownType {
        /// The byte received.
        byte: u8,
        /// The type bytes that would have been valid, e.g. `"A K ! W . ? X R"`.
        expected: &'static str,
    },
    /// An `R` whose length field is over 531.
    RefusalTooLong {
        /// The length announced.
        len: u32,
    },
    /// An `R` whose text is not printable ASCII.
    RefusalText(TextError),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownType { byte, expected } => {
                write!(
                    f,
                    "unknown message type {}, expected one of {expected}",
                    ShowByte(*byte)
                )
            }
            DecodeError::RefusalTooLong { len } => {
                write!(f, "refusal length {len} is over the limit of 531")
            }
            DecodeError::RefusalText(e) => write!(f, "refusal text is invalid: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}
