//! Programs in C, C++ and Fortran against liblockstep, for the tests of the C API and its
//! examples: builds the library (and the Rust examples) once per test binary (`cargo build
//! --lib --tests --examples`, with the tests' own profile and target directory, so that
//! nothing but the library is rebuilt), then compiles sources with the system's `cc`, `c++`
//! and `gfortran`.
//!
//! A missing compiler skips the test, saying so, except under CI (`CI=true`), where `.ci/run`
//! installs them and a missing one fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::TempDir;

/// The checkout's top directory.
pub fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory of `lockstep.h` and `lockstep.hpp`.
pub fn include_dir() -> PathBuf {
    top().join("include")
}

/// The beginnings of the variables cargo sets for a test's run.
const FOR_THE_TEST: &[&str] = &[
    "CARGO_MANIFEST_",
    "CARGO_PKG_",
    "CARGO_CRATE_",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "OUT_DIR",
];

/// The directory holding `liblockstep.so` and `liblockstep.a` (and `examples/`), built for
/// this run: the profile directory this test runs from (`target/debug`, `target/release`).
pub fn library_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test's own path");
        // target/<profile>/deps/<test>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from target/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("a target directory");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some(name) => name,
            None => panic!("no profile in {}", profile_dir.display()),
        };
        // The same targets as `cargo test` (tests and examples included), so that
        // dependencies are resolved with the same features and only the library is built.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        // What cargo sets for this test's run describes this package, not the build's
        // settings; build scripts that watch such a variable would run again (and what
        // depends on them be rebuilt) if they saw it.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if FOR_THE_TEST.iter().any(|prefix| name.starts_with(prefix)) {
                command.env_remove(&*name);
            }
        }
        let output = command
            .current_dir(top())
            .args([
                "build",
                "--lib",
                "--tests",
                "--profile",
                profile,
                "--target-dir",
            ])
            .arg(target_dir)
            .stdin(Stdio::null())
            .output()
            .expect("run cargo to build liblockstep");
        assert!(
            output.status.success(),
            "building liblockstep failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for name in ["liblockstep.so", "liblockstep.a"] {
            assert!(
                profile_dir.join(name).is_file(),
                "no {name} in {}",
                profile_dir.display()
            );
        }
        profile_dir
    })
}

/// A compiler the tests use.
#[derive(Clone, Copy, Debug)]
pub enum Compiler {
    /// `cc`, for C.
    C,
    /// `c++`, for C++ 17.
    Cxx,
    /// `gfortran`, with OpenMP.
    Fortran,
}

impl Compiler {
    fn program(self) -> &'static str {
        match self {
            Compiler::C => "cc",
            Compiler::Cxx => "c++",
            Compiler::Fortran => "gfortran",
        }
    }

    /// The compiler's command, or `None` (after saying so) when it is missing outside CI.
    pub fn command(self) -> Option<Command> {
        let program = self.program();
        let found = Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "{program} is required under CI: .ci/run installs it (Debian: gcc, g++, gfortran)"
            );
            eprintln!("skipped: {program} is not installed (.ci/run installs it under CI)");
            return None;
        }
        Some(Command::new(program))
    }
}

/// How a program links liblockstep.
#[derive(Clone, Copy, Debug)]
pub enum Link {
    /// `-L DIR -llockstep` with an rpath, against `liblockstep.so`.
    Shared,
    /// `liblockstep.a` and the system libraries it needs.
    Static,
}

/// Compiles `sources` (relative to the checkout) with `compiler` into an executable named
/// `name` in `dir`, linked to liblockstep as `link` says; `None` when the compiler is missing.
/// The C and C++ ones are compiled with warnings as errors.
pub fn compile(
    compiler: Compiler,
    sources: &[&str],
    link: Link,
    dir: &TempDir,
    name: &str,
) -> Option<PathBuf> {
    let mut command = compiler.command()?;
    let lib = library_dir();
    let out = dir.path(name);
    match compiler {
        Compiler::C => {
            command.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread"]);
        }
        Compiler::Cxx => {
            command.args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pthread"]);
        }
        Compiler::Fortran => {
            // The module's .mod file goes beside the executable.
            command.args(["-Wall", "-fopenmp", "-J"]).arg(&dir.0);
        }
    }
    command.arg("-I").arg(include_dir());
    for source in sources {
        command.arg(top().join(source));
    }
    command.arg("-o").arg(&out);
    match link {
        Link::Shared => {
            command
                .arg("-L")
                .arg(lib)
                .arg("-llockstep")
                .arg(format!("-Wl,-rpath,{}", lib.display()));
        }
        Link::Static => {
            command
                .arg(lib.join("liblockstep.a"))
                .args(["-lpthread", "-ldl", "-lm"]);
        }
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(out)
}
