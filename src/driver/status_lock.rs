//! Keeping two conductors off one status file. Status files are replaced by a rename at every
//! write, so a lock on the file itself would be left behind on the old file at once: each
//! status file `<path>` is guarded instead by an advisory lock (`flock`) on `<path>.lock`
//! beside it, which holds the pid of the conductor that holds it. A conductor that finds the
//! lock held refuses to start; the lock goes with the process that holds it, however it ends
//! (the kernel releases the locks of a killed process), and a normal end removes the file.
//!
//! Removing a lock file races with a process that has opened it but not yet locked it; so a
//! lock counts only once the file it was taken on is still the one at the path (same device
//! and inode), and the file is removed only by its holder, and only while it is the one at
//! the path.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Times a lock file that disappeared under us is opened again before giving up.
const ATTEMPTS: usize = 8;

/// The locks of a conductor's status files, held until dropped.
#[derive(Debug, Default)]
pub struct StatusLock {
    held: Vec<(PathBuf, File)>,
    problems: Vec<String>,
}

impl StatusLock {
    /// Locks each path's lock file. A lock another process holds is an error; a lock file that
    /// cannot be made or locked at all (a missing directory, say) is a problem to report, and
    /// that status file goes unguarded.
    pub fn take<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<StatusLock, InUse> {
        let mut lock = StatusLock::default();
        for status in paths {
            let path = lock_path(status);
            match take_one(&path) {
                Ok(file) => lock.held.push((path, file)),
                Err(Failure::InUse(pid)) => {
                    return Err(InUse {
                        status: status.to_path_buf(),
                        lock: path,
                        pid,
                    })
                }
                Err(Failure::Io(e)) => lock.problems.push(format!(
                    "cannot lock {} ({}: {e}): another conductor could write the same file",
                    status.display(),
                    path.display()
                )),
            }
        }
        Ok(lock)
    }

    /// What kept a status file from being locked, one message each.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl Drop for StatusLock {
    fn drop(&mut self) {
        for (path, file) in &self.held {
            if same_file(file, path) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Another process holds the lock of a status file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InUse {
    /// The status file.
    pub status: PathBuf,
    /// Its lock file.
    pub lock: PathBuf,
    /// The holder's pid, as it wrote it in the lock file.
    pub pid: Option<u32>,
}

impl fmt::Display for InUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let holder = match self.pid {
            Some(pid) => format!("another conductor (pid {pid})"),
            None => "another conductor".to_string(),
        };
        write!(
            f,
            "{} is in use: {holder} holds {}; stop it, or give this one other status files \
             (--status-json, --status-txt)",
            self.status.display(),
            self.lock.display()
        )
    }
}

/// `<status>.lock`.
fn lock_path(status: &Path) -> PathBuf {
    let mut path = status.as_os_str().to_os_string();
    path.push(".lock");
    PathBuf::from(path)
}

enum Failure {
    InUse(Option<u32>),
    Io(io::Error),
}

/// Opens (or creates) the lock file at `path`, locks it and writes this process's pid in it.
fn take_one(path: &Path) -> Result<File, Failure> {
    for _ in 0..ATTEMPTS {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(Failure::Io)?;
        if !file.metadata().map_err(Failure::Io)?.is_file() {
            return Err(Failure::Io(io::Error::other("not a regular file")));
        }
        // SAFETY: flock only acts on the descriptor, which `file` keeps open for the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(Failure::InUse(text.trim().parse().ok()));
            }
            return Err(Failure::Io(error));
        }
        // The holder before us may have removed the file between our open and our lock.
        if !same_file(&file, path) {
            continue;
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(Failure::Io)?;
        return Ok(file);
    }
    Err(Failure::Io(io::Error::other(
        "it kept being removed and made again",
    )))
}

/// Whether `file` is the file at `path` now (links not followed).
fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(open), Ok(there)) => open.dev() == there.dev() && open.ino() == there.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lockstep-lock-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_second_lock_on_a_file_is_refused_with_the_holders_pid() {
        let dir = scratch("twice");
        let json = dir.join("status.json");
        let txt = dir.join("status.txt");
        let first = StatusLock::take([json.as_path(), txt.as_path()]).unwrap();
        assert!(first.problems().is_empty());
        let lock = dir.join("status.json.lock");
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap(),
            format!("{}\n", std::process::id())
        );
        // flock locks belong to open files: a second open in this process conflicts too.
        let in_use =
            StatusLock::take([dir.join("other.json").as_path(), txt.as_path()]).unwrap_err();
        assert_eq!(in_use.status, txt);
        assert_eq!(in_use.lock, dir.join("status.txt.lock"));
        assert_eq!(in_use.pid, Some(std::process::id()));
        assert!(
            in_use.to_string().starts_with(&format!(
                "{} is in use: another conductor (pid {}) holds {}",
                txt.display(),
                std::process::id(),
                in_use.lock.display()
            )),
            "{in_use}"
        );
        // The refused attempt let go of what it had taken.
        assert!(!dir.join("other.json.lock").exists());
        drop(first);
        assert!(!lock.exists(), "removed on release");
        let again = StatusLock::take([json.as_path()]).unwrap();
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_lock_file_that_cannot_be_made_is_a_problem_not_an_error() {
        let lock = StatusLock::take([Path::new("/nonexistent/lockstep/status.json")]).unwrap();
        assert_eq!(lock.problems().len(), 1);
        assert!(
            lock.problems()[0].starts_with(
                "cannot lock /nonexistent/lockstep/status.json \
                 (/nonexistent/lockstep/status.json.lock: "
            ),
            "{:?}",
            lock.problems()
        );
        // A link or a FIFO planted at the lock file's name is neither followed nor used.
        let dir = scratch("planted");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("a.json.lock")).unwrap();
        let fifo = std::ffi::CString::new(dir.join("b.json.lock").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo only reads the NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let lock =
            StatusLock::take([dir.join("a.json").as_path(), dir.join("b.json").as_path()]).unwrap();
        assert_eq!(lock.problems().len(), 2, "{:?}", lock.problems());
        assert!(lock.problems()[1].ends_with(
            "b.json.lock: not a regular file): another conductor could write the same file"
        ));
        drop(lock);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_lock_file_replaced_by_another_is_left_alone() {
        let dir = scratch("replaced");
        let json = dir.join("status.json");
        let lock = StatusLock::take([json.as_path()]).unwrap();
        // Someone moves the file away and puts another in its place.
        let path = dir.join("status.json.lock");
        std::fs::rename(&path, dir.join("moved")).unwrap();
        std::fs::write(&path, "someone else's\n").unwrap();
        drop(lock);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "someone else's\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
