//! Writing the status files atomically and safely (PROTOCOL.md "Status files"): render, write a
//! temporary file beside the target, rename it over the target. A failure is reported to the
//! caller, never fatal.
//!
//! The status directory may be writable by others, so the temporary file is created the way
//! `mkstemp` does: a fresh name with an unpredictable suffix, created exclusively (`O_EXCL`,
//! which also refuses any existing link at that name) and without following links
//! (`O_NOFOLLOW`), and a new name is drawn when one is taken. A link planted at any name the
//! writer may use is never written through. At start-up, [`StatusFiles::check`] refuses a
//! status path that exists and is not a regular file (a device, a directory, a FIFO, a socket,
//! or a link to one), which the rename would otherwise replace.

use std::collections::hash_map::RandomState;
use std::fs::OpenOptions;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::status::{Render, Status};

/// Names drawn for the temporary file before a write gives up.
const NAME_ATTEMPTS: usize = 16;

/// The two status file paths; either may be switched off.
#[derive(Clone, Debug, Default)]
pub struct StatusFiles {
    /// Where `status.json` goes.
    pub json: Option<PathBuf>,
    /// Where `status.txt` goes.
    pub txt: Option<PathBuf>,
}

impl StatusFiles {
    /// Refuses a path that exists and is not a regular file (links followed): the key
    /// (`status_json` or `status_txt`) and what the path is. A missing file is fine, and so
    /// is one that cannot be looked at: the writes will report it.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (key, path) in [("status_json", &self.json), ("status_txt", &self.txt)] {
            let Some(path) = path else { continue };
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            let kind = meta.file_type();
            let what = if kind.is_file() {
                continue;
            } else if kind.is_dir() {
                "a directory"
            } else if kind.is_char_device() {
                "a character device"
            } else if kind.is_block_device() {
                "a block device"
            } else if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "not a regular file"
            };
            return Err((
                key,
                format!(
                    "{} is {what}, not a regular file; the status file would replace it",
                    path.display()
                ),
            ));
        }
        Ok(())
    }

    /// The paths that are switched on.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.json.iter().chain(&self.txt).map(PathBuf::as_path)
    }

    /// Writes both files; returns a message for each one that failed.
    pub fn write(&self, status: &Status) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(path) = &self.json {
            if let Err(e) = write_atomically(path, status.to_json().as_bytes()) {
                errors.push(format!("cannot write {}: {e}", path.display()));
            }
        }
        if let Some(path) = &self.txt {
            if let Err(e) = write_atomically(path, status.to_text().as_bytes()) {
                errors.push(format!("cannot write {}: {e}", path.display()));
            }
        }
        errors
    }
}

/// Replaces `path` with `contents` so that readers see the old file or the new one, never a
/// part of either. The temporary file beside it has an unpredictable name (see the module
/// docs).
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_with_names(path, contents, unpredictable)
}

/// [`write_atomically`], drawing the temporary file's suffixes from `suffixes`.
fn write_with_names(
    path: &Path,
    contents: &[u8],
    mut suffixes: impl FnMut() -> u64,
) -> io::Result<()> {
    for _ in 0..NAME_ATTEMPTS {
        let tmp = temporary_path(path, suffixes());
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp);
        let mut file = match created {
            Ok(file) => file,
            // Taken, by a file or a link: draw another name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let result = file
            .write_all(contents)
            .and_then(|()| std::fs::rename(&tmp, path));
        if result.is_err() {
            // Removes whatever is at the name now; a link there is removed, not followed.
            let _ = std::fs::remove_file(&tmp);
        }
        return result;
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("the {NAME_ATTEMPTS} temporary names tried beside it were all taken"),
    ))
}

/// `<name>.<suffix as 16 hex digits>.tmp` beside `path`.
fn temporary_path(path: &Path, suffix: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix:016x}.tmp"));
    path.with_file_name(name)
}

/// A suffix nobody else can predict: the time, the process and a counter hashed with std's
/// randomly keyed SipHash (its keys come from the operating system's random source).
fn unpredictable() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lockstep-status-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = scratch("replace");
        let path = dir.join("status.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(names_in(&dir), ["status.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_names_are_fresh_and_unpredictable() {
        let path = Path::new("/x/status.json");
        assert_eq!(
            temporary_path(path, 0xab),
            Path::new("/x/status.json.00000000000000ab.tmp")
        );
        let drawn: std::collections::HashSet<u64> = (0..1000).map(|_| unpredictable()).collect();
        assert_eq!(drawn.len(), 1000);
        assert!(!drawn.contains(&u64::from(std::process::id())));
    }

    #[test]
    fn links_planted_at_the_temporary_names_are_never_written_through() {
        let dir = scratch("links");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let path = dir.join("status.json");
        // The name the writer used to take, and the first two names it will draw now.
        let old_name = dir.join(format!("status.json.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &old_name).unwrap();
        for suffix in [1, 2] {
            std::os::unix::fs::symlink(&victim, temporary_path(&path, suffix)).unwrap();
        }
        // A dangling link too: following it would create the victim.
        let absent = dir.join("absent");
        std::os::unix::fs::symlink(&absent, temporary_path(&path, 3)).unwrap();
        let mut drawn = [1, 2, 3, 4].into_iter();
        write_with_names(&path, b"status", || drawn.next().unwrap()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"status");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!absent.exists());
        assert!(!temporary_path(&path, 4).exists(), "renamed away");

        // With every name taken the write fails, still without touching the victim.
        let err = write_with_names(&path, b"other", || 1).unwrap_err();
        assert!(err.to_string().contains("temporary names"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&path).unwrap(), b"status");

        // And with the real names, the old name's link is left alone.
        write_atomically(&path, b"again").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&path).unwrap(), b"again");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_a_regular_file_or_nothing_may_be_at_a_status_path() {
        let dir = scratch("check");
        let file = dir.join("file");
        std::fs::write(&file, b"").unwrap();
        let link_to_file = dir.join("link-to-file");
        std::os::unix::fs::symlink(&file, &link_to_file).unwrap();
        let files = StatusFiles {
            json: Some(link_to_file),
            txt: Some(dir.join("missing")),
        };
        assert_eq!(files.check(), Ok(()));

        let link_to_dir = dir.join("link-to-dir");
        std::os::unix::fs::symlink(&dir, &link_to_dir).unwrap();
        for (path, what) in [(dir.clone(), "a directory"), (link_to_dir, "a directory")] {
            let files = StatusFiles {
                json: Some(file.clone()),
                txt: Some(path.clone()),
            };
            let (key, problem) = files.check().unwrap_err();
            assert_eq!(key, "status_txt");
            assert_eq!(
                problem,
                format!(
                    "{} is {what}, not a regular file; the status file would replace it",
                    path.display()
                )
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let files = StatusFiles {
            json: Some("/nonexistent/lockstep/s.json".into()),
            txt: None,
        };
        let status: Status = serde_json::from_str(
            r#"{"server_id":"c","address":"a","phase":"waiting","step":null,"waves_sent":0,
                "round_started_ms_ago":null,"clients":[],"waiting_on":[],"last_round_ms":null,
                "last_round_slowest":null,"uptime_ms":0}"#,
        )
        .unwrap();
        let errors = files.write(&status);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("/nonexistent/lockstep/s.json"),
            "{errors:?}"
        );
    }
}
