//! The syslog stream input against real sockets and a real spool: framing, truncation, TLS with
//! and without client certificates, a misframed stream, and a full spool pushing back on the
//! sender without losing a message.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use bytefreezer_api::metrics::{
    PROXY_INPUT_ERRORS_TOTAL, PROXY_INPUT_UP, PROXY_SYSLOG_TCP_CONNECTION_ERRORS_TOTAL,
    PROXY_SYSLOG_TCP_MESSAGES_TOTAL, PROXY_SYSLOG_TCP_TRUNCATED_TOTAL, PROXY_SYSLOG_TCP_WAITING,
};
use bytefreezer_api::{SyslogFraming, SyslogSourceSettings, SyslogTransport};
use bytefreezer_http_listen::TestPki;
use bytefreezer_telemetry::Registry;

use super::*;
use crate::input_test_support::TestSpool;

fn free_port() -> SocketAddr {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

struct Site {
    test: TestSpool,
    spool: Arc<Spool>,
    registry: Registry,
    inputs: SyslogStreamInputs,
}

impl Site {
    fn new(spool_bytes: u64) -> Site {
        let test = TestSpool::new(spool_bytes);
        let inputs = syslog_stream_inputs(test.runtime(1000));
        Site {
            spool: test.spool.clone(),
            registry: test.registry.clone(),
            test,
            inputs,
        }
    }

    async fn listen(&mut self, settings: SyslogSourceSettings) -> SyslogStreamDataset {
        let dataset = SyslogStreamDataset {
            tenant_id: "t".into(),
            dataset_id: "logs".into(),
            listen: format!("tcp://{}", settings.bind),
            settings,
            testing: false,
        };
        self.inputs.reconcile(std::slice::from_ref(&dataset)).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.registry.counter_total(PROXY_INPUT_UP.name) == 0 {
            assert!(Instant::now() < deadline, "the input never listened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        dataset
    }

    /// Every message in the spool, in the order written, taking the batches out.
    fn drain_messages(&self) -> Vec<Vec<u8>> {
        self.test
            .drain()
            .iter()
            .flat_map(|batch| {
                let raw = batch.column_by_name("raw").unwrap().as_binary::<i32>();
                raw.iter().map(|v| v.unwrap().to_vec()).collect::<Vec<_>>()
            })
            .collect()
    }
}

fn tcp(bind: SocketAddr) -> SyslogSourceSettings {
    SyslogSourceSettings {
        bind,
        transport: SyslogTransport::Tcp,
        ..SyslogSourceSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_cut_into_messages_and_stored_when_the_sender_closes() {
    let mut site = Site::new(1 << 30);
    let bind = free_port();
    site.listen(SyslogSourceSettings {
        max_message_bytes: 480,
        ..tcp(bind)
    })
    .await;
    let long = format!("<13>1 - h app - - - {}", "x".repeat(600));
    let truncated = long[..480].to_owned();
    let sent = tokio::task::spawn_blocking(move || {
        let mut first = StdStream::connect(bind).unwrap();
        // Octet counting, newlines, and one message split across writes.
        first.write_all(b"21 <13>1 - h app - - - a").unwrap();
        first
            .write_all(b"<13>Jan  1 00:00:00 h app: b\r\n<13>1 - h app - - - ")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        first.write_all(b"c\n").unwrap();
        first
            .write_all(format!("{long}\n<13>1 - h app - - - d").as_bytes())
            .unwrap();
        drop(first);
        let mut second = StdStream::connect(bind).unwrap();
        second.write_all(b"<13>1 - h app - - - e\n").unwrap();
    });
    sent.await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while site
        .registry
        .counter_total(PROXY_SYSLOG_TCP_MESSAGES_TOTAL.name)
        < 6
    {
        assert!(Instant::now() < deadline, "six messages never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    site.inputs.stop().await;
    let mut messages: Vec<String> = site
        .drain_messages()
        .into_iter()
        .map(|m| String::from_utf8(m).unwrap())
        .collect();
    messages.sort();
    let mut expected = vec![
        "<13>1 - h app - - - a".to_owned(),
        "<13>Jan  1 00:00:00 h app: b".to_owned(),
        "<13>1 - h app - - - c".to_owned(),
        truncated,
        "<13>1 - h app - - - d".to_owned(),
        "<13>1 - h app - - - e".to_owned(),
    ];
    expected.sort();
    assert_eq!(messages, expected);
    assert_eq!(
        site.registry
            .counter_total(PROXY_SYSLOG_TCP_TRUNCATED_TOTAL.name),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_breaks_its_declared_framing_is_closed_keeping_what_came_before() {
    let mut site = Site::new(1 << 30);
    let bind = free_port();
    site.listen(SyslogSourceSettings {
        framing: SyslogFraming::OctetCounting,
        ..tcp(bind)
    })
    .await;
    let closed = tokio::task::spawn_blocking(move || {
        let mut stream = StdStream::connect(bind).unwrap();
        stream.write_all(b"8 <13>good<13>no length here\n").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The proxy closes its end: the read sees the end of the stream, not a timeout.
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).map(|_| rest.len())
    });
    assert_eq!(closed.await.unwrap().unwrap(), 0);
    site.inputs.stop().await;
    assert_eq!(site.drain_messages(), vec![b"<13>good".to_vec()]);
    let errors = site
        .registry
        .series(PROXY_SYSLOG_TCP_CONNECTION_ERRORS_TOTAL.name);
    assert!(
        errors.iter().any(|(labels, count)| *count == 1
            && labels.contains(&("reason".to_owned(), "framing".to_owned()))),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_stops_reading_until_it_drains_and_loses_nothing() {
    // A spool of 1 MiB, held over its high-water mark by a batch waiting to ship.
    let mut site = Site::new(1 << 20);
    site.spool
        .write_promised_blocking("t", "other", 1, &vec![0u8; 950 << 10])
        .unwrap();
    assert!(site.spool.over_high_water());
    let bind = free_port();
    site.listen(tcp(bind)).await;
    const MESSAGES: usize = 200_000;
    let writer = std::thread::spawn(move || {
        let mut stream = StdStream::connect(bind).unwrap();
        for seq in 0..MESSAGES {
            let message = format!("<13>1 - h app - - - seq={seq:08} {}\n", "p".repeat(100));
            stream.write_all(message.as_bytes()).unwrap();
        }
    });
    // The sender fills the socket buffers and then waits: the proxy reads nothing meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !writer.is_finished(),
        "the proxy kept reading into a full spool"
    );
    assert_eq!(
        site.registry.counter_total(PROXY_SYSLOG_TCP_WAITING.name),
        1
    );
    assert_eq!(
        site.registry
            .counter_total(PROXY_SYSLOG_TCP_MESSAGES_TOTAL.name),
        0
    );
    // The waiting batch ships: the spool drains and the sender finishes.
    let waiting = site.spool.take_next().unwrap();
    site.spool.acknowledged(&waiting);
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.len() < MESSAGES {
        assert!(
            Instant::now() < deadline,
            "{} of {MESSAGES} messages arrived",
            received.len()
        );
        received.extend(site.drain_messages());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.join().unwrap();
    site.inputs.stop().await;
    received.extend(site.drain_messages());
    let sequence: Vec<usize> = received
        .iter()
        .map(|m| {
            let text = std::str::from_utf8(m).unwrap();
            let at = text.find("seq=").unwrap() + 4;
            text[at..at + 8].parse().unwrap()
        })
        .collect();
    assert_eq!(sequence, (0..MESSAGES).collect::<Vec<_>>());
}

async fn tls_send(
    bind: SocketAddr,
    pki: &TestPki,
    client_auth: bool,
    payload: &[u8],
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in
        <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_file_iter(
            &pki.ca_file,
        )
        .unwrap()
    {
        roots.add(certificate.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = if client_auth {
        let (chain, key) = pki.client("sender.example");
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    let tcp = tokio::net::TcpStream::connect(bind).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    stream.write_all(payload).await?;
    stream.flush().await?;
    stream.shutdown().await?;
    // TLS 1.3 reports a refused client certificate on the first read after the handshake.
    let mut rest = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates_takes_only_senders_the_ca_signed() {
    let mut site = Site::new(1 << 30);
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new(dir.path());
    let bind = free_port();
    let path = |p: &Path| Some(p.display().to_string());
    site.listen(SyslogSourceSettings {
        bind,
        transport: SyslogTransport::Tls,
        tls_cert_file: path(&pki.cert_file),
        tls_key_file: path(&pki.key_file),
        tls_client_ca_file: path(&pki.ca_file),
        ..SyslogSourceSettings::default()
    })
    .await;
    tls_send(
        bind,
        &pki,
        true,
        b"21 <13>1 - h app - - - a21 <13>1 - h app - - - b",
    )
    .await
    .unwrap();
    let refused = tls_send(bind, &pki, false, b"21 <13>1 - h app - - - c").await;
    assert!(refused.is_err(), "a sender without a certificate got in");
    let deadline = Instant::now() + Duration::from_secs(10);
    while site
        .registry
        .counter_total(PROXY_SYSLOG_TCP_CONNECTION_ERRORS_TOTAL.name)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "the refused handshake was not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    site.inputs.stop().await;
    assert_eq!(
        site.drain_messages(),
        vec![
            b"<13>1 - h app - - - a".to_vec(),
            b"<13>1 - h app - - - b".to_vec()
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_dataset_closes_its_port_and_keeps_what_it_read() {
    let mut site = Site::new(1 << 30);
    let bind = free_port();
    site.listen(tcp(bind)).await;
    let mut stream = tokio::net::TcpStream::connect(bind).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stream,
        b"<13>1 - h app - - - kept\n<13>1 - h app - - - partial",
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while site
        .registry
        .counter_total(PROXY_SYSLOG_TCP_MESSAGES_TOTAL.name)
        == 0
    {
        assert!(Instant::now() < deadline, "the first message never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Paused: the dataset leaves the configuration.
    site.inputs.reconcile(&[]).await;
    assert!(StdStream::connect(bind).is_err(), "the port is still open");
    assert_eq!(site.registry.counter_total(PROXY_INPUT_UP.name), 0);
    let mut messages = site.drain_messages();
    messages.sort();
    assert_eq!(
        messages,
        vec![
            b"<13>1 - h app - - - kept".to_vec(),
            b"<13>1 - h app - - - partial".to_vec()
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_dataset_without_its_certificate_does_not_open_as_plain_tcp() {
    // A configuration file is not validated by the control plane.
    let mut site = Site::new(1 << 30);
    let bind = free_port();
    let dataset = SyslogStreamDataset {
        tenant_id: "t".into(),
        dataset_id: "logs".into(),
        listen: format!("tls://{bind}"),
        settings: SyslogSourceSettings {
            bind,
            transport: SyslogTransport::Tls,
            ..SyslogSourceSettings::default()
        },
        testing: false,
    };
    site.inputs.reconcile(std::slice::from_ref(&dataset)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while site.registry.counter_total(PROXY_INPUT_ERRORS_TOTAL.name) == 0 {
        assert!(
            Instant::now() < deadline,
            "the refused settings were not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        StdStream::connect(bind).is_err(),
        "the port opened without TLS"
    );
    assert_eq!(site.registry.counter_total(PROXY_INPUT_UP.name), 0);
    site.inputs.stop().await;
}
