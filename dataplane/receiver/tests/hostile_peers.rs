//! The ingest listener against hostile peers: floods of unauthenticated bodies, slow senders,
//! too many connections, and Arrow IPC bodies whose declared sizes lie. Each test asserts what a
//! peer sees (status, closed connection), what the process holds (RSS) and the counter.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int64Array, TimestampMicrosecondArray};
use arrow::record_batch::RecordBatch;
use bytefreezer_api::metrics::{
    RECEIVER_CONNECTION_ERRORS_TOTAL, RECEIVER_CONNECTIONS, RECEIVER_REJECTED_TOTAL,
};
use bytefreezer_api::{
    DataPlaneConfig, DatasetSpec, IngestKey, SourceSpec, SyslogSourceSettings, hash_api_key,
};
use bytefreezer_receiver::{ARROW_STREAM_CONTENT_TYPE, Receiver, ReceiverConfig};
use bytefreezer_schema::{IpcCompression, encode_ipc, encode_ipc_with};
use bytefreezer_storage::{Buckets, StorageConfig};
use bytefreezer_telemetry::{Registry, shutdown_pair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "bf_test_key_hostile";
const PATH: &str = "/api/v1/ingest/a/logs";

fn datasets() -> DataPlaneConfig {
    DataPlaneConfig {
        datasets: vec![DatasetSpec {
            tenant_id: "a".into(),
            dataset_id: "logs".into(),
            name: "logs".into(),
            source: SourceSpec::Syslog(SyslogSourceSettings::default()),
            pipeline: Default::default(),
            testing: true,
            active: true,
            packer: Default::default(),
            destination: Default::default(),
        }],
        ingest_keys: vec![IngestKey {
            name: "k".into(),
            key_sha256: hash_api_key(KEY),
            tenant_id: "a".into(),
            dataset_id: None,
        }],
        ..Default::default()
    }
}

struct Running {
    address: SocketAddr,
    registry: Registry,
    _dir: tempfile::TempDir,
    _stop: bytefreezer_telemetry::ShutdownTrigger,
}

impl Running {
    fn url(&self) -> String {
        format!("http://{}{PATH}", self.address)
    }
    fn rejected(&self, reason: &str) -> u64 {
        self.registry
            .counter(
                RECEIVER_REJECTED_TOTAL.name,
                RECEIVER_REJECTED_TOTAL.help,
                &[("reason", reason)],
            )
            .get()
    }
    fn connection_errors(&self, reason: &str) -> u64 {
        self.registry
            .counter(
                RECEIVER_CONNECTION_ERRORS_TOTAL.name,
                RECEIVER_CONNECTION_ERRORS_TOTAL.help,
                &[("reason", reason)],
            )
            .get()
    }
}

async fn start(tune: impl FnOnce(&mut ReceiverConfig)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let buckets = Buckets::open(&StorageConfig::Local {
        root: dir.path().join("buckets"),
    })
    .unwrap();
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = ReceiverConfig {
        listen: address,
        ..ReceiverConfig::default()
    };
    tune(&mut config);
    let (sender, watch) = tokio::sync::watch::channel(Arc::new(datasets()));
    std::mem::forget(sender);
    let registry = Registry::new();
    let receiver = Receiver::new(config, buckets.intake.clone(), watch, registry.clone());
    let (stop, shutdown) = shutdown_pair();
    tokio::spawn(receiver.run(shutdown));
    for _ in 0..100 {
        if TcpStream::connect(address).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Running {
        address,
        registry,
        _dir: dir,
        _stop: stop,
    }
}

fn arrow_body(rows: i64) -> Vec<u8> {
    let batch = RecordBatch::try_from_iter(vec![
        (
            "receive_time",
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_i64; rows as usize]).with_timezone("UTC"),
            ) as ArrayRef,
        ),
        (
            "n",
            Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef,
        ),
    ])
    .unwrap();
    encode_ipc(&[batch]).unwrap()
}

