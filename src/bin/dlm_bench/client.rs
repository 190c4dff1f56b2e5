//! The load generator's HTTP client and the requests it sends.

use std::time::{Duration, Instant};

/// A minimal HTTP/1.1 keep-alive client, one connection per simulated host stream. The load
/// generator shares the two cores with the server and PostgreSQL, so it must cost as little as
/// pgbench's own client does: a request is one prebuilt buffer and one write, a response one or
/// two reads; awc's pool, header maps and body streams cost more CPU than the server's handler.
pub(crate) struct HttpConnection {
    addr: std::net::SocketAddr,
    stream: Option<actix_web::rt::net::TcpStream>,
    buffer: Vec<u8>,
}

impl HttpConnection {
    pub(crate) fn new(addr: std::net::SocketAddr) -> HttpConnection {
        HttpConnection {
            addr,
            stream: None,
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Sends one request and returns (status, µs); status 0 is a transport error or a response
    /// that took over 30 s, after which the next call reconnects.
    pub(crate) async fn call(&mut self, request: &[u8]) -> (u16, u32) {
        let started = Instant::now();
        let exchange = self.exchange(request);
        let status = match actix_web::rt::time::timeout(Duration::from_secs(30), exchange).await {
            Ok(Ok(status)) => status,
            Ok(Err(_)) | Err(_) => {
                self.stream = None;
                0
            }
        };
        (
            status,
            started.elapsed().as_micros().min(u32::MAX as u128) as u32,
        )
    }

    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        if self.stream.is_none() {
            let stream = actix_web::rt::net::TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let Some(stream) = self.stream.as_ref() else {
            return Err(std::io::ErrorKind::NotConnected.into());
        };
        let mut written = 0;
        while written < request.len() {
            stream.writable().await?;
            match stream.try_write(&request[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        self.buffer.clear();
        loop {
            if let Some((status, length)) = parse_response(&self.buffer)? {
                if self.buffer.len() >= length {
                    return Ok(status);
                }
            }
            stream.readable().await?;
            let mut chunk = [0u8; 4096];
            match stream.try_read(&mut chunk) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// (status, total length of head and body) once the head is complete. The server sizes every
/// body, so a missing Content-Length means no body.
pub(crate) fn parse_response(buffer: &[u8]) -> std::io::Result<Option<(u16, usize)>> {
    let Some(head_end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad response head");
    let head = std::str::from_utf8(&buffer[..head_end]).map_err(|_| invalid())?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(invalid)?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse::<usize>().map_err(|_| invalid()))
        .transpose()?
        .unwrap_or(0);
    Ok(Some((status, head_end + 4 + length)))
}

/// One host's requests, built before the clock starts.
#[derive(Clone)]
pub(crate) struct HostRequests {
    pub(crate) acquire_own: Vec<u8>,
    pub(crate) release_own: Vec<u8>,
    pub(crate) acquire_cluster: Vec<u8>,
    pub(crate) release_cluster: Vec<u8>,
    pub(crate) show_cluster: Vec<u8>,
    pub(crate) acquire_semaphore: Vec<u8>,
    pub(crate) release_semaphore: Vec<u8>,
}

impl HostRequests {
    /// Host `i` (1-based) owns lock `own-i` and shares `cluster-(i-1)/10` (one slot) and
    /// `sem-(i-1)/10` (three slots, see `BENCH_POLICIES`) with its cluster.
    pub(crate) fn new(i: usize, cert_header: &str) -> HostRequests {
        let own = format!("/api/dlmlocks/own-{i:06}/lock");
        let cluster = format!("/api/dlmlocks/cluster-{:04}/lock", (i - 1) / 10);
        let semaphore = format!("/api/dlmlocks/sem-{:04}/lock", (i - 1) / 10);
        HostRequests {
            acquire_own: request("PUT", &own, cert_header),
            release_own: request("DELETE", &own, cert_header),
            acquire_cluster: request("PUT", &cluster, cert_header),
            release_cluster: request("DELETE", &cluster, cert_header),
            show_cluster: request("GET", &cluster, cert_header),
            acquire_semaphore: request("PUT", &semaphore, cert_header),
            release_semaphore: request("DELETE", &semaphore, cert_header),
        }
    }
}

/// The bytes of one request as Apache would forward it.
pub(crate) fn request(method: &str, path: &str, cert: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: foreman.example.com\r\nSSL-CLIENT-CERT: {cert}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::parse_response;

    #[test]
    fn a_response_is_complete_once_head_and_body_are_in() {
        let response = b"HTTP/1.1 412 Precondition Failed\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(
            parse_response(response).unwrap(),
            Some((412, response.len()))
        );
        // Head complete, body not yet: the length says how much is still to come.
        assert_eq!(
            parse_response(&response[..response.len() - 1]).unwrap(),
            Some((412, response.len()))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\ncontent-le").unwrap(),
            None
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n\r\n").unwrap(),
            Some((200, 19))
        );
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }
}
