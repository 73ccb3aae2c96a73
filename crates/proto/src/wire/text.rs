//! Validated text fields of the wire format (PROTOCOL.md "Bytes on the wire", "Ids"): the
//! 12-byte [`Id`] and the refusal [`Reason`]. Both can only hold printable ASCII, so encoding
//! them cannot fail.

use std::fmt;

/// Length of an id on the wire.
pub const ID_LEN: usize = 12;
/// Longest refusal text: 536 bytes per message minus the type byte and the length field.
pub const MAX_REASON_LEN: usize = 531;

/// True for the bytes the protocol allows in text: printable ASCII, 0x20..=0x7E.
pub const fn is_printable(byte: u8) -> bool {
    matches!(byte, 0x20..=0x7E)
}

/// Why a text field was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextError {
    /// The text is longer than allowed.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The most allowed: 12 for an id, 531 for a reason.
        max: usize,
    },
    /// A byte outside 0x20..=0x7E.
    NotPrintable {
        /// The byte.
        byte: u8,
        /// Where it is, counting from 0.
        offset: usize,
    },
    /// The id is empty or made only of spaces.
    Blank,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::TooLong { len, max } => write!(f, "{len} bytes long, at most {max} allowed"),
            TextError::NotPrintable { byte, offset } => {
                write!(
                    f,
                    "byte 0x{byte:02x} at offset {offset} is not printable ASCII"
                )
            }
            TextError::Blank => write!(f, "it is blank"),
        }
    }
}

impl std::error::Error for TextError {}

fn check_printable(bytes: &[u8]) -> Result<(), TextError> {
    match bytes.iter().position(|&b| !is_printable(b)) {
        Some(offset) => Err(TextError::NotPrintable {
            byte: bytes[offset],
            offset,
        }),
        None => Ok(()),
    }
}

/// A participant's or the conductor's identity: 12 printable bytes, right-padded with spaces,
/// not all spaces.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id([u8; ID_LEN]);

impl Id {
    /// Validates the 12 bytes as they arrive on the wire.
    pub fn from_wire(bytes: [u8; ID_LEN]) -> Result<Id, TextError> {
        check_printable(&bytes)?;
        if bytes.iter().all(|&b| b == b' ') {
            return Err(TextError::Blank);
        }
        Ok(Id(bytes))
    }

    /// Builds an id from a display name of 1 to 12 printable characters, padding with spaces.
    pub fn new(name: &str) -> Result<Id, TextError> {
        let bytes = name.as_bytes();
        if bytes.len() > ID_LEN {
            return Err(TextError::TooLong {
                len: bytes.len(),
                max: ID_LEN,
            });
        }
        let mut padded = [b' '; ID_LEN];
        padded[..bytes.len()].copy_from_slice(bytes);
        Id::from_wire(padded)
    }

    /// The 12 bytes as sent on the wire, padding included.
    pub fn as_wire(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// The id without its trailing padding, as shown to people and in status files.
    pub fn as_str(&self) -> &str {
        let end = self.0.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
        // Only printable ASCII is ever stored, which is valid UTF-8.
        std::str::from_utf8(&self.0[..end]).unwrap_or("")
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({:?})", self.as_str())
    }
}

/// The text of a refusal: printable ASCII, at most 531 bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reason(String);

impl Reason {
    /// Validates a reason.
    pub fn new(text: impl Into<String>) -> Result<Reason, TextError> {
        let text = text.into();
        if text.len() > MAX_REASON_LEN {
            return Err(TextError::TooLong {
                len: text.len(),
                max: MAX_REASON_LEN,
            });
        }
        check_printable(text.as_bytes())?;
        Ok(Reason(text))
    }

    /// Builds a reason from any text, replacing bytes that are not printable with `?` and
    /// cutting it to the longest length allowed. Used for reasons the conductor composes from
    /// what a peer sent, so that they can never fail to encode.
    pub fn lossy(text: &str) -> Reason {
        let mut clean: String = text
            .bytes()
            .map(|b| if is_printable(b) { b as char } else { '?' })
            .collect();
        clean.truncate(MAX_REASON_LEN);
        Reason(clean)
    }

    /// Validates reason bytes as they arrive on the wire.
    pub fn from_wire(bytes: &[u8]) -> Result<Reason, TextError> {
        if bytes.len() > MAX_REASON_LEN {
            return Err(TextError::TooLong {
                len: bytes.len(),
                max: MAX_REASON_LEN,
            });
        }
        check_printable(bytes)?;
        // Printable ASCII is valid UTF-8.
        Ok(Reason(String::from_utf8_lossy(bytes).into_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reason({:?})", self.0)
    }
}

/// Shows one byte for a person: the character when printable, its hex value always.
pub struct ShowByte(pub u8);

impl fmt::Display for ShowByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_printable(self.0) && self.0 != b'\'' {
            write!(f, "'{}' (0x{:02x})", self.0 as char, self.0)
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_pads_and_trims() {
        let id = Id::new("worker-1").unwrap();
        assert_eq!(id.as_wire(), b"worker-1    ");
        assert_eq!(id.as_str(), "worker-1");
        assert_eq!(Id::new("abcdefghijkl").unwrap().as_str(), "abcdefghijkl");
    }

    #[test]
    fn id_rejects_blank_long_and_unprintable() {
        assert_eq!(Id::new(""), Err(TextError::Blank));
        assert_eq!(Id::from_wire([b' '; 12]), Err(TextError::Blank));
        assert_eq!(
            Id::new("abcdefghijklm"),
            Err(TextError::TooLong { len: 13, max: 12 })
        );
        let mut raw = *b"abc         ";
        raw[1] = 0x07;
        assert_eq!(
            Id::from_wire(raw),
            Err(TextError::NotPrintable { byte: 7, offset: 1 })
        );
        raw[1] = 0x7f;
        assert!(Id::from_wire(raw).is_err());
    }

    #[test]
    fn leading_spaces_are_part_of_the_id() {
        let id = Id::from_wire(*b"  x         ").unwrap();
        assert_eq!(id.as_str(), "  x");
    }

    #[test]
    fn reason_limits() {
        assert!(Reason::new("x".repeat(531)).is_ok());
        assert!(Reason::new("x".repeat(532)).is_err());
        assert!(Reason::new("tab\there").is_err());
        assert!(Reason::new("").is_ok());
        assert_eq!(Reason::lossy("a\nb").as_str(), "a?b");
        assert_eq!(Reason::lossy(&"y".repeat(600)).as_str().len(), 531);
    }

    #[test]
    fn show_byte_names_the_byte() {
        assert_eq!(ShowByte(b'Z').to_string(), "'Z' (0x5a)");
        assert_eq!(ShowByte(0).to_string(), "0x00");
    }
}
