//! The same pipeline as `up`, but each stage its own process with its own TOML file, as on
//! separate hosts: proxy → receiver → piper → packer, sharing only the bucket folder.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

struct Role(Child);

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(role: &str, config: &Path) -> Role {
    Role(
        Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args([role, "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start role"),
    )
}

fn free_tcp() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Rows in finished Parquet files; with `column`, only rows where that column is set.
fn parquet_rows(folder: &Path) -> usize {
    count_rows(folder, None)
}

fn count_rows(folder: &Path, column: Option<&str>) -> usize {
    let mut rows = 0;
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let reader =
                    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
                        .unwrap();
                for batch in reader.build().unwrap() {
                    let batch = batch.unwrap();
                    rows += match column {
                        None => batch.num_rows(),
                        Some(name) => batch
                            .column_by_name(name)
                            .map_or(0, |c| c.len() - c.null_count()),
                    };
                }
            }
        }
    }
    rows
}

#[test]
fn each_stage_as_its_own_process_produces_the_same_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let syslog = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let receiver = free_tcp();
    let key = "bf_roles_test_key";
    let key_sha256 = bytefreezer_api_hash(key);
    std::fs::write(
        root.join("datasets.toml"),
        format!(
            "[[datasets]]\ntenant_id = \"acme\"\ndataset_id = \"fw\"\ntesting = true\n\
             [datasets.source]\nplugin = \"syslog\"\n[datasets.source.settings]\nbind = \"{syslog}\"\n\n\
             [[ingest_keys]]\nname = \"edge\"\nkey_sha256 = \"{key_sha256}\"\ntenant_id = \"acme\"\n"
        ),
    )
    .unwrap();
    let datasets = format!(
        "datasets = {{ kind = \"file\", path = \"{}\" }}",
        root.join("datasets.toml").display()
    );
    let storage = format!(
        "[storage]\nkind = \"local\"\nroot = \"{}\"",
        root.join("buckets").display()
    );
    let write = |name: &str, text: String| {
        let path = root.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let proxy = write(
        "proxy.toml",
        format!(
            "metrics_listen = \"{}\"\n{datasets}\n[proxy]\nreceiver_url = \"http://{receiver}\"\napi_key = \"{key}\"\nspool_dir = \"{}\"\n",
            free_tcp(),
            root.join("spool").display()
        ),
    );
    let receiver_metrics = free_tcp();
    let receiver_config = write(
        "receiver.toml",
        format!(
            "metrics_listen = \"{receiver_metrics}\"\n{datasets}\n{storage}\n[receiver]\nlisten = \"{receiver}\"\n"
        ),
    );
    let piper = write(
        "piper.toml",
        format!(
            "data_dir = \"{}\"\nmetrics_listen = \"{}\"\n{datasets}\n{storage}\n[piper]\npoll_interval_ms = 200\n",
            root.display(),
            free_tcp()
        ),
    );
    let packer = write(
        "packer.toml",
        format!(
            "data_dir = \"{}\"\nmetrics_listen = \"{}\"\n{datasets}\n{storage}\n[packer]\npoll_interval_ms = 200\n",
            root.display(),
            free_tcp()
        ),
    );
    let _roles = [
        start("receiver", &receiver_config),
        start("piper", &piper),
        start("packer", &packer),
        start("proxy", &proxy),
    ];

    // The proxy binds its socket shortly after start; resend until the first rows arrive.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let folder = root.join("buckets/packer/acme/fw/data/parquet");
    let deadline = Instant::now() + Duration::from_secs(60);
    while parquet_rows(&folder) == 0 {
        assert!(
            Instant::now() < deadline,
            "no Parquet from the separate roles within 60 s"
        );
        socket
            .send_to(b"<13>1 - probe app - - - warmup=1", syslog)
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let seq_rows = |folder: &Path| count_rows(folder, Some("seq"));
    for n in 0..1000 {
        socket
            .send_to(format!("<13>1 - host app - - - seq={n}").as_bytes(), syslog)
            .unwrap();
        if n % 50 == 49 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while seq_rows(&folder) < 1000 {
        assert!(
            Instant::now() < deadline,
            "only {} of 1000 rows arrived",
            seq_rows(&folder)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let total = seq_rows(&folder);
    assert_eq!(total, 1000, "no duplicates");

    // The receiver's counters are on its local metrics listener, not on the public ingest port.
    let get = |url: String| reqwest::blocking::get(url).unwrap();
    let metrics = get(format!("http://{receiver_metrics}/metrics"))
        .text()
        .unwrap();
    assert!(
        metrics.contains("bytefreezer_receiver_rows_total{"),
        "{metrics}"
    );
    for path in ["metrics", "activity", "readyz"] {
        let status = get(format!("http://{receiver}/{path}")).status();
        assert_eq!(status, 404, "/{path} on the receiver's public port");
    }
    assert_eq!(get(format!("http://{receiver}/healthz")).status(), 200);
}

fn bytefreezer_api_hash(key: &str) -> String {
    // sha256sum of the key, as an operator would compute it for datasets.toml.
    let output = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(key.as_bytes())?;
            child.wait_with_output()
        });
    String::from_utf8(output.expect("sha256sum").stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}
