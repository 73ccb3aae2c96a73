//! A Lockstep participant for C, C++ and Fortran: `liblockstep.so` and `liblockstep.a` over
//! the Rust client (the `lockstep` crate, [`client`]), which does every protocol decision.
//! `include/lockstep.h` at the top of the repository declares what this crate exports; it is
//! generated from this code (see `tests/header.rs`) and says how C uses it: who owns what,
//! which calls may overlap, what each error code means.
//!
//! # Layout
//! | module | owns |
//! |---|---|
//! | [`error`] | the error codes, the thread-local text of the last failure, and the guard every entry point runs in, so that no panic crosses into C |
//! | [`text`] | C strings in: NULL and text that is not printable ASCII are errors |
//! | [`options`] | `lockstep_options`, which can grow without breaking compiled programs |
//! | [`handle`] | `lockstep_client`: connecting, closing, and who holds the connection |
//! | [`event`] | `lockstep_event` and `lockstep_next_event` |
//! | [`calls`] | the answers of a hand-driven loop: `K`, `W`, Done, `X`, `R` |
//! | [`run`] | `lockstep_run`: the whole participant around a step callback |
//!
//! Every exported function catches panics and reports them as [`LOCKSTEP_ERR_INTERNAL`]; a NULL
//! pointer where a value is needed is [`LOCKSTEP_ERR_ARGUMENT`], never a crash.

// The exported names are C's, as lockstep.h spells them.
#![allow(non_camel_case_types)]

// lockstep.h follows this order (each on its own, as rustfmt would sort a block): the codes,
// connecting, the events, the answers, the run.
pub mod error;

pub mod text;

pub mod options;

pub mod handle;

pub mod event;

pub mod calls;

pub mod run;

pub use error::*;
pub use event::*;

use std::ffi::c_char;

/// This library's version, as text (`"0.1.0"`): the workspace's version. The string is static.
#[no_mangle]
pub extern "C" fn lockstep_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests;
