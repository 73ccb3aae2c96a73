//! The control socket's file: created for the owner alone, a stale one replaced, one a live
//! conductor answers on refused, and removed on the way out (only while it is still the file
//! this process made). Also who is at the other end of a connection (`SO_PEERCRED`).
//!
//! A socket file is created with the permissions the umask leaves, so the umask is set to
//! `0177` around the `bind` (the process has no other thread then) and the mode is set to
//! `0600` again after it. A file at the path that is a socket is connected to first: if
//! nobody answers (`ECONNREFUSED`, a conductor that was killed left it), it is removed and
//! replaced; if someone does, the start is refused. Anything else at the path is never
//! removed.

use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The bound socket's file, removed on drop if it is still the one bound.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    /// What tells the file this process made from another made at the path since (which may
    /// reuse its inode): device, inode and change time.
    id: FileId,
}

type FileId = (u64, u64, i64, i64);

fn file_id(meta: &std::fs::Metadata) -> FileId {
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
}

impl SocketFile {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.file_type().is_socket() && file_id(&m) == self.id);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Why the socket could not be made.
#[derive(Debug)]
pub enum BindError {
    /// A conductor answers on it.
    InUse(PathBuf),
    /// Something that is not a socket is at the path.
    NotASocket(PathBuf),
    /// The system refused (a missing directory, permissions, a path too long).
    Io(PathBuf, io::Error),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::InUse(path) => write!(
                f,
                "{} is in use: another conductor answers on it; stop it, or give this one \
                 another control socket (--control PATH, or \"\" for none)",
                path.display()
            ),
            BindError::NotASocket(path) => write!(
                f,
                "{} exists and is not a socket, so it is left alone; remove it, or give \
                 another control socket (--control PATH)",
                path.display()
            ),
            BindError::Io(path, e) => write!(f, "cannot create {}: {e}", path.display()),
        }
    }
}

/// Creates the socket at `path` for the owner alone, replacing a stale one. Call it while the
/// process has no other thread (it sets the umask for a moment).
pub fn bind(path: &Path) -> Result<(UnixListener, SocketFile), BindError> {
    let io = |e| BindError::Io(path.to_path_buf(), e);
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(BindError::NotASocket(path.to_path_buf()));
        }
        match UnixStream::connect(path) {
            Ok(_) => return Err(BindError::InUse(path.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).or_else(|e| match e.kind() {
                    io::ErrorKind::NotFound => Ok(()),
                    _ => Err(io(e)),
                })?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
    // SAFETY: umask only changes this process's file creation mask; no other thread runs.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above, putting the mask back.
    unsafe { libc::umask(old) };
    let listener = bound.map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    let file = SocketFile {
        path: path.to_path_buf(),
        id: file_id(&meta),
    };
    Ok((listener, file))
}

/// Who is at the other end of a local connection, as the kernel saw it connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its user id.
    pub uid: u32,
    /// Its process id.
    pub pid: i32,
}

impl Peer {
    /// The credentials of `stream`'s peer (`SO_PEERCRED`), if the system tells.
    pub fn of(stream: &impl AsRawFd) -> Option<Peer> {
        let mut cred = libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: the descriptor is open; `cred` and `len` describe a buffer of that size.
        let rc = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&mut cred as *mut libc::ucred).cast(),
                &mut len,
            )
        };
        (rc == 0).then_some(Peer {
            uid: cred.uid,
            pid: cred.pid,
        })
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid {}, pid {}", self.uid, self.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lockstep-ctl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_socket_is_the_owners_alone_and_goes_on_drop() {
        let dir = scratch("mode");
        let path = dir.join("c.sock");
        let (listener, file) = bind(&path).unwrap();
        let mode = std::fs::symlink_metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
        let client = UnixStream::connect(&path).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert_eq!(
            Peer::of(&server),
            Some(Peer {
                uid: unsafe { libc::getuid() },
                pid: std::process::id() as i32
            })
        );
        drop((client, server));
        assert_eq!(file.path(), path);
        drop(file);
        assert!(!path.exists(), "removed on drop");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stale_socket_is_replaced_a_live_one_refused_and_anything_else_left_alone() {
        let dir = scratch("stale");
        let path = dir.join("c.sock");
        // A socket nobody listens on any more: what a killed conductor leaves.
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let (live, file) = bind(&path).expect("a stale socket is replaced");
        let again = bind(&path).unwrap_err();
        assert!(matches!(again, BindError::InUse(_)), "{again}");
        assert!(again
            .to_string()
            .contains("is in use: another conductor answers on it"));
        drop((live, file));
        std::fs::write(&path, "precious").unwrap();
        let err = bind(&path).unwrap_err();
        assert!(matches!(err, BindError::NotASocket(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        let missing = bind(&dir.join("no/such/dir/c.sock")).unwrap_err();
        assert!(
            missing.to_string().starts_with("cannot create "),
            "{missing}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_socket_replaced_by_someone_else_is_not_removed() {
        let dir = scratch("replaced");
        let path = dir.join("c.sock");
        let (listener, file) = bind(&path).unwrap();
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "someone else's").unwrap();
        drop(file);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "someone else's");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
