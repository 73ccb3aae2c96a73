//! The bytes of an HTTP/1.1 response: status line, headers, body. Every answer closes the
//! connection, is never cached, and forbids the page to load anything from elsewhere. Builds
//! bytes only; performs no I/O.

use std::fmt::Write as _;

/// A status the endpoint answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// 200 OK.
    Ok,
    /// 400 Bad Request.
    BadRequest,
    /// 404 Not Found.
    NotFound,
    /// 405 Method Not Allowed.
    MethodNotAllowed,
    /// 408 Request Timeout.
    RequestTimeout,
    /// 431 Request Header Fields Too Large.
    HeadTooLarge,
    /// 503 Service Unavailable.
    Unavailable,
}

impl Code {
    /// Every code, for counting answers.
    pub const ALL: [Code; 7] = [
        Code::Ok,
        Code::BadRequest,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::RequestTimeout,
        Code::HeadTooLarge,
        Code::Unavailable,
    ];

    /// The number.
    pub fn number(self) -> u16 {
        match self {
            Code::Ok => 200,
            Code::BadRequest => 400,
            Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::RequestTimeout => 408,
            Code::HeadTooLarge => 431,
            Code::Unavailable => 503,
        }
    }

    /// The reason phrase.
    fn phrase(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::BadRequest => "Bad Request",
            Code::NotFound => "Not Found",
            Code::MethodNotAllowed => "Method Not Allowed",
            Code::RequestTimeout => "Request Timeout",
            Code::HeadTooLarge => "Request Header Fields Too Large",
            Code::Unavailable => "Service Unavailable",
        }
    }

    /// The body of an error answer: one line for a person.
    fn explanation(self) -> &'static str {
        match self {
            Code::Ok => "",
            Code::BadRequest => "not an HTTP/1.x request\n",
            Code::NotFound => "not found: try /, /metrics, /status.json or /recent.json\n",
            Code::MethodNotAllowed => "only GET and HEAD are answered\n",
            Code::RequestTimeout => "the request did not arrive in time\n",
            Code::HeadTooLarge => "the request head is too large (8 KiB at most)\n",
            Code::Unavailable => "too many connections; try again shortly\n",
        }
    }
}

/// The page may run its own inline script and style, fetch from this endpoint and show inline
/// images; nothing else.
const POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
                      style-src 'unsafe-inline'; connect-src 'self'; img-src data:";

/// A complete response with `body`, or only its head (for HEAD) when `head_only`.
pub fn ok(content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    build(Code::Ok, content_type, body, head_only)
}

/// A complete error response with a one-line explanation.
pub fn error(code: Code) -> Vec<u8> {
    build(
        code,
        "text/plain; charset=utf-8",
        code.explanation().as_bytes(),
        false,
    )
}

fn build(code: Code, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let mut head = String::with_capacity(320);
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\n\
         Content-Type: {content_type}\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: {POLICY}\r\n\
         Connection: close\r\n",
        code.number(),
        code.phrase(),
        body.len(),
    );
    if code == Code::MethodNotAllowed {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    if code == Code::Unavailable {
        head.push_str("Retry-After: 1\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn an_answer_has_its_length_and_closes() {
        let got = text(&ok("application/json", b"{}", false));
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.contains("\r\nContent-Length: 2\r\n"), "{got}");
        assert!(got.contains("\r\nConnection: close\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\n{}"), "{got}");
    }

    #[test]
    fn head_gives_the_length_without_the_body() {
        let got = text(&ok("text/html", b"<p>hi</p>", true));
        assert!(got.contains("\r\nContent-Length: 9\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\n"), "{got}");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let got = text(&error(Code::MethodNotAllowed));
        assert!(got.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(got.contains("\r\nAllow: GET, HEAD\r\n"));
        assert!(got.ends_with("only GET and HEAD are answered\n"));
        for code in Code::ALL {
            let got = text(&error(code));
            assert!(got.starts_with(&format!("HTTP/1.1 {} ", code.number())));
        }
        assert!(text(&error(Code::Unavailable)).contains("\r\nRetry-After: 1\r\n"));
    }
}
