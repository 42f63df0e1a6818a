//! Tests' minimal HTTP/1.1 servers: reading request heads off a connection (requests
//! without bodies), so a test server can answer each as its test needs.

use tokio::io::{AsyncRead, AsyncReadExt};

/// The next request head on `stream` (request line and headers, without the blank line),
/// as text; bytes read past it stay in `pending` for the next call. `None` once the
/// connection ends or fails.
pub async fn next_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    pending: &mut Vec<u8>,
) -> Option<String> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 4);
            return Some(head);
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}
