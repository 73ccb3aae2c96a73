//! Moving bytes between a socket and a sans-IO `rustls` connection, for the event loops that
//! own the socket (the participant's link, the conductor's driver, the load generator): feed
//! what the socket gave and collect the plaintext it carried, and write the records `rustls`
//! has queued as far as the socket takes them. Never blocks: the socket may be non-blocking.

use std::io::{self, Read, Write};

use rustls::Connection;

/// The first byte of every TLS record of a handshake: the content type `handshake` (0x16).
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// What a client says when the first byte it heard from the conductor does not open a TLS
/// handshake record: the conductor speaks the plain protocol (its hello `A`, or a refusal
/// `R`) and not TLS. `None` for a byte that opens a handshake record.
pub fn not_tls(first: u8) -> Option<String> {
    if first == HANDSHAKE_RECORD {
        return None;
    }
    let what = match first {
        b'A' => "its plaintext hello".to_string(),
        b'R' => "a plaintext refusal".to_string(),
        other => format!(
            "plaintext starting with {}",
            lockstep_proto::wire::ShowByte(other)
        ),
    };
    Some(format!(
        "the conductor does not speak TLS: it answered the TLS handshake with {what}"
    ))
}

/// What feeding bytes to a connection did, besides the plaintext.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fed {
    /// The peer closed the TLS session cleanly (`close_notify`).
    pub closed: bool,
}

/// Feeds `raw`, bytes read from the socket, to `conn` and appends the plaintext they carried
/// to `plain`. An error is fatal for the session: the alert `rustls` queued for it is still
/// to be written with [`send`].
pub fn receive(
    conn: &mut Connection,
    mut raw: &[u8],
    plain: &mut Vec<u8>,
) -> Result<Fed, rustls::Error> {
    let mut fed = Fed::default();
    while !raw.is_empty() {
        // From a slice this fails only when `rustls` holds more than it accepts, which
        // draining its plaintext after every record below prevents.
        let n = conn
            .read_tls(&mut raw)
            .map_err(|e| rustls::Error::General(format!("cannot take the bytes read: {e}")))?;
        let state = conn.process_new_packets()?;
        let ready = state.plaintext_bytes_to_read();
        if ready > 0 {
            let at = plain.len();
            plain.resize(at + ready, 0);
            let got = conn.reader().read(&mut plain[at..]).unwrap_or(0);
            plain.truncate(at + got);
        }
        fed.closed |= state.peer_has_closed();
        if n == 0 {
            break;
        }
    }
    Ok(fed)
}

/// Writes the records `conn` has queued to `socket` until none is left (`Ok(true)`) or the
/// socket takes no more for now (`Ok(false)`).
pub fn send(conn: &mut Connection, socket: &mut impl Write) -> io::Result<bool> {
    while conn.wants_write() {
        match conn.write_tls(socket) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
