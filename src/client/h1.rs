//! HTTP/1.1 exchanges on a worker's own connection, run inside the worker's own task: the
//! request is written from a reused buffer, the answer's head parsed with `httparse` into
//! a reused header map, and its body counted (and kept, when asked) as it is read into a
//! reused buffer.
//!
//! hyper's client connection runs as a task of its own and hands every request and
//! response across channels; for a generator that sends one request at a time on each
//! connection, that hop and the per-request allocations around it were most of its
//! user-space cost (issue #17). HTTP/2 stays on hyper. The tests cross-check this codec
//! against hyper's server and client on the same exchanges.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::body::GeneratedBody;
use super::request_head::RequestHead;

/// The read buffer a connection starts with.
const READ_BUFFER: usize = 16 * 1024;
/// The read buffer grows (doubling, while bodies fill it) up to this.
const READ_BUFFER_MAX: usize = 256 * 1024;
/// A response head longer than this is refused.
const MAX_HEAD: usize = 64 * 1024;
/// A response with more header lines than this is refused.
const MAX_HEADERS: usize = 128;
/// Bodies up to this size go out in the same write as the request's head.
const INLINE_BODY: u64 = 16 * 1024;

/// The byte stream under a connection: plain TCP, or TLS over TCP.
pub enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why an exchange failed; the connection is not used again after any of these.
#[derive(Debug, thiserror::Error)]
pub enum H1Error {
    /// Reading or writing failed (a reset, or a TLS error inside the `io::Error`).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The answer is not HTTP/1.1 as RFC 9112 frames it.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// The server closed the connection before the answer was complete.
    #[error("the connection closed before the response was complete")]
    Closed,
}

/// Where a response's body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A response's status and how its body is framed (its headers stay in the
/// connection: [`H1Connection::headers`]).
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    framing: Framing,
}

/// One HTTP/1.1 connection with its read and write buffers.
pub struct H1Connection {
    stream: Stream,
    /// Read buffer: bytes `start..end` are received and not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The request being written.
    out: Vec<u8>,
    /// The headers of the head parsed last (meaningful once `read_head` returned `Ok`),
    /// until the next head is read; the map's room is kept from one answer to the next.
    headers: HeaderMap,
    /// False once the server asked to close, or an answer was not read to its end.
    reusable: bool,
}

impl H1Connection {
    /// A connection over `stream`, nothing sent yet.
    pub fn new(stream: Stream) -> Self {
        H1Connection {
            stream,
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
            out: Vec::with_capacity(1024),
            headers: HeaderMap::new(),
            reusable: true,
        }
    }

