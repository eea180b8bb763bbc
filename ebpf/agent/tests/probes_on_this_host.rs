//! The real probes on this host's kernel: the agent runs, this test opens a TCP connection and
//! moves a known number of bytes, runs a program with a unique name and resolves a name
//! against a DNS responder it starts, and finds each in the agent's datagrams with the right
//! values. Needs root (BPF); elsewhere it says so and does nothing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use bytefreezer_ebpf_agent::{AgentSettings, run};
use bytefreezer_telemetry::{Registry, shutdown_pair};
use serde_json::Value;

const SENT: usize = 100_000;
const ANSWERED: usize = 5_000;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .map(|uids| uids.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A DNS server for one name: answers every A query with 192.0.2.55.
fn dns_responder(socket: UdpSocket) {
    let mut buffer = [0u8; 512];
    while let Ok((length, peer)) = socket.recv_from(&mut buffer) {
        let query = &buffer[..length];
        if length < 12 {
            continue;
        }
        let mut answer = query.to_vec();
        answer[2] = 0x81;
        answer[3] = 0x80;
        answer[7] = 1;
        answer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 55]);
        let _ = socket.send_to(&answer, peer);
    }
}

fn dns_query(name: &str) -> Vec<u8> {
    let mut query = vec![0x4b, 0x21, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    query
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_processes_and_dns_of_this_host_arrive_as_records() {
    if !is_root() {
        eprintln!(
            "SKIPPED: loading eBPF probes needs root (or CAP_BPF, CAP_PERFMON and CAP_NET_RAW); \
             run the tests as root to exercise them"
        );
        return;
    }
    let proxy = UdpSocket::bind("127.0.0.1:0").unwrap();
    proxy
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut settings = AgentSettings::new(proxy.local_addr().unwrap());
    settings.flow_interval = Duration::from_secs(1);
    let (stop, shutdown) = shutdown_pair();
    let agent = tokio::spawn(run(settings, Registry::new(), shutdown));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!agent.is_finished(), "the agent stopped: {:?}", agent.await);

    let marker = format!("bfprobe{}", std::process::id());
    let work = {
        let marker = marker.clone();
        std::thread::spawn(move || {
            // TCP: SENT bytes one way, ANSWERED the other, then both close.
            let server = TcpListener::bind("127.0.0.1:0").unwrap();
            let server_addr = server.local_addr().unwrap();
            let serve = std::thread::spawn(move || {
                let (mut peer, _) = server.accept().unwrap();
                let mut received = vec![0u8; SENT];
                peer.read_exact(&mut received).unwrap();
                peer.write_all(&vec![7u8; ANSWERED]).unwrap();
            });
            let mut client = TcpStream::connect(server_addr).unwrap();
            let client_port = client.local_addr().unwrap().port();
            client.write_all(&vec![1u8; SENT]).unwrap();
            let mut answer = vec![0u8; ANSWERED];
            client.read_exact(&mut answer).unwrap();
            serve.join().unwrap();
            drop(client);
            // A program whose name is the marker: exec names the process after its file.
            let program = std::env::temp_dir().join(&marker);
            let _ = std::fs::remove_file(&program);
            std::os::unix::fs::symlink("/bin/true", &program).unwrap();
            let status = std::process::Command::new(&program).status().unwrap();
            assert!(status.success());
            std::fs::remove_file(&program).unwrap();
            // DNS against a responder on a loopback address of its own, port 53.
            let responder = UdpSocket::bind("127.0.0.77:53").expect("port 53 on 127.0.0.77");
            std::thread::spawn(move || dns_responder(responder));
            let resolver = UdpSocket::bind("127.0.0.1:0").unwrap();
            resolver
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            resolver
                .send_to(
                    &dns_query(&format!("{marker}.example")),
                    "127.0.0.77:53".parse::<SocketAddr>().unwrap(),
                )
                .unwrap();
            let mut reply = [0u8; 512];
            resolver.recv_from(&mut reply).unwrap();
            (server_addr, client_port)
        })
    };
    let (server_addr, client_port) = tokio::task::spawn_blocking(move || work.join().unwrap())
        .await
        .unwrap();

    let wanted = marker.clone();
    let records = tokio::task::spawn_blocking(move || {
        let marker = wanted;
        let mut connection = None;
        let mut process = None;
        let mut dns = None;
        let mut flow = None;
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut buffer = [0u8; 65_536];
        let mut seen = 0;
        while Instant::now() < deadline
            && (connection.is_none() || process.is_none() || dns.is_none() || flow.is_none())
        {
            let Ok(length) = proxy.recv(&mut buffer) else {
                continue;
            };
            for line in buffer[..length]
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
            {
                seen += 1;
                let record: Value = serde_json::from_slice(line).expect("each line is JSON");
                match record["record_type"].as_str() {
                    Some("connection")
                        if record["src_port"] == client_port
                            && record["dst_port"] == server_addr.port() =>
                    {
                        connection = Some(record)
                    }
                    Some("process")
                        if record["event"] == "exec" && record["comm"] == marker.as_str() =>
                    {
                        process = Some(record)
                    }
                    Some("dns") if record["dns_query"] == format!("{marker}.example").as_str() => {
                        dns = Some(record)
                    }
                    Some("flow")
                        if record["dst_addr"] == "127.0.0.77" && record["dst_port"] == 53 =>
                    {
                        flow = Some(record)
                    }
                    _ => {}
                }
            }
        }
        (connection, process, dns, flow, seen)
    })
    .await
    .unwrap();
    stop.trigger();
    agent.await.unwrap().unwrap();
    let (connection, process, dns, flow, seen) = records;

    let connection = connection.unwrap_or_else(|| panic!("no connection record among {seen}"));
    assert_eq!(connection["direction"], "outbound");
    assert_eq!(connection["outcome"], "closed");
    assert_eq!(connection["src_addr"], "127.0.0.1");
    assert_eq!(connection["pid"], std::process::id());
    // The kernel counts sequence space: the payload, and one each for SYN and FIN.
    let sent = connection["bytes_sent"].as_u64().unwrap();
    assert!(
        (SENT as u64..=SENT as u64 + 2).contains(&sent),
        "{connection}"
    );
    let received = connection["bytes_received"].as_u64().unwrap();
    assert!(
        (ANSWERED as u64..=ANSWERED as u64 + 2).contains(&received),
        "{connection}"
    );
    assert!(connection["duration_us"].as_u64().is_some());

    let process = process.unwrap_or_else(|| panic!("no process record among {seen}"));
    assert!(process["pid"].as_u64().unwrap() > 0);
    assert_eq!(process["ppid"], std::process::id());
    assert_eq!(process["uid"], 0);
    assert_eq!(process["user"], "root");
    assert!(
        process["exe"].as_str().unwrap().ends_with(&marker),
        "{process}"
    );

    let dns = dns.unwrap_or_else(|| panic!("no dns record among {seen}"));
    assert_eq!(dns["dns_type"], "A");
    assert_eq!(dns["dns_rcode"], "NOERROR");
    assert_eq!(dns["dns_answers"], "192.0.2.55");
    assert_eq!(dns["dst_addr"], "127.0.0.77");
    assert_eq!(dns["dst_port"], 53);
    assert!(dns["dns_latency_us"].as_u64().is_some());

    // The query's one datagram, counted in the kernel: IP and UDP headers and the question.
    let flow = flow.unwrap_or_else(|| panic!("no flow record among {seen}"));
    let query_len = dns_query(&format!("{marker}.example")).len() as u64;
    assert_eq!(flow["ip_protocol"], 17);
    assert_eq!(flow["packets"], 1, "{flow}");
    assert_eq!(flow["bytes"], 20 + 8 + query_len, "{flow}");
}
