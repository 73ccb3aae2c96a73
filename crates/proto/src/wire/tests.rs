//! Codec tests: exact encodings, every prefix of every message, errors that name the byte, and
//! property tests for round trips under arbitrary splits.

use proptest::prelude::*;

use super::*;

fn hello(name: &str) -> RawHello {
    RawHello {
        version: VERSION,
        id: *Id::new(name).unwrap().as_wire(),
    }
}

fn all_client_msgs() -> Vec<ClientMsg> {
    vec![
        ClientMsg::Hello(hello("worker-1")),
        ClientMsg::Received,
        ClientMsg::Done,
        ClientMsg::Working,
        ClientMsg::Here,
        ClientMsg::Ping,
        ClientMsg::Exit,
        ClientMsg::Refusal(Reason::new("out of disk").unwrap()),
        ClientMsg::Refusal(Reason::new("").unwrap()),
        ClientMsg::Refusal(Reason::new("z".repeat(MAX_REASON_LEN)).unwrap()),
    ]
}

fn all_conductor_msgs() -> Vec<ConductorMsg> {
    vec![
        ConductorMsg::Hello(hello("conductor")),
        ConductorMsg::Go(0),
        ConductorMsg::Go(u32::MAX),
        ConductorMsg::Refusal(Reason::new("full").unwrap()),
        ConductorMsg::Exit,
        ConductorMsg::Ping,
        ConductorMsg::Here,
        ConductorMsg::Slow,
        ConductorMsg::ShuttingDown(3),
        ConductorMsg::Error,
        ConductorMsg::Cease,
    ]
}

fn encode_client(msg: &ClientMsg) -> Vec<u8> {
    let mut out = Vec::new();
    msg.encode_into(&mut out);
    out
}

fn encode_conductor(msg: &ConductorMsg) -> Vec<u8> {
    let mut out = Vec::new();
    msg.encode_into(&mut out);
    out
}

#[test]
fn encodings_match_the_spec_tables() {
    assert_eq!(
        encode_conductor(&ConductorMsg::Go(0x0102_0304)),
        b"!\x04\x03\x02\x01"
    );
    assert_eq!(
        encode_conductor(&ConductorMsg::ShuttingDown(2)),
        b"S\x02\0\0\0"
    );
    assert_eq!(
        encode_conductor(&ConductorMsg::Hello(hello("conductor"))),
        b"A1conductor   "
    );
    assert_eq!(
        encode_conductor(&ConductorMsg::Refusal(Reason::new("full").unwrap())),
        b"R\x04\0\0\0full"
    );
    assert_eq!(encode_client(&ClientMsg::Done), b"!");
    assert_eq!(encode_client(&ClientMsg::Hello(hello("w"))).len(), 14);
    for msg in all_client_msgs() {
        assert!(encode_client(&msg).len() <= MAX_MESSAGE_LEN);
    }
    for msg in all_conductor_msgs() {
        assert!(encode_conductor(&msg).len() <= MAX_MESSAGE_LEN);
    }
}

#[test]
fn every_strict_prefix_needs_more_and_the_whole_decodes() {
    for msg in all_client_msgs() {
        let bytes = encode_client(&msg);
        for cut in 0..bytes.len() {
            assert_eq!(
                ClientMsg::decode(&bytes[..cut]),
                Ok(None),
                "{msg:?} cut at {cut}"
            );
        }
        assert_eq!(
            ClientMsg::decode(&bytes),
            Ok(Some((msg.clone(), bytes.len())))
        );
    }
    for msg in all_conductor_msgs() {
        let bytes = encode_conductor(&msg);
        for cut in 0..bytes.len() {
            assert_eq!(
                ConductorMsg::decode(&bytes[..cut]),
                Ok(None),
                "{msg:?} cut at {cut}"
            );
        }
        assert_eq!(
            ConductorMsg::decode(&bytes),
            Ok(Some((msg.clone(), bytes.len())))
        );
    }
}

#[test]
fn unknown_type_bytes_are_named() {
    let err = ClientMsg::decode(b"Zabc").unwrap_err();
    assert_eq!(
        err,
        DecodeError::UnknownType {
            byte: b'Z',
            expected: CLIENT_TYPES
        }
    );
    assert!(err.to_string().contains("'Z' (0x5a)"), "{err}");
    // The conductor's own bytes are not valid from a client, and the reverse.
    assert!(ClientMsg::decode(b"T").is_err());
    assert!(ClientMsg::decode(b"S\0\0\0\0").is_err());
    assert!(ConductorMsg::decode(b"K").is_err());
    assert!(ConductorMsg::decode(b"W").is_err());
    assert!(ClientMsg::decode(&[0xff])
        .unwrap_err()
        .to_string()
        .contains("0xff"));
}

