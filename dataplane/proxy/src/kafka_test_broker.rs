//! A real Kafka broker for tests: the `tansu` broker from crates.io (`cargo xtask test` builds
//! it once, outside the clone), one process per test on a free port with in-memory storage, and
//! a producer and admin client of librdkafka to feed it. Shared by the kafka input's tests and
//! the end-to-end test (`tests/kafka_end_to_end.rs` includes this file).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Where `cargo xtask test` installs tansu; `BYTEFREEZER_TANSU` names another binary.
const INSTALLED_TANSU: &str = "/var/tmp/bytefreezer-tools/tansu/bin/tansu";

pub struct TestBroker {
    process: Child,
    pub brokers: String,
}

fn tansu_binary() -> PathBuf {
    let path = std::env::var_os("BYTEFREEZER_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(INSTALLED_TANSU));
    assert!(
        path.is_file(),
        "these tests need the tansu Kafka broker at {} (set BYTEFREEZER_TANSU to use another): \
         `cargo xtask test` builds it, or run `cargo install tansu --locked --features dynostore \
         --root /var/tmp/bytefreezer-tools/tansu`",
        path.display()
    );
    path
}

impl TestBroker {
    /// Starts a broker and waits until it answers metadata requests.
    pub fn start() -> TestBroker {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free TCP port");
        let url = format!("tcp://127.0.0.1:{port}");
        let process = Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the tansu broker");
        let broker = TestBroker {
            process,
            brokers: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    /// Creates `topic` with `partitions` partitions.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .expect("an admin client");
        let created = admin
            .create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("the broker answers CreateTopics");
        for result in created {
            result.unwrap_or_else(|(topic, code)| panic!("create topic {topic}: {code}"));
        }
    }

    pub fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("linger.ms", "5")
            .create()
            .expect("a producer")
    }

    /// Produces `{"seq":N,...}` for each of `seqs`, keyed by the seq so partitions share them,
    /// and waits for every delivery.
    pub async fn produce_seqs(&self, topic: &str, seqs: std::ops::Range<u64>) {
        let producer = self.producer();
        let mut deliveries = Vec::new();
        for seq in seqs {
            let key = seq.to_string();
            let value = format!("{{\"seq\":{seq},\"user\":{{\"name\":\"u{}\"}}}}", seq % 5);
            let record = FutureRecord::to(topic).key(&key).payload(&value);
            deliveries.push(
                producer
                    .send_result(record)
                    .unwrap_or_else(|(error, _)| panic!("cannot queue a message: {error}")),
            );
        }
        for delivery in deliveries {
            delivery
                .await
                .expect("the producer answers")
                .unwrap_or_else(|(error, _)| panic!("delivery failed: {error}"));
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
