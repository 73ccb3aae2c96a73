//! Whole-core fuzz target: arbitrary bytes are read as a script of inputs to the conductor core
//! (accept, bytes, close, ticks and clock jumps, stalls, stop, interrupt, fatal error; see
//! `lockstep_proto::sim::script`), and every invariant is checked after every step.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = lockstep_proto::sim::script::run(data) {
        panic!("invariant broken: {violation}");
    }
});
