//! Finding `conductor join`'s command before it connects, the way `execvp` looks for it when
//! each step runs it: a name with a slash is a path; any other name is looked up in each
//! directory of `PATH` in turn (an empty entry is the current directory; without `PATH`,
//! `/bin:/usr/bin`). The first regular file found that this process may execute is the one; a
//! typo is then reported at once, not at the first Go when the run is already held up.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The search path `execvp` uses when `PATH` is not set.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Why the command cannot be run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unrunnable {
    /// Nothing by that name (127, as the shell says).
    NotFound,
    /// Something by that name, but no regular file this process may execute (126).
    NotExecutable(PathBuf),
}

impl Unrunnable {
    /// The exit code a shell gives for it.
    pub fn exit_code(&self) -> i32 {
        match self {
            Unrunnable::NotFound => 127,
            Unrunnable::NotExecutable(_) => 126,
        }
    }

    /// What is wrong, for `cannot run command <program>: <what>`.
    pub fn describe(&self, program: &OsStr) -> String {
        match self {
            Unrunnable::NotFound if has_slash(program) => "no such file".to_string(),
            Unrunnable::NotFound => "not found in PATH".to_string(),
            Unrunnable::NotExecutable(path) => {
                format!("{} is not an executable file", path.display())
            }
        }
    }
}

/// Where `program` will be run from, looked up in `search_path` (`PATH`'s value, if set).
pub fn find(program: &OsStr, search_path: Option<&OsStr>) -> Result<PathBuf, Unrunnable> {
    if program.is_empty() {
        return Err(Unrunnable::NotFound);
    }
    if has_slash(program) {
        let path = Path::new(program);
        return match runnable(path) {
            Some(true) => Ok(path.to_path_buf()),
            Some(false) => Err(Unrunnable::NotExecutable(path.to_path_buf())),
            None => Err(Unrunnable::NotFound),
        };
    }
    let search_path = search_path.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut not_executable = None;
    for dir in search_path.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(program);
        match runnable(&candidate) {
            Some(true) => return Ok(candidate),
            Some(false) => {
                not_executable.get_or_insert(candidate);
            }
            None => {}
        }
    }
    Err(not_executable.map_or(Unrunnable::NotFound, Unrunnable::NotExecutable))
}

fn has_slash(program: &OsStr) -> bool {
    program.as_bytes().contains(&b'/')
}

/// Whether `path` is a regular file this process may execute (`None`: nothing is there).
fn runnable(path: &Path) -> Option<bool> {
    let meta = std::fs::metadata(path).ok()?;
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return Some(false);
    };
    // SAFETY: access only reads the NUL-terminated path, which lives for the call.
    let executable = unsafe { libc::access(c_path.as_ptr(), libc::X_OK) } == 0;
    Some(meta.is_file() && executable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lockstep-find-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn file(path: &Path, mode: u32) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn names_are_looked_up_in_path_in_order() {
        let dir = scratch("path");
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        file(&a.join("step"), 0o644);
        file(&b.join("step"), 0o755);
        let path = format!("{}::{}", a.display(), b.display());
        assert_eq!(
            find(OsStr::new("step"), Some(OsStr::new(&path))),
            Ok(b.join("step"))
        );
        // Only a file that cannot be executed: 126, naming it.
        let only_a = a.display().to_string();
        let err = find(OsStr::new("step"), Some(OsStr::new(&only_a))).unwrap_err();
        assert_eq!(err, Unrunnable::NotExecutable(a.join("step")));
        assert_eq!(err.exit_code(), 126);
        let err = find(OsStr::new("nothing-here"), Some(OsStr::new(&path))).unwrap_err();
        assert_eq!(
            (err.exit_code(), err.describe(OsStr::new("x"))),
            (127, "not found in PATH".to_string())
        );
        // Without PATH, the system's directories.
        assert!(find(OsStr::new("sh"), None).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_name_with_a_slash_is_a_path() {
        let dir = scratch("slash");
        let script = dir.join("step.sh");
        file(&script, 0o755);
        assert_eq!(
            find(script.as_os_str(), Some(OsStr::new(""))),
            Ok(script.clone())
        );
        let missing = dir.join("stpe.sh");
        let err = find(missing.as_os_str(), None).unwrap_err();
        assert_eq!(err, Unrunnable::NotFound);
        assert_eq!(err.describe(missing.as_os_str()), "no such file");
        // A directory is not a command.
        assert_eq!(
            find(dir.as_os_str(), None),
            Err(Unrunnable::NotExecutable(dir.clone()))
        );
        assert_eq!(find(OsStr::new(""), None), Err(Unrunnable::NotFound));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
