//! Fuzz target for both incremental decoders (SPEC §2): arbitrary bytes are decoded as a stream
//! of client messages and as a stream of conductor messages. Nothing may panic; every message
//! decoded re-encodes to exactly the bytes it came from, is at most 536 bytes long, and each
//! of its strict prefixes asks for more bytes; "need more" is only ever said for less than one
//! message; every error can be shown.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep_proto::wire::{ClientMsg, ConductorMsg, Decoded, MAX_MESSAGE_LEN};

fuzz_target!(|data: &[u8]| {
    check_stream(data, ClientMsg::decode, ClientMsg::encode_into);
    check_stream(data, ConductorMsg::decode, ConductorMsg::encode_into);
});

fn check_stream<M: std::fmt::Debug>(
    data: &[u8],
    decode: fn(&[u8]) -> Decoded<M>,
    encode: fn(&M, &mut Vec<u8>),
) {
    let mut rest = data;
    loop {
        match decode(rest) {
            Ok(Some((msg, n))) => {
                assert!(
                    (1..=rest.len().min(MAX_MESSAGE_LEN)).contains(&n),
                    "{msg:?} used {n} of {} bytes",
                    rest.len()
                );
                let mut encoded = Vec::new();
                encode(&msg, &mut encoded);
                assert_eq!(
                    encoded,
                    &rest[..n],
                    "{msg:?} does not re-encode to its bytes"
                );
                for cut in [0, n / 2, n - 1] {
                    assert!(
                        matches!(decode(&rest[..cut]), Ok(None)),
                        "{cut} of the {n} bytes of {msg:?} did not ask for more"
                    );
                }
                rest = &rest[n..];
            }
            Ok(None) => {
                assert!(
                    rest.len() < MAX_MESSAGE_LEN,
                    "{} bytes hold no message",
                    rest.len()
                );
                return;
            }
            Err(error) => {
                assert!(!error.to_string().is_empty());
                return;
            }
        }
    }
}
