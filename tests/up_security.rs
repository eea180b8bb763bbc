//! `bytefreezer up` on a loopback address answers only to its own names (DNS rebinding), and a
//! second `up` on the same UDP port fails with a clear error instead of silently taking part of
//! the first one's datagrams.

#[path = "support/up.rs"]
mod up;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytefreezer_api::metrics::{HTTP_FOREIGN_HOST_REFUSED_TOTAL, PROXY_DATAGRAMS_TOTAL};
use up::{KillOnDrop, UpProcess, free_tcp, free_udp};

#[test]
fn a_loopback_dashboard_answers_only_to_its_own_names() {
    let dir = tempfile::tempdir().unwrap();
    let up = UpProcess::start_with(
        dir.path(),
        free_tcp(),
        free_udp(),
        &["--allowed-host".as_ref(), "dash.example.org".as_ref()],
    );
    let client = reqwest::blocking::Client::new();
    let port = up.http.port();
    for (host, expected) in [
        (format!("localhost:{port}"), 200),
        (format!("127.0.0.1:{port}"), 200),
        (format!("[::1]:{port}"), 200),
        (format!("dash.example.org:{port}"), 200),
        (format!("evil.example:{port}"), 403),
        (format!("localhost.evil.example:{port}"), 403),
    ] {
        for path in ["/", "/api/v1/status", "/metrics"] {
            let response = client
                .get(format!("http://{}{path}", up.http))
                .header("host", &host)
                .send()
                .unwrap();
            assert_eq!(response.status().as_u16(), expected, "Host {host}, {path}");
            if expected == 403 {
                let body = response.text().unwrap();
                assert!(body.contains("--allowed-host"), "{body}");
            }
        }
    }
    assert_eq!(up.metric(HTTP_FOREIGN_HOST_REFUSED_TOTAL.name), 6);
}

#[test]
fn a_second_up_on_a_taken_udp_port_fails_clearly_and_takes_no_datagrams() {
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let syslog = free_udp();
    let first = UpProcess::start(first_dir.path(), free_tcp(), syslog);
    let log = second_dir.path().join("stderr.log");
    let second = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["up", "--no-fakedata", "--data-dir"])
        .arg(second_dir.path().join("data"))
        .args(["--http", &free_tcp().to_string()])
        .args(["--syslog-bind", &syslog.to_string()])
        .args(["--netflow-bind", &free_udp().to_string()])
        .args(["--ipfix-bind", &free_udp().to_string()])
        .args(["--sflow-bind", &free_udp().to_string()])
        .args(["--ebpf-bind", &free_udp().to_string()])
        .args(["--events-bind", &free_tcp().to_string()])
        .args(["--syslog-tcp-bind", &free_tcp().to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start the second bytefreezer up");
    let _second = KillOnDrop(second);
    let expected = format!("udp://{syslog} is already bound by another socket");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(&expected) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second up did not report the taken port: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every datagram still reaches the first process, from many source ports (the kernel would
    // spread them over both processes if the second had joined the port).
    let before = first.metric(PROXY_DATAGRAMS_TOTAL.name);
    for index in 0..200 {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .send_to(
                format!("<13>Dec  6 03:00:00 host app: message {index}").as_bytes(),
                syslog,
            )
            .unwrap();
    }
    first.wait_until(
        Duration::from_secs(20),
        "the first up received all 200 datagrams",
        |up| up.metric(PROXY_DATAGRAMS_TOTAL.name) >= before + 200,
    );
}