    /// Whether another request may go out on this connection: the last answer was read
    /// to its end without `Connection: close`, and the server has not closed the
    /// connection (or sent anything unasked) since. Costs a system call only when the
    /// socket has something to read, which an idle open connection has not.
    pub fn is_open(&mut self) -> bool {
        if !self.reusable || self.start != self.end {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.tcp().poll_read_ready(&mut cx) {
            Poll::Pending => return true,
            Poll::Ready(Err(_)) => return false,
            Poll::Ready(Ok(())) => {}
        }
        match &mut self.stream {
            Stream::Tcp(s) => {
                let mut probe = [0u8; 1];
                matches!(s.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            // TLS records may be pending (e.g. session tickets): only plaintext or the
            // end of the stream mean the connection is no longer idle and open.
            Stream::Tls(s) => {
                let mut rb = ReadBuf::new(&mut self.buf);
                matches!(
                    Pin::new(s.as_mut()).poll_read(&mut cx, &mut rb),
                    Poll::Pending
                )
            }
        }
    }

    /// Writes the request of `head` and `body`.
    pub async fn send(&mut self, head: &RequestHead, body: &GeneratedBody) -> Result<(), H1Error> {
        self.out.clear();
        head.write_to(&mut self.out);
        let inline = body.length() <= INLINE_BODY;
        if inline {
            for chunk in body.chunks() {
                self.out.extend_from_slice(chunk);
            }
        }
        self.stream.write_all(&self.out).await?;
        if !inline {
            for chunk in body.chunks() {
                self.stream.write_all(chunk).await?;
            }
        }
        self.stream.flush().await?;
        Ok(())
    }

    /// The headers of the answer whose head was read last: all of them, or just those
    /// `read_head` was told to keep; taken values are gone.
    pub fn headers(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// Reads the answer's head (skipping interim 1xx answers); `head_request` says the
    /// request was a HEAD, whose answer has no body whatever its headers say. The
    /// headers ([`H1Connection::headers`]) are all of them, or (`only`) just those named,
    /// under the names given (no name is made per answer).
    pub async fn read_head(
        &mut self,
        head_request: bool,
        only: Option<&[HeaderName]>,
    ) -> Result<Head, H1Error> {
        self.reusable = false;
        loop {
            match self.parse_head(head_request, only)? {
                Some((head, close)) if !(100..200).contains(&head.status) => {
                    self.reusable = !close;
                    return Ok(head);
                }
                Some(_) => continue,
                None => {
                    if self.end - self.start >= MAX_HEAD {
                        return Err(H1Error::Malformed("response head too long"));
                    }
                    if self.fill().await? == 0 {
                        return Err(H1Error::Closed);
                    }
                }
            }
        }
    }

    /// The head at the start of the buffered bytes, consumed, and whether the server
    /// asked to close the connection after it; `None` if it is not all here yet.
    fn parse_head(
        &mut self,
        head_request: bool,
        only: Option<&[HeaderName]>,
    ) -> Result<Option<(Head, bool)>, H1Error> {
        // Not initialised first: the parser writes the lines it finds.
        let mut lines = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut parsed,
            &self.buf[self.start..self.end],
            &mut lines,
        ) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(H1Error::Malformed("unparsable status line or header")),
        };
        let status = parsed.code.ok_or(H1Error::Malformed("no status"))?;
        let headers = &mut self.headers;
        headers.clear();
        let mut close = parsed.version == Some(0);
        let mut length = None;
        let mut chunked = None;
        for line in parsed.headers.iter() {
            let raw = line.name.as_bytes();
            if raw.eq_ignore_ascii_case(b"connection") {
                for token in line.value.split(|b| *b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        close = false;
                    }
                }
            } else if raw.eq_ignore_ascii_case(b"content-length") {
                let n = std::str::from_utf8(line.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or(H1Error::Malformed("bad content-length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(H1Error::Malformed("conflicting content-length"));
                }
                length = Some(n);
            } else if raw.eq_ignore_ascii_case(b"transfer-encoding") {
                // The last coding decides: chunked last frames the body.
                let last = line.value.rsplit(|b| *b == b',').next();
                chunked =
                    Some(last.is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked")));
            }
            let name = match only {
                Some(names) => match names
                    .iter()
                    .find(|n| raw.eq_ignore_ascii_case(n.as_str().as_bytes()))
                {
                    Some(name) => name.clone(),
                    None => continue,
                },
                None => HeaderName::from_bytes(raw)
                    .map_err(|_| H1Error::Malformed("bad header name"))?,
            };
            let value = HeaderValue::from_bytes(line.value)
                .map_err(|_| H1Error::Malformed("bad header value"))?;
            headers.append(name, value);
        }
        self.start += len;
        let framing = if head_request || status < 200 || status == 204 || status == 304 {
            Framing::Empty
        } else {
            match (chunked, length) {
                (Some(true), _) => Framing::Chunked,
                (Some(false), _) => Framing::UntilClose,
                (None, Some(n)) => Framing::Length(n),
                (None, None) => Framing::UntilClose,
            }
        };
        if framing == Framing::UntilClose {
            close = true;
        }
        Ok(Some((Head { status, framing }, close)))
    }

    /// Reads the body `head` announced, handing each piece of it to `data`.
    pub async fn read_body(
        &mut self,
        head: &Head,
        mut data: impl FnMut(&[u8]),
    ) -> Result<(), H1Error> {
        let reusable = std::mem::replace(&mut self.reusable, false);
        match head.framing {
            Framing::Empty => {}
            Framing::Length(n) => self.read_exactly(n, &mut data).await?,
            Framing::UntilClose => loop {
                data(&self.buf[self.start..self.end]);
                self.start = self.end;
                if self.fill().await? == 0 {
                    break;
                }
            },
            Framing::Chunked => self.read_chunks(&mut data).await?,
        }
        self.reusable = reusable;
        Ok(())
    }

    /// Hands the next `n` bytes to `data`.
    async fn read_exactly(
        &mut self,
        mut n: u64,
        data: &mut impl FnMut(&[u8]),
    ) -> Result<(), H1Error> {
        loop {
            let take = (self.end - self.start).min(usize::try_from(n).unwrap_or(usize::MAX));
            if take > 0 {
                data(&self.buf[self.start..self.start + take]);
                self.start += take;
                n -= take as u64;
            }
            if n == 0 {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err(H1Error::Closed);
            }
        }
    }

    /// Reads a chunked body, its last chunk and trailer section.
    async fn read_chunks(&mut self, data: &mut impl FnMut(&[u8])) -> Result<(), H1Error> {
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.buf[self.start..self.end]) {
                    Ok(httparse::Status::Complete((len, size))) => {
                        self.start += len;
                        break size;
                    }
                    Ok(httparse::Status::Partial) => self.fill_or_closed().await?,
                    Err(_) => return Err(H1Error::Malformed("bad chunk size")),
                }
            };
            if size == 0 {
                return self.skip_trailers().await;
            }
            self.read_exactly(size, data).await?;
            self.expect_crlf().await?;
        }
    }

    /// Skips the trailer section after the last chunk, up to its empty line.
    async fn skip_trailers(&mut self) -> Result<(), H1Error> {
        loop {
            let pending = &self.buf[self.start..self.end];
            match pending.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.start += 2;
                    return Ok(());
                }
                Some(line) => self.start += line + 2,
                None if pending.len() >= MAX_HEAD => {
                    return Err(H1Error::Malformed("trailer line too long"));
                }
                None => self.fill_or_closed().await?,
            }
        }
    }

    /// Consumes the CRLF that ends a chunk's data.
    async fn expect_crlf(&mut self) -> Result<(), H1Error> {
        while self.end - self.start < 2 {
            self.fill_or_closed().await?;
        }
        if &self.buf[self.start..self.start + 2] != b"\r\n" {
            return Err(H1Error::Malformed("chunk data not followed by CRLF"));
        }
        self.start += 2;
        Ok(())
    }

    async fn fill_or_closed(&mut self) -> Result<(), H1Error> {
        match self.fill().await? {
            0 => Err(H1Error::Closed),
            _ => Ok(()),
        }
    }

    /// Reads more bytes after the unconsumed ones (moving those to the front, or growing
    /// the buffer when it is full of them); 0 at the end of the stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            // Everything read was consumed: a body filling the whole buffer asks for a
            // larger one.
            if self.end == self.buf.len() && self.buf.len() < READ_BUFFER_MAX {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
