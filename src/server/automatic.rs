//! hyper answers some requests itself, before any of larch's code sees them: a malformed
//! request (`400`), a request head over `MAX_HEAD_BYTES` or with too many headers (`431`),
//! a URL over 65,534 bytes (`414`). It offers no hook to give those answers a body; they go
//! out as a bare head with `content-length: 0`, after which hyper closes the connection.
//! This rewrites exactly that head, on its way to the socket, into the API's JSON error
//! (with a request id and the usual headers). Only a write made while no request is in
//! progress, that is one whole head with one of those statuses and an empty body, is
//! touched: larch's own answers always have a body.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

/// The rewritten answer still to be sent, if any.
#[derive(Default)]
pub struct AutomaticAnswer {
    pending: Vec<u8>,
    sent: usize,
}

impl AutomaticAnswer {
    pub fn poll_write<W: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut W,
        cx: &mut Context<'_>,
        buf: &[u8],
        idle: bool,
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.poll_pending(stream, cx))?;
        if idle && let Some(answer) = json_answer(buf) {
            self.pending = answer;
            self.sent = 0;
            if let Poll::Ready(Err(e)) = self.poll_pending(stream, cx) {
                return Poll::Ready(Err(e));
            }
            // hyper's bytes count as written; ours go out by the next flush at the latest.
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(stream).poll_write(cx, buf)
    }

    pub fn poll_write_vectored<W: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut W,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        idle: bool,
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.poll_pending(stream, cx))?;
        let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
        if idle
            && let (Some(only), None) = (non_empty.next(), non_empty.next())
            && json_answer(only).is_some()
        {
            return self.poll_write(stream, cx, only, idle);
        }
        Pin::new(stream).poll_write_vectored(cx, bufs)
    }

    pub fn poll_flush<W: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        ready!(self.poll_pending(stream, cx))?;
        Pin::new(stream).poll_flush(cx)
    }

    fn poll_pending<W: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut *stream).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        if !self.pending.is_empty() {
            self.pending = Vec::new();
            self.sent = 0;
        }
        Poll::Ready(Ok(()))
    }
}

/// The JSON answer that replaces `head`, if `head` is one of hyper's own bodiless error
/// answers.
fn json_answer(head: &[u8]) -> Option<Vec<u8>> {
    let rest = head.strip_prefix(b"HTTP/1.1 ")?;
    let (status, message) = match rest.get(..4)? {
        b"400 " => (400u16, "The request is not valid HTTP/1.1."),
        b"414 " => (414, "The request URL is longer than the server accepts."),
        b"431 " => (
            431,
            "The request head (request line and headers) is larger than the server accepts.",
        ),
        _ => return None,
    };
    if !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?.to_ascii_lowercase();
    let bodiless = text.contains("\r\ncontent-length: 0\r\n");
    // Exactly one head: its only blank line is the last.
    if !bodiless || text.find("\r\n\r\n") != Some(text.len() - 4) {
        return None;
    }
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()?
        .canonical_reason()?;
    let body =
        serde_json::json!({"error": reason, "message": message, "status": status}).to_string();
    let request_id = uuid::Uuid::new_v4().simple();
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\n\
             content-type: application/json\r\n\
             content-length: {}\r\n\
             connection: close\r\n\
             x-request-id: {request_id}\r\n\
             x-content-type-options: nosniff\r\n\
             cache-control: no-store\r\n\
             \r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::json_answer;

    #[test]
    fn only_hypers_bodiless_error_heads_are_rewritten() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sun, 29 Nov 2026 10:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(json_answer(hyper_431).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["status"], 431);
        assert_eq!(json["error"], "Request Header Fields Too Large");
        assert!(answer.contains(&format!("content-length: {}\r\n", body.len())));

        for untouched in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 57\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        ] {
            assert!(json_answer(untouched).is_none());
        }
    }
}
