//! `bytefreezer up` serves the ingest API on its dashboard port with the receiver role's
//! connection limits (the defaults of `ReceiverConfig`): a connection that trickles its headers
//! is closed after the header timeout, and connections past the cap are not served (they wait
//! in the kernel's accept queue) until a slot frees, after which an authorized POST succeeds.

#[path = "support/up.rs"]
mod up;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytefreezer_api::metrics::RECEIVER_CONNECTION_ERRORS_TOTAL;
use bytefreezer_receiver::ReceiverConfig;
use up::{UpProcess, free_tcp, free_udp};

/// Reads until the server closes the connection (EOF or reset), or `limit` passes.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut buffer = [0u8; 1024];
    while Instant::now() < deadline {
        stream
            .set_read_timeout(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            ))
            .unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// A connection that has sent a request line and one header, and nothing more yet.
fn half_request(address: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(b"POST /api/v1/ingest/demo/syslog HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    stream
}

fn authorized_post(up: &UpProcess, key: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .post(format!("http://{}/api/v1/ingest/demo/syslog", up.http))
        .bearer_auth(key)
        .header("content-type", "application/x-ndjson")
        .body("{\"message\":\"still served\"}\n")
        .timeout(Duration::from_secs(60))
        .send()
        .unwrap()
}

#[test]
fn slow_headers_are_cut_off_and_connections_past_the_cap_wait_for_a_slot() {
    let limits = ReceiverConfig::default();
    let header_timeout = Duration::from_secs(limits.header_timeout_secs);
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start(dir.path(), free_tcp(), free_udp());
    let key = std::fs::read_to_string(dir.path().join("up-proxy.key")).unwrap();
    let key = key.trim();
    assert_eq!(authorized_post(&up, key).status(), 201);

    // Slowloris: one header line a second never completes the request within the timeout.
    let started = Instant::now();
    let mut slow = half_request(up.http);
    let mut trickle = slow.try_clone().unwrap();
    std::thread::spawn(move || {
        for line in 0.. {
            std::thread::sleep(Duration::from_secs(1));
            if trickle
                .write_all(format!("X-Trickle-{line}: x\r\n").as_bytes())
                .is_err()
            {
                return;
            }
        }
    });
    assert!(
        closed_within(&mut slow, header_timeout + Duration::from_secs(5)),
        "a connection trickling its headers stayed open past the header timeout"
    );
    let lasted = started.elapsed();
    assert!(
        lasted >= header_timeout - Duration::from_secs(1),
        "closed after {lasted:?}, before the header timeout of {header_timeout:?}"
    );

    // Fill every slot with connections that never finish their headers.
    let held_since = Instant::now();
    let mut held: Vec<TcpStream> = (0..limits.max_connections)
        .map(|_| half_request(up.http))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // Past the cap, a request is not served while every slot is taken...
    let asked = Instant::now();
    let response = authorized_post(&up, key);
    let waited = asked.elapsed();
    // ...and is served once the held connections time out and give their slots back.
    assert_eq!(response.status(), 201, "{}", response.text().unwrap());
    let slots_freed_at = header_timeout.saturating_sub(held_since.elapsed() - waited);
    assert!(
        waited + Duration::from_secs(1) >= slots_freed_at,
        "answered after {waited:?}, while every slot was held for {slots_freed_at:?} more"
    );
    for (index, stream) in held.iter_mut().enumerate() {
        assert!(
            closed_within(stream, Duration::from_secs(2)),
            "held connection {index} is still open after the header timeout"
        );
    }
    let cut_off = up.metric(RECEIVER_CONNECTION_ERRORS_TOTAL.name);
    assert!(
        cut_off > limits.max_connections as u64,
        "{cut_off} connections counted as cut off"
    );
}