async fn post_arrow(url: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(KEY)
        .header("content-type", ARROW_STREAM_CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// Samples this process's RSS every 20 ms until dropped; `peak` holds the highest.
struct RssWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssWatch {
    fn start() -> RssWatch {
        let peak = Arc::new(AtomicU64::new(rss_bytes()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssWatch { peak, stop }
    }
    fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Sends headers declaring `length` bytes, then pushes zeros until the peer closes or answers;
/// returns the status code the receiver answered, if one arrived.
async fn flood(address: SocketAddr, headers: String, length: u64) -> Option<u16> {
    let stream = TcpStream::connect(address).await.ok()?;
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let head = format!(
            "POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: {ARROW_STREAM_CONTENT_TYPE}\r\ncontent-length: {length}\r\n{headers}\r\n"
        );
        write.write_all(head.as_bytes()).await?;
        let chunk = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        while sent < length {
            let n = chunk.len().min((length - sent) as usize);
            write.write_all(&chunk[..n]).await?;
            sent += n as u64;
        }
        std::io::Result::Ok(())
    });
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_secs(30), read.read(&mut buffer)).await
    {
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..n]);
        if response.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    writer.abort();
    status_of(&response)
}

fn status_of(response: &[u8]) -> Option<u16> {
    std::str::from_utf8(response.get(9..12)?).ok()?.parse().ok()
}

/// Opens a connection and sends `head` one byte every `pace`; returns how long the receiver
/// kept it open and the status it answered, if any.
async fn trickle(address: SocketAddr, head: Vec<u8>, pace: Duration) -> (Duration, Option<u16>) {
    let started = Instant::now();
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        for byte in head {
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(pace).await;
        }
        // Keep the write half open: a half-close would look like a finished request.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(write);
    });
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), read.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => response.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    writer.abort();
    (started.elapsed(), status_of(&response))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_floods_and_slow_senders_stay_within_the_memory_bound() {
    let running = start(|config| {
        config.header_timeout_secs = 2;
        config.body_timeout_secs = 3;
    })
    .await;
    let address = running.address;
    // Warm up: the first request allocates the runtime's and the store's lasting buffers.
    assert_eq!(
        post_arrow(&running.url(), arrow_body(10)).await.status(),
        201
    );
    let baseline = rss_bytes();
    let watch = RssWatch::start();

    let floods: Vec<_> = (0..100)
        .map(|i| {
            // No key, a wrong key, and a key for a tenant it does not own: all answered from
            // the headers.
            let auth = match i % 3 {
                0 => String::new(),
                1 => "authorization: Bearer wrong\r\n".to_owned(),
                _ => format!("authorization: Bearer {KEY}\r\ncontent-encoding: br\r\n"),
            };
            tokio::spawn(flood(address, auth, 60 * 1024 * 1024))
        })
        .collect();
    let pace = Duration::from_millis(500);
    let slow_headers: Vec<_> = (0..25)
        .map(|_| {
            let head = format!(
                "POST {PATH} HTTP/1.1\r\nhost: x\r\nx-slow: {}\r\n",
                "a".repeat(64)
            );
            tokio::spawn(trickle(address, head.into_bytes(), pace))
        })
        .collect();
    let slow_bodies: Vec<_> = (0..25)
        .map(|_| {
            let mut head = format!(
                "POST {PATH} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\ncontent-type: {ARROW_STREAM_CONTENT_TYPE}\r\ncontent-length: 1000\r\n\r\n"
            )
            .into_bytes();
            // The headers arrive at once; the body trickles.
            let body = vec![0u8; 1000];
            let header_length = head.len();
            head.extend_from_slice(&body);
            tokio::spawn(async move {
                let stream = TcpStream::connect(address).await.unwrap();
                let (mut read, mut write) = stream.into_split();
                write.write_all(&head[..header_length]).await.unwrap();
                let writer = tokio::spawn(async move {
                    for byte in &head[header_length..] {
                        if write.write_all(&[*byte]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(pace).await;
                    }
                });
                let started = Instant::now();
                let mut response = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(60), read.read_to_end(&mut response)).await;
                writer.abort();
                (started.elapsed(), status_of(&response))
            })
        })
        .collect();

    // While all of that is going on, an authorized proxy still ships.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shipped = post_arrow(&running.url(), arrow_body(25)).await;
    assert_eq!(
        shipped.status(),
        201,
        "an authorized batch during the flood"
    );

    let mut answered = 0;
    for flood in floods {
        // None: the receiver closed before the client read its answer.
        if let Some(status) = flood.await.unwrap() {
            assert!([401, 404, 415].contains(&status), "flood got {status}");
            answered += 1;
        }
    }
    assert!(
        answered >= 50,
        "only {answered} of 100 floods saw their 4xx"
    );
    for slow in slow_headers {
        let (open_for, status) = slow.await.unwrap();
        assert_eq!(status, None, "a request whose headers never finished");
        assert!(
            open_for < Duration::from_secs(6),
            "a header trickler was kept {open_for:?} (header_timeout_secs = 2)"
        );
    }
    for slow in slow_bodies {
        let (open_for, status) = slow.await.unwrap();
        assert_eq!(status, Some(408), "a body trickler");
        assert!(open_for < Duration::from_secs(7), "{open_for:?}");
    }
    let growth = watch.peak().saturating_sub(baseline);
    drop(watch);
    // Documented bound: unauthenticated bodies are never read, so the flood costs hyper's read
    // buffer (64 KiB) per connection: 150 connections, under 16 MiB; 64 MiB leaves room for the
    // allocator and the test's own client.
    assert!(
        growth < 64 * 1024 * 1024,
        "RSS grew by {} MiB during the flood",
        growth / (1024 * 1024)
    );
    assert!(running.rejected("no_key") + running.rejected("bad_key") >= 60);
    assert_eq!(running.rejected("body_timeout"), 25);
    assert!(running.connection_errors("header_timeout") >= 25);
}