#[test]
fn refusal_length_is_checked_before_the_text_arrives() {
    let err = ClientMsg::decode(b"R\x14\x02\0\0").unwrap_err();
    assert_eq!(err, DecodeError::RefusalTooLong { len: 532 });
    assert_eq!(ClientMsg::decode(b"R\x13\x02\0\0"), Ok(None));
}

#[test]
fn refusal_text_must_be_printable() {
    let err = ClientMsg::decode(b"R\x02\0\0\0a\n").unwrap_err();
    assert!(matches!(
        err,
        DecodeError::RefusalText(TextError::NotPrintable {
            byte: b'\n',
            offset: 1
        })
    ));
}

#[test]
fn hello_is_decoded_raw_and_validated_later() {
    let (msg, n) = ClientMsg::decode(b"A2\x01\x02\x03         ")
        .unwrap()
        .unwrap();
    assert_eq!(n, 14);
    let ClientMsg::Hello(raw) = msg else {
        panic!("not a hello")
    };
    assert_eq!(raw.version, b'2');
    assert!(Id::from_wire(raw.id).is_err());
}

fn client_msg_strategy() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        "[!-~][ -~]{0,11}".prop_map(|s| ClientMsg::Hello(hello(&s))),
        Just(ClientMsg::Received),
        Just(ClientMsg::Done),
        Just(ClientMsg::Working),
        Just(ClientMsg::Here),
        Just(ClientMsg::Ping),
        Just(ClientMsg::Exit),
        "[ -~]{0,531}".prop_map(|s| ClientMsg::Refusal(Reason::new(s).unwrap())),
    ]
}

fn conductor_msg_strategy() -> impl Strategy<Value = ConductorMsg> {
    prop_oneof![
        any::<u32>().prop_map(ConductorMsg::Go),
        any::<u32>().prop_map(ConductorMsg::ShuttingDown),
        "[ -~]{0,531}".prop_map(|s| ConductorMsg::Refusal(Reason::new(s).unwrap())),
        Just(ConductorMsg::Exit),
        Just(ConductorMsg::Ping),
        Just(ConductorMsg::Here),
        Just(ConductorMsg::Slow),
        Just(ConductorMsg::Error),
        Just(ConductorMsg::Cease),
    ]
}

/// Feeds `stream` in chunks cut at `cuts`, keeping undecoded bytes as a receiver would.
fn decode_split<M>(stream: &[u8], cuts: &[usize], decode: fn(&[u8]) -> Decoded<M>) -> Vec<M> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(stream.len());
    points.sort_unstable();
    let (mut pending, mut out, mut start) = (Vec::new(), Vec::new(), 0);
    for end in points {
        pending.extend_from_slice(&stream[start..end]);
        start = end;
        let mut used = 0;
        while let Some((msg, n)) = decode(&pending[used..]).unwrap() {
            out.push(msg);
            used += n;
        }
        pending.drain(..used);
    }
    assert!(pending.is_empty());
    out
}

proptest! {
    #[test]
    fn client_stream_decodes_the_same_under_any_split(
        msgs in proptest::collection::vec(client_msg_strategy(), 0..20),
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
    ) {
        let mut stream = Vec::new();
        for m in &msgs { m.encode_into(&mut stream); }
        prop_assert_eq!(decode_split(&stream, &cuts, ClientMsg::decode), msgs);
    }

    #[test]
    fn conductor_stream_decodes_the_same_under_any_split(
        msgs in proptest::collection::vec(conductor_msg_strategy(), 0..20),
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
    ) {
        let mut stream = Vec::new();
        for m in &msgs { m.encode_into(&mut stream); }
        prop_assert_eq!(decode_split(&stream, &cuts, ConductorMsg::decode), msgs);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics_and_never_overreads(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(Some((_, n))) = ClientMsg::decode(&bytes) { prop_assert!(n <= bytes.len() && n > 0); }
        if let Ok(Some((_, n))) = ConductorMsg::decode(&bytes) { prop_assert!(n <= bytes.len() && n > 0); }
    }
}
