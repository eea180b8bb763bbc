use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use tokio::net::UdpSocket;

use crate::generator::{FakeFormat, FakeGenerator};
use crate::pacer::Pacer;

#[derive(Debug, Clone)]
pub struct SendOptions {
    pub target: SocketAddr,
    pub format: FakeFormat,
    /// Events per second; as fast as possible when `None`.
    pub rate_per_second: Option<u64>,
    /// Stop after this many; run until shutdown when `None`.
    pub count: Option<u64>,
    pub seed: u64,
}

/// `udp://HOST:PORT`, resolving host names.
pub fn parse_udp_target(text: &str) -> Result<SocketAddr> {
    let Some(address) = text.strip_prefix("udp://") else {
        bail!("target {text:?} must look like udp://HOST:PORT");
    };
    address
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve target {text:?}: expected udp://HOST:PORT"))?
        .next()
        .with_context(|| format!("target {text:?} resolves to no address"))
}

/// Sends events until `count` or `shutdown`, returning how many were sent.
pub async fn send_udp(options: SendOptions, shutdown: impl Future<Output = ()>) -> Result<u64> {
    let local: SocketAddr = if options.target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .context("cannot open a UDP socket")?;
    socket
        .connect(options.target)
        .await
        .with_context(|| format!("cannot send to {}", options.target))?;
    let mut generator = FakeGenerator::new(options.seed);
    let mut datagram = Vec::with_capacity(512);
    let mut sent = 0u64;
    let mut pacer = Pacer::new(options.rate_per_second, options.count, 256);
    tokio::pin!(shutdown);
    loop {
        let due = pacer.due(sent);
        while sent < due {
            datagram.clear();
            generator.render(options.format, Utc::now(), &mut datagram);
            match socket.send(&datagram).await {
                Ok(_) => sent += 1,
                // Nobody listening yet (ICMP port unreachable): keep the pace, count nothing.
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => break,
                Err(error) => return Err(error).context("sending fake events failed"),
            }
        }
        if pacer.finished(sent) || pacer.wait(&mut shutdown).await {
            return Ok(sent);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sends_the_requested_count_to_a_local_socket() {
        let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let options = SendOptions {
            target: receiver.local_addr().unwrap(),
            format: FakeFormat::Rfc5424,
            rate_per_second: Some(5_000),
            count: Some(2000),
            seed: 3,
        };
        let receiving = tokio::spawn(async move {
            let mut buffer = vec![0u8; 2048];
            let mut received = 0;
            while received < 2000 {
                let (length, _) = receiver.recv_from(&mut buffer).await.unwrap();
                assert!(buffer[..length].starts_with(b"<"));
                received += 1;
            }
            received
        });
        let sent = send_udp(options, std::future::pending()).await.unwrap();
        assert_eq!(sent, 2000);
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(10), receiving)
                .await
                .unwrap()
                .unwrap(),
            2000
        );
    }

    #[test]
    fn targets_need_the_udp_scheme() {
        assert_eq!(
            parse_udp_target("udp://127.0.0.1:5514").unwrap().port(),
            5514
        );
        assert!(
            parse_udp_target("127.0.0.1:5514")
                .unwrap_err()
                .to_string()
                .contains("udp://HOST:PORT")
        );
        assert!(parse_udp_target("udp://nonexistent.invalid:1").is_err());
    }
}
