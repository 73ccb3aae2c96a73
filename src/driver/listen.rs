//! Binding the listening socket: resolves the host, sets address reuse and a listen backlog
//! large enough for thousands of clients connecting at once (std's default of 128 drops such a
//! burst and makes clients retry a second later).

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

/// The listen backlog asked for; the kernel caps it at `net.core.somaxconn`.
pub const BACKLOG: i32 = 8192;

/// Binds `host:port` (port 0 picks a free one) and starts listening.
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    let addr: SocketAddr = (host, port)
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve host {host:?}: {e}")))?
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("host {host:?} has no address"),
            )
        })?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
