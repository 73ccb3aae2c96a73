//! The state file (PROTOCOL.md "Surviving restarts"): at start-up, what it holds decides where
//! the run resumes (or why it cannot, exit 2); during the run, each record the core outputs is
//! written in place into the slot that does not hold the newest one (the layout is
//! `lockstep_proto::record`'s), with an fsync after each when `state_sync` is on. A new file,
//! or one overwritten by `--fresh` or after a finished run, is written whole beside it and
//! renamed over it. The file is locked (`flock`) while the conductor runs, so that a second
//! conductor given the same file refuses to start.
//!
//! A write that fails during the run is logged once per kind of error (and again once it
//! works), is shown in the status files, and the rounds go on.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use lockstep_proto::record::{self, Record, StateError};
use lockstep_proto::round::RoundConfig;

use super::write_atomically;

/// Where a run starts, as the state file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// At step 0: the file was made, or overwritten (`--fresh`, or after a finished run, or a
    /// file that was created and never written).
    Fresh {
        /// The file held a run that had reached its planned end.
        after_finished: bool,
    },
    /// Resuming the run the file recorded: the wave of `record` is sent again first.
    Resume {
        /// The record resumed from.
        record: Record,
    },
}

/// Why the state file cannot be used: exit 2.
#[derive(Debug)]
pub struct OpenError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "state file {}: {}; --fresh starts at step 0 and overwrites it",
            self.path.display(),
            self.problem
        )
    }
}

impl std::error::Error for OpenError {}

/// The open state file.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    file: File,
    /// The sequence number of the newest record in the file.
    seq: u64,
    sync: bool,
    /// The last write's error, as shown in the status files; `None` while writes work.
    error: Option<String>,
    /// The kinds of error logged so far (each is logged once).
    logged: Vec<io::ErrorKind>,
}