#[tokio::test]
async fn bodies_beyond_the_inflight_budget_get_503_with_retry_after() {
    let running = start(|config| {
        config.max_inflight_bytes = 1024 * 1024;
        config.body_timeout_secs = 10;
    })
    .await;
    // A slow authorized sender declares 800 KiB and is reserved for it before it sends any.
    let mut slow = TcpStream::connect(running.address).await.unwrap();
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\ncontent-type: {ARROW_STREAM_CONTENT_TYPE}\r\ncontent-length: {}\r\n\r\nx",
        800 * 1024
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let busy = post_arrow(&running.url(), vec![0u8; 400 * 1024]).await;
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_eq!(running.rejected("busy"), 1);
    let never = post_arrow(&running.url(), vec![0u8; 1100 * 1024]).await;
    assert_eq!(
        never.status(),
        413,
        "more than the whole budget can never fit"
    );
    drop(slow);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        post_arrow(&running.url(), arrow_body(5)).await.status(),
        201,
        "the budget is released when the slow sender goes"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let running = start(|config| {
        config.max_connections = 2;
        config.header_timeout_secs = 2;
    })
    .await;
    let idle = [
        TcpStream::connect(running.address).await.unwrap(),
        TcpStream::connect(running.address).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        running
            .registry
            .gauge(RECEIVER_CONNECTIONS.name, RECEIVER_CONNECTIONS.help, &[])
            .get(),
        2
    );
    let started = Instant::now();
    let response = post_arrow(&running.url(), arrow_body(3)).await;
    assert_eq!(response.status(), 201);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "the third connection was served before an idle one timed out ({:?})",
        started.elapsed()
    );
    assert!(running.connection_errors("header_timeout") >= 1);
    drop(idle);
}

/// A stream of one Int64 column of `rows` zeros: it compresses about 250x with LZ4 and over
/// 1000x with zstd.
fn zeros(rows: usize, compression: IpcCompression) -> Vec<u8> {
    let batch = RecordBatch::try_from_iter(vec![(
        "n",
        Arc::new(Int64Array::from(vec![0_i64; rows])) as ArrayRef,
    )])
    .unwrap();
    encode_ipc_with(&[batch], compression).unwrap()
}

