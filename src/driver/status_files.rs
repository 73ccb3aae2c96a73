//! Writing the status files atomically (SPEC §8): render, write a temporary file beside the
//! target, rename it over the target. A failure is reported to the caller, never fatal.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::status::Status;

/// The two status file paths; either may be switched off.
#[derive(Clone, Debug, Default)]
pub struct StatusFiles {
    /// Where `status.json` goes.
    pub json: Option<PathBuf>,
    /// Where `status.txt` goes.
    pub txt: Option<PathBuf>,
}

impl StatusFiles {
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
/// part of either.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(contents))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("lockstep-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("status.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
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