impl StateFile {
    /// Opens the state file at `path` for a run shaped by `rounds`: reads where to resume, or
    /// makes the file anew (always with `fresh`). `sync` adds an fsync after each record.
    pub fn open(
        path: &Path,
        rounds: &RoundConfig,
        fresh: bool,
        sync: bool,
    ) -> Result<(StateFile, Start), OpenError> {
        let fail = |problem: String| OpenError {
            path: path.to_path_buf(),
            problem,
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.is_file() => {
                return Err(fail("is not a regular file".to_string()));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(format!("cannot look at it: {e}"))),
        }
        // Refuse another conductor's file before reading or replacing it.
        match open_existing(path) {
            Ok(file) => lock(&file).map_err(fail)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(format!("cannot open it: {e}"))),
        }
        let found = if fresh {
            None
        } else {
            match std::fs::read(path) {
                Ok(bytes) => record::read(&bytes).map_err(|e| fail(e.to_string()))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(fail(format!("cannot read it: {e}"))),
            }
        };
        let (start, seq) = match found {
            Some((record, seq)) => match record
                .resume_point(rounds)
                .map_err(|e: StateError| fail(e.to_string()))?
            {
                Some(_) => (Start::Resume { record }, seq),
                None => (
                    Start::Fresh {
                        after_finished: record.finished,
                    },
                    0,
                ),
            },
            None => (
                Start::Fresh {
                    after_finished: false,
                },
                0,
            ),
        };
        if let Start::Fresh { .. } = start {
            write_atomically(path, &Record::start(rounds).new_file())
                .map_err(|e| fail(format!("cannot write it: {e}")))?;
        }
        let file = open_existing(path).map_err(|e| fail(format!("cannot open it: {e}")))?;
        lock(&file).map_err(fail)?;
        if sync {
            file.sync_all()
                .map_err(|e| fail(format!("cannot sync it: {e}")))?;
            sync_directory(path).map_err(|e| fail(format!("cannot sync its directory: {e}")))?;
        }
        let state = StateFile {
            path: path.to_path_buf(),
            file,
            seq,
            sync,
            error: None,
            logged: Vec::new(),
        };
        Ok((state, start))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `record` into the slot that does not hold the newest record, then syncs it if
    /// `state_sync` is on. A failure is logged once per kind and kept for the status files.
    pub fn write(&mut self, record: &Record) {
        let seq = self.seq + 1;
        let slot = record.encode(seq);
        let offset = Record::offset(seq) as u64;
        let written = self.file.write_all_at(&slot, offset).and_then(|()| {
            if self.sync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match written {
            Ok(()) => {
                self.seq = seq;
                if self.error.take().is_some() {
                    log::info!("state file {}: written again", self.path.display());
                }
            }
            Err(e) => self.failed("cannot record the state", &e),
        }
    }

    /// Syncs the file, whatever `state_sync` says: on the way out, so that the last record
    /// (the finished run, or the state a restart leaves) outlives the machine too.
    pub fn sync(&mut self) {
        if let Err(e) = self.file.sync_data() {
            self.failed("cannot sync", &e);
        }
    }

    /// The last write's error, while writes fail.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn failed(&mut self, what: &str, error: &io::Error) {
        let text = format!("{what} in {}: {error}", self.path.display());
        if !self.logged.contains(&error.kind()) {
            self.logged.push(error.kind());
            log::warn!("{text}; rounds go on (logged once for this kind of error)");
        }
        self.error = Some(text);
    }
}

/// Opens an existing state file for reading and writing in place, without following a link
/// at its name.
fn open_existing(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Takes the advisory lock on the open file, or says who holds it.
fn lock(file: &File) -> Result<(), String> {
    // SAFETY: flock on a descriptor this function's caller owns; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    if error.kind() == io::ErrorKind::WouldBlock {
        Err("another conductor is using it".to_string())
    } else {
        Err(format!("cannot lock it: {error}"))
    }
}

/// Syncs the directory holding `path`, so that a rename into it is durable.
fn sync_directory(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_proto::time::Duration;

    fn rounds(rounds: u64, step_wrap: u64) -> RoundConfig {
        RoundConfig {
            rounds,
            step_wrap,
            slow_round: Duration::ZERO,
            ..RoundConfig::default()
        }
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lockstep-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    }

    fn wave(n: u64, r: &RoundConfig) -> Record {
        Record {
            step: Record::step_of_wave(n, r.step_wrap),
            waves_sent: n,
            ..Record::start(r)
        }
    }

    #[test]
    fn records_written_in_place_are_resumed_from() {
        let dir = scratch("resume");
        let path = dir.join("state");
        let r = rounds(10, 4);
        let (mut state, start) = StateFile::open(&path, &r, false, true).expect("new file");
        assert_eq!(
            start,
            Start::Fresh {
                after_finished: false
            }
        );
        for n in 1..=6 {
            state.write(&wave(n, &r));
        }
        assert_eq!(state.error(), None);
        drop(state);
        let (mut state, start) = StateFile::open(&path, &r, false, false).expect("resumes");
        assert_eq!(
            start,
            Start::Resume {
                record: wave(6, &r)
            }
        );
        // Writes go on from the newest slot: the record after is read back.
        state.write(&wave(7, &r));
        state.write(&Record {
            finished: true,
            ..wave(10, &r)
        });
        drop(state);
        let (_, start) = StateFile::open(&path, &r, false, false).expect("finished");
        assert_eq!(
            start,
            Start::Fresh {
                after_finished: true
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_in_use_or_of_another_run_is_refused_and_fresh_overwrites() {
        let dir = scratch("refuse");
        let path = dir.join("state");
        let r = rounds(0, 1 << 32);
        let (mut state, _) = StateFile::open(&path, &r, false, false).expect("new file");
        state.write(&wave(3, &r));
        let busy = StateFile::open(&path, &r, false, false).unwrap_err();
        assert!(
            busy.to_string().ends_with(
                "state: another conductor is using it; --fresh starts at step 0 and overwrites it"
            ),
            "{busy}"
        );
        drop(state);
        let other = StateFile::open(&path, &rounds(0, 7), false, false).unwrap_err();
        assert!(other.problem.contains("step_wrap"), "{other}");
        let (_, start) = StateFile::open(&path, &rounds(0, 7), true, false).expect("--fresh");
        assert_eq!(
            start,
            Start::Fresh {
                after_finished: false
            }
        );
        std::fs::write(&path, b"hello").unwrap();
        let stranger = StateFile::open(&path, &r, false, false).unwrap_err();
        assert_eq!(stranger.problem, "not a Lockstep state file");
        let device = StateFile::open(Path::new("/dev/null"), &r, false, false).unwrap_err();
        assert_eq!(device.problem, "is not a regular file");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failing_write_is_kept_for_the_status_and_rounds_go_on() {
        let dir = scratch("failing");
        let path = dir.join("state");
        let r = rounds(0, 1 << 32);
        let (state, _) = StateFile::open(&path, &r, false, false).expect("new file");
        // The same file, open for reading only: every write fails.
        let mut state = StateFile {
            file: File::open(&path).unwrap(),
            ..state
        };
        state.write(&wave(1, &r));
        let error = state.error().expect("the failure is kept").to_string();
        assert!(
            error.starts_with(&format!("cannot record the state in {}: ", path.display())),
            "{error}"
        );
        state.write(&wave(2, &r));
        assert_eq!(state.logged.len(), 1, "one kind of error, logged once");
        assert_eq!(state.seq, 0, "nothing was written");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
