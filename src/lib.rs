//! Lockstep (placeholder docs, rewritten below)
pub mod time;
pub mod wire;
