//! Reading one HTTP/1.x request head with `httparse`: what was asked for (the method and the
//! path, query left out), or the status that refuses it. Bytes in, a decision out; performs no
//! I/O. Only the head matters: the endpoint answers GET and HEAD, which carry no body, and
//! closes the connection after each answer.

/// The longest request head taken, in bytes; a longer one is answered 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// The most header lines taken; more are answered 431.
const MAX_HEADERS: usize = 64;

/// A request the endpoint can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// HEAD: the answer's head only.
    pub head_only: bool,
    /// The path, without its query.
    pub path: String,
}

/// Why a request is refused, as its status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400: not an HTTP/1.x request head.
    BadRequest,
    /// 405: a method other than GET or HEAD.
    MethodNotAllowed,
    /// 431: the head is longer than [`MAX_HEAD`] or has more than 64 header lines.
    HeadTooLarge,
}

/// What the bytes read so far amount to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet; read more.
    Incomplete,
    /// A GET or HEAD request.
    Request(Request),
    /// A request to refuse.
    Refused(Refusal),
}

/// Reads the request head at the start of `bytes`. Short input is [`Parsed::Incomplete`]
/// until it reaches [`MAX_HEAD`] bytes; whatever follows a complete head is ignored.
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(length)) if length > MAX_HEAD => {
            Parsed::Refused(Refusal::HeadTooLarge)
        }
        Ok(httparse::Status::Complete(_)) => {
            let (Some(method), Some(target)) = (request.method, request.path) else {
                return Parsed::Refused(Refusal::BadRequest);
            };
            let head_only = match method {
                "GET" => false,
                "HEAD" => true,
                _ => return Parsed::Refused(Refusal::MethodNotAllowed),
            };
            let path = target.split(['?', '#']).next().unwrap_or_default();
            Parsed::Request(Request {
                head_only,
                path: path.to_string(),
            })
        }
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_HEAD => {
            Parsed::Refused(Refusal::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => Parsed::Incomplete,
        Err(httparse::Error::TooManyHeaders) => Parsed::Refused(Refusal::HeadTooLarge),
        Err(_) => Parsed::Refused(Refusal::BadRequest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Parsed {
        Parsed::Request(Request {
            head_only: false,
            path: path.to_string(),
        })
    }

    #[test]
    fn get_and_head_are_read_with_the_query_left_out() {
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            get("/metrics")
        );
        assert_eq!(parse(b"GET /?a=1 HTTP/1.0\r\n\r\n"), get("/"));
        assert_eq!(
            parse(b"HEAD /status.json HTTP/1.1\r\n\r\ntrailing bytes"),
            Parsed::Request(Request {
                head_only: true,
                path: "/status.json".into()
            })
        );
    }

    #[test]
    fn every_prefix_of_a_request_is_incomplete() {
        let whole = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n";
        for end in 0..whole.len() {
            assert_eq!(parse(&whole[..end]), Parsed::Incomplete, "{end}");
        }
        assert_eq!(parse(whole), get("/metrics"));
    }

    #[test]
    fn other_methods_garbage_and_huge_heads_are_refused() {
        for method in [
            "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH",
        ] {
            let head = format!("{method} / HTTP/1.1\r\n\r\n");
            assert_eq!(
                parse(head.as_bytes()),
                Parsed::Refused(Refusal::MethodNotAllowed),
                "{method}"
            );
        }
        for garbage in [
            &b"\x00\x01\x02\r\n\r\n"[..],
            b"GET / SPDY/3\r\n\r\n",
            b"GET /\x01 HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(parse(garbage), Parsed::Refused(Refusal::BadRequest));
        }
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
        assert_eq!(
            parse(long.as_bytes()),
            Parsed::Refused(Refusal::HeadTooLarge)
        );
        let many: String = (0..100).map(|i| format!("X{i}: y\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            parse(head.as_bytes()),
            Parsed::Refused(Refusal::HeadTooLarge)
        );
    }
}
