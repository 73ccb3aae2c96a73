//! The baseline for `conductor bench`: the least a barrier server speaking Lockstep's bytes
//! can do. It accepts, sends its hello, counts hellos and Dones, and sends Go to everybody
//! once N hellos are in and again each time N Dones are in. No state machines, no timers, no
//! logging, no checks: one mio loop on one thread. It exits once every client has gone.
//!
//! ```text
//! cargo run --release --example raw_barrier -- --clients N [--port P]
//! ```
//! It prints `listening on ADDR` first, like the conductor, so `conductor bench --baseline`
//! can start it and `conductor bench --addr` can drive it.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::{self, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

const LISTENER: Token = Token(usize::MAX);
/// The server's hello: type, version, 12-byte id.
const HELLO: &[u8; 14] = b"A1raw-barrier ";

struct Peer {
    stream: TcpStream,
    /// Bytes of the client's hello still to come.
    hello_left: usize,
    /// Bytes the socket did not take yet.
    out: Vec<u8>,
}

fn main() -> io::Result<()> {
    let mut args = pico_args::Arguments::from_env();
    let clients: usize = args
        .value_from_str("--clients")
        .map_err(|e| io::Error::other(e.to_string()))?;
    let port: u16 = args
        .opt_value_from_str("--port")
        .map_err(|e| io::Error::other(e.to_string()))?
        .unwrap_or(0);
    let std_listener = lockstep_conductor::driver::bind("127.0.0.1", port)?;
    let mut listener = TcpListener::from_std(std_listener);
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;

    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut peers: Slab<Peer> = Slab::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let (mut hellos, mut dones, mut step, mut started) = (0usize, 0usize, 0u32, false);
    loop {
        poll.poll(&mut events, None).or_else(|e| match e.kind() {
            io::ErrorKind::Interrupted => Ok(()),
            _ => Err(e),
        })?;
        for event in events.iter() {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    stream.set_nodelay(true)?;
                    let entry = peers.vacant_entry();
                    poll.registry().register(
                        &mut stream,
                        Token(entry.key()),
                        Interest::READABLE,
                    )?;
                    let mut peer = Peer {
                        stream,
                        hello_left: HELLO.len(),
                        out: Vec::new(),
                    };
                    send(&poll, entry.key(), &mut peer, HELLO)?;
                    entry.insert(peer);
                }
                continue;
            }
            let key = event.token().0;
            let Some(peer) = peers.get_mut(key) else {
                continue;
            };
            if event.is_writable() && !peer.out.is_empty() {
                let out = std::mem::take(&mut peer.out);
                send(&poll, key, peer, &out)?;
            }
            let mut gone = false;
            loop {
                match peer.stream.read(&mut buffer) {
                    Ok(0) => gone = true,
                    Ok(n) => {
                        for &byte in &buffer[..n] {
                            if peer.hello_left > 0 {
                                peer.hello_left -= 1;
                                hellos += usize::from(peer.hello_left == 0);
                            } else if byte == b'!' {
                                dones += 1;
                            }
                        }
                        // A short read drained the socket (the loop is edge-triggered).
                        if n < buffer.len() && !event.is_read_closed() {
                            break;
                        }
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => gone = true,
                }
                break;
            }
            if gone {
                let mut peer = peers.remove(key);
                poll.registry().deregister(&mut peer.stream)?;
                if started && peers.is_empty() {
                    return Ok(());
                }
                continue;
            }
            let go_now = if !started && hellos == clients {
                started = true;
                true
            } else if started && dones == clients {
                dones = 0;
                step = step.wrapping_add(1);
                true
            } else {
                false
            };
            if go_now {
                let mut go = [b'!', 0, 0, 0, 0];
                go[1..].copy_from_slice(&step.to_le_bytes());
                for (key, peer) in peers.iter_mut() {
                    send(&poll, key, peer, &go)?;
                }
            }
        }
    }
}

/// Writes what the socket takes and keeps the rest, watching for writability meanwhile. A
/// failed write leaves the peer to be removed when its read fails.
fn send(poll: &Poll, key: usize, peer: &mut Peer, bytes: &[u8]) -> io::Result<()> {
    let had_out = !peer.out.is_empty();
    let mut written = 0;
    if !had_out {
        while written < bytes.len() {
            match peer.stream.write(&bytes[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
    peer.out.extend_from_slice(&bytes[written..]);
    let wants = !peer.out.is_empty();
    if wants != had_out {
        let interest = if wants {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        poll.registry()
            .reregister(&mut peer.stream, Token(key), interest)?;
    }
    Ok(())
}