/// Where the body of the stream's first record batch starts: after the schema message (which
/// has no body) and the batch's own metadata, each behind a continuation and a length.
fn batch_body_start(stream: &[u8]) -> usize {
    let length = |at: usize| i32::from_le_bytes(stream[at..at + 4].try_into().unwrap()) as usize;
    let schema_end = 8 + length(4);
    schema_end + 8 + length(schema_end + 4)
}

/// Replaces the only occurrence of `from` (after `skip` bytes) by `to`.
fn patch(bytes: &mut [u8], skip: usize, from: &[u8], to: &[u8]) {
    let found: Vec<usize> = bytes[skip..]
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(at, _)| at + skip)
        .collect();
    assert_eq!(found.len(), 1, "{from:?} at {found:?}");
    let at = found[0];
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[tokio::test]
async fn bodies_declaring_more_than_they_hold_or_the_limits_get_400_or_413() {
    let running = start(|config| {
        config.max_decoded_bytes = 32 * 1024 * 1024;
        config.max_decoded_buffer_bytes = 8 * 1024 * 1024;
    })
    .await;
    let url = running.url();
    let rows = 2 * 1024 * 1024; // 16 MiB of values

    let lz4 = zeros(rows, IpcCompression::Lz4);
    assert!(
        lz4.len() * 200 < rows * 8,
        "LZ4 expands {}x",
        rows * 8 / lz4.len()
    );
    let response = post_arrow(&url, lz4.clone()).await;
    assert_eq!(response.status(), 413);
    assert_eq!(running.rejected("ipc_too_large"), 1);

    // The same frame claiming to hold 8 bytes: arrow-ipc would inflate it all before noticing.
    let mut lying = lz4;
    // The values buffer is the body's first (the validity buffer is empty): its prefix leads.
    let body = batch_body_start(&lying);
    assert_eq!(lying[body..body + 8], (rows as i64 * 8).to_le_bytes());
    lying[body..body + 8].copy_from_slice(&8_i64.to_le_bytes());
    let response = post_arrow(&url, lying).await;
    let (status, text) = (response.status(), response.text().await.unwrap());
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("more than its declared 8 bytes"), "{text}");
    assert_eq!(running.rejected("bad_arrow"), 1);

    let zstd = zeros(rows, IpcCompression::Zstd);
    assert!(
        zstd.len() * 1000 < rows * 8,
        "zstd expands {}x",
        rows * 8 / zstd.len()
    );
    assert_eq!(post_arrow(&url, zstd).await.status(), 413);
    assert_eq!(running.rejected("ipc_too_large"), 2);

    // A record batch message whose body claims 2^46 bytes.
    let mut huge_body = arrow_body(4);
    let body_start = batch_body_start(&huge_body);
    let body_length = huge_body.len() - body_start - 8; // minus the end marker
    let schema_end = 8 + i32::from_le_bytes(huge_body[4..8].try_into().unwrap()) as usize;
    // bodyLength is a field of the batch's metadata, between its length and its body.
    patch(
        &mut huge_body[..body_start],
        schema_end + 8,
        &(body_length as i64).to_le_bytes(),
        &(1_i64 << 46).to_le_bytes(),
    );
    let response = post_arrow(&url, huge_body).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("70368744177664"));
    assert_eq!(running.rejected("ipc_length"), 1);

    // A metadata length of 2 GiB in a 16-byte body.
    let mut huge_meta = vec![0xFF, 0xFF, 0xFF, 0xFF];
    huge_meta.extend_from_slice(&i32::MAX.to_le_bytes());
    huge_meta.extend_from_slice(&[0; 8]);
    assert_eq!(post_arrow(&url, huge_meta).await.status(), 400);
    assert_eq!(running.rejected("ipc_length"), 2);

    assert_eq!(
        post_arrow(&url, arrow_body(7)).await.status(),
        201,
        "an honest body still passes"
    );
}
