//! C strings coming in. Text the protocol or the network sees (an address, an id, a reason, a
//! server name) must be printable ASCII, and a NULL where text is needed is an error that names
//! the argument; file paths are taken as the bytes the system gives them.

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use lockstep_proto::wire::is_printable;

use super::error::Failure;

/// The bytes of the NUL-terminated string at `ptr`; `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
unsafe fn bytes<'a>(ptr: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: the caller promises a NUL-terminated string when not NULL.
    (!ptr.is_null()).then(|| unsafe { CStr::from_ptr(ptr) }.to_bytes())
}

/// The printable ASCII text at `ptr`, which the call's `what` (an argument, a field) names in
/// errors.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn ascii<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: passed on from the caller.
    let bytes =
        unsafe { bytes(ptr) }.ok_or_else(|| Failure::argument(format!("{what} is NULL")))?;
    ascii_bytes(bytes, what)
}

/// Like [`ascii`], with NULL meaning "not given".
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn ascii_or_null<'a>(
    ptr: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, Failure> {
    // SAFETY: passed on from the caller.
    unsafe { bytes(ptr) }
        .map(|b| ascii_bytes(b, what))
        .transpose()
}

/// `bytes` as text if every byte is printable ASCII.
fn ascii_bytes<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, Failure> {
    match bytes.iter().position(|&b| !is_printable(b)) {
        Some(offset) => Err(Failure::argument(format!(
            "{what}: byte 0x{:02x} at offset {offset} is not printable ASCII",
            bytes[offset]
        ))),
        // Printable ASCII is valid UTF-8.
        None => std::str::from_utf8(bytes).map_err(|e| Failure::argument(format!("{what}: {e}"))),
    }
}

/// The file path at `ptr`, `None` for NULL; an empty path is an error naming `what`.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn path_or_null<'a>(
    ptr: *const c_char,
    what: &str,
) -> Result<Option<&'a Path>, Failure> {
    // SAFETY: passed on from the caller.
    match unsafe { bytes(ptr) } {
        None => Ok(None),
        Some([]) => Err(Failure::argument(format!("{what} is an empty path"))),
        Some(b) => Ok(Some(Path::new(OsStr::from_bytes(b)))),
    }
}
