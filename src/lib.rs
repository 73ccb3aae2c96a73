//! Lockstep (placeholder docs, rewritten below)
pub mod conn;
pub mod round;
pub mod time;
pub mod wire;
