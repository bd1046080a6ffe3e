//! A WebSocket client that writes frames byte by byte as a test wants them (masked or not, any
//! opcode, fragments, floods) over a plain TCP socket, and reads server frames raw: for protocol
//! conformance and hostile-client tests, where a well-behaved client library would get in the way.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// One raw connection.
#[derive(Debug)]
pub struct Raw {
    pub stream: TcpStream,
}

/// The upgrade request, with a bearer token when given and extra header lines.
fn handshake(addr: SocketAddr, token: Option<&str>, extra: &str) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{auth}{extra}\r\n"
    )
}

impl Raw {
    /// Upgrades; with a token, waits for `auth:success` too.
    pub async fn connect(addr: SocketAddr, token: Option<&str>) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        Self::upgrade(stream, addr, token).await
    }

    /// Like [`connect`](Self::connect), from the local address `source` (any of 127.0.0.0/8).
    pub async fn connect_from(
        source: IpAddr,
        addr: SocketAddr,
        token: Option<&str>,
    ) -> anyhow::Result<Self> {
        let stream = connect_from(source, addr).await?;
        Self::upgrade(stream, addr, token).await
    }

    async fn upgrade(
        mut stream: TcpStream,
        addr: SocketAddr,
        token: Option<&str>,
    ) -> anyhow::Result<Self> {
        stream
            .write_all(handshake(addr, token, "").as_bytes())
            .await?;
        let head = read_head(&mut stream).await?;
        anyhow::ensure!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        let mut raw = Self { stream };
        if token.is_some() {
            let (_, first) = raw.read_frame().await?;
            anyhow::ensure!(String::from_utf8_lossy(&first).contains("auth:success"));
        }
        Ok(raw)
    }

    /// Sends one masked frame.
    pub async fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) -> anyhow::Result<()> {
        self.stream.write_all(&encode(fin, opcode, payload)).await?;
        Ok(())
    }

    /// Reads one server frame: (opcode, payload).
    pub async fn read_frame(&mut self) -> anyhow::Result<(u8, Vec<u8>)> {
        let read = async {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).await?;
            anyhow::ensure!(head[1] & 0x80 == 0, "server frames are never masked");
            let len = match head[1] & 0x7f {
                126 => {
                    let mut ext = [0u8; 2];
                    self.stream.read_exact(&mut ext).await?;
                    usize::from(u16::from_be_bytes(ext))
                }
                127 => {
                    let mut ext = [0u8; 8];
                    self.stream.read_exact(&mut ext).await?;
                    usize::try_from(u64::from_be_bytes(ext))?
                }
                n => usize::from(n),
            };
            let mut payload = vec![0u8; len];
            self.stream.read_exact(&mut payload).await?;
            Ok((head[0] & 0x0f, payload))
        };
        tokio::time::timeout(Duration::from_secs(10), read).await?
    }

    /// Reads until a close frame; returns its code.
    pub async fn close_code(&mut self) -> anyhow::Result<u16> {
        loop {
            let (opcode, payload) = self.read_frame().await?;
            if opcode == 0x8 {
                anyhow::ensure!(payload.len() >= 2, "close without a code");
                return Ok(u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    }
}

/// The upgrade with extra header lines (each ending in `\r\n`); returns the response head.
pub async fn upgrade_answer(addr: SocketAddr, extra: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(handshake(addr, None, extra).as_bytes())
        .await?;
    read_head(&mut stream).await
}

/// A TCP connection to `addr` from the local address `source`.
pub async fn connect_from(source: IpAddr, addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    Ok(socket.connect(addr).await?)
}

/// Reads an HTTP response head (through the blank line).
pub async fn read_head(stream: &mut TcpStream) -> anyhow::Result<String> {
    let read = async {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            if stream.read(&mut byte).await? == 0 {
                anyhow::bail!("closed after {} bytes", head.len());
            }
            head.push(byte[0]);
        }
        Ok(String::from_utf8_lossy(&head).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), read).await?
}

/// One masked client frame.
pub fn encode(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode_first((u8::from(fin) << 7) | opcode, payload)
}

/// One masked client frame whose first byte (FIN, RSV1-3, opcode) is `first`, with any length
/// encoding (7-bit, 16-bit, 64-bit).
pub fn encode_first(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}
