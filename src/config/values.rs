//! How each kind of setting is read from JSON and written back: the `deserialize_with` and
//! `serialize_with` functions named by the fields of [`Config`](super::Config). Their errors
//! say what was expected and what arrived, and never show a value whole: anything longer than
//! [`MAX_SHOWN`] characters is cut with an ellipsis. Performs no I/O.

use std::net::{Ipv6Addr, SocketAddr};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};
use serde_json::Value;

use lockstep_proto::cidr::Cidr;
use lockstep_proto::core::EndOnFailure;
use lockstep_proto::wire::Id;

/// The most characters of a value (or key) a message shows.
pub const MAX_SHOWN: usize = 80;

/// `text` cut to [`MAX_SHOWN`] characters, with an ellipsis when something was cut.
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// `text` in JSON quotes, shortened.
pub fn quoted(text: &str) -> String {
    Value::String(shorten(text)).to_string()
}

/// A JSON value as a message shows it, shortened.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => quoted(text),
        other => shorten(&other.to_string()),
    }
}

/// A whole number from `MIN` to `MAX`, stored as `T` (whose range holds `MIN..=MAX`).
pub fn int<'de, D, T, const MIN: u64, const MAX: u64>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let value = Value::deserialize(d)?;
    match value.as_u64() {
        Some(n) if (MIN..=MAX).contains(&n) => T::try_from(n)
            .map_err(|_| D::Error::custom(format!("{n} does not fit the setting's type"))),
        Some(n) => Err(D::Error::custom(format!(
            "{n} is out of range {MIN}..={MAX}"
        ))),
        None => Err(D::Error::custom(format!(
            "expected a whole number from {MIN} to {MAX}, got {}",
            shown(&value)
        ))),
    }
}

/// Any string.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let value = Value::deserialize(d)?;
    match value {
        Value::String(text) => Ok(text),
        other => Err(D::Error::custom(format!(
            "expected a string, got {}",
            shown(&other)
        ))),
    }
}

/// A path for a Unix socket: any string without a NUL byte (`""` switches it off); its length
/// is checked once it is resolved.
pub fn socket_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = string(d)?;
    if text.contains('\0') {
        return Err(D::Error::custom(format!(
            "{} contains a NUL byte, which no path can hold",
            quoted(&text)
        )));
    }
    Ok(text)
}

/// `true` or `false`.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value = Value::deserialize(d)?;
    value
        .as_bool()
        .ok_or_else(|| D::Error::custom(format!("expected true or false, got {}", shown(&value))))
}

/// `end_on_failure`: `false`, `true` (a participant's `R` ends the run) or `"closed"` (any
/// loss without `X` too).
pub fn end_on_failure<'de, D: Deserializer<'de>>(d: D) -> Result<EndOnFailure, D::Error> {
    let value = Value::deserialize(d)?;
    match &value {
        Value::Bool(false) => Ok(EndOnFailure::Never),
        Value::Bool(true) => Ok(EndOnFailure::Refusal),
        Value::String(word) if word == "closed" => Ok(EndOnFailure::Closed),
        other => Err(D::Error::custom(format!(
            "expected false, true or \"closed\", got {}",
            shown(other)
        ))),
    }
}

/// Writes `end_on_failure` as it is read: `false`, `true` or `"closed"`.
pub fn end_on_failure_value<S: Serializer>(policy: &EndOnFailure, s: S) -> Result<S::Ok, S::Error> {
    match policy {
        EndOnFailure::Never => s.serialize_bool(false),
        EndOnFailure::Refusal => s.serialize_bool(true),
        EndOnFailure::Closed => s.serialize_str("closed"),
    }
}

/// The address to bind: not empty; an IPv6 address may come in brackets (`[::1]`), as in a
/// URL, and is kept without them.
pub fn host<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let host = string(d)?;
    if host.trim().is_empty() {
        return Err(D::Error::custom("must not be empty"));
    }
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) if inner.parse::<Ipv6Addr>().is_ok() => Ok(inner.to_string()),
        Some(_) => Err(D::Error::custom(format!(
            "{} is in brackets, which only an IPv6 address takes",
            quoted(&host)
        ))),
        None => Ok(host),
    }
}

/// An address to serve HTTP on, `IP:PORT` (an IPv6 address in brackets, `[::1]:9878`; port 0
/// picks a free one), or `""` for none.
pub fn http_address<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = string(d)?;
    if text.is_empty() || text.parse::<SocketAddr>().is_ok() {
        return Ok(text);
    }
    Err(D::Error::custom(format!(
        "{} is not an address to serve HTTP on: expected IP:PORT, such as \"127.0.0.1:9878\" \
         or \"[::1]:9878\" (\"\" switches it off)",
        quoted(&text)
    )))
}

/// The conductor's id: 1 to 12 printable ASCII characters.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
    let text = string(d)?;
    Id::new(&text).map_err(|e| {
        D::Error::custom(format!(
            "{} is not a valid id (1 to 12 printable ASCII characters): {e}",
            quoted(&text)
        ))
    })
}

/// Writes an id as its text.
pub fn id_text<S: Serializer>(id: &Id, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(id.as_str())
}

/// A list of CIDR blocks, each a string.
pub fn blocks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Cidr>, D::Error> {
    let value = Value::deserialize(d)?;
    let Value::Array(items) = value else {
        return Err(D::Error::custom(format!(
            "expected a list of CIDR blocks, got {}",
            shown(&value)
        )));
    };
    items
        .iter()
        .map(|item| {
            let text = item.as_str().ok_or_else(|| {
                D::Error::custom(format!(
                    "expected CIDR blocks as strings, got {}",
                    shown(item)
                ))
            })?;
            text.parse::<Cidr>()
                .map_err(|e| D::Error::custom(format!("{} {e}", quoted(text))))
        })
        .collect()
}

/// Writes blocks as their text.
pub fn block_texts<S: Serializer>(blocks: &[Cidr], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(blocks.iter().map(ToString::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_with_an_ellipsis() {
        let long = "x".repeat(10_000);
        let cut = shorten(&long);
        assert_eq!(cut.chars().count(), MAX_SHOWN + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(shorten("short"), "short");
        // Cut on a character boundary, whatever the bytes.
        let wide = "é".repeat(200);
        assert_eq!(shorten(&wide).chars().count(), MAX_SHOWN + 1);
        assert_eq!(quoted(&long).len(), MAX_SHOWN + "…".len() + 2);
        assert_eq!(
            shown(&Value::from(vec![1; 1000])).chars().count(),
            MAX_SHOWN + 1
        );
    }
}
