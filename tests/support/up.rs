//! What the end-to-end tests share: a real `bytefreezer up` process on free ports, and readers
//! for the Parquet it writes (Rust and DuckDB). Included by each test file with `#[path]`.
// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use bytefreezer_api::metrics::PROXY_INPUT_UP;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rustix::process::{Pid, Signal, kill_process};

pub struct UpProcess {
    pub child: Child,
    pub http: SocketAddr,
    pub syslog: SocketAddr,
    pub netflow: SocketAddr,
    pub ipfix: SocketAddr,
    pub sflow: SocketAddr,
    /// The demo http dataset's address (`POST /events`).
    pub events: SocketAddr,
    /// The demo syslog-over-TCP dataset's address.
    pub syslog_tcp: SocketAddr,
    /// The demo ebpf dataset's address (NDJSON datagrams).
    pub ebpf: SocketAddr,
    pub data_dir: PathBuf,
}

impl UpProcess {
    pub fn start(data_dir: &Path, http: SocketAddr, syslog: SocketAddr) -> UpProcess {
        UpProcess::start_with(data_dir, http, syslog, &[])
    }

    pub fn start_with(
        data_dir: &Path,
        http: SocketAddr,
        syslog: SocketAddr,
        extra: &[&std::ffi::OsStr],
    ) -> UpProcess {
        UpProcess::start_with_env(data_dir, http, syslog, extra, &[])
    }

    /// [`UpProcess::start_with`] with variables set for the process (crash points, say).
    pub fn start_with_env(
        data_dir: &Path,
        http: SocketAddr,
        syslog: SocketAddr,
        extra: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
    ) -> UpProcess {
        let (netflow, ipfix, sflow) = (free_udp(), free_udp(), free_udp());
        let (events, syslog_tcp) = (free_tcp(), free_tcp());
        let ebpf = free_udp();
        let child = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
            .args(["up", "--no-fakedata", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .args([
                "--netflow-bind",
                &netflow.to_string(),
                "--ipfix-bind",
                &ipfix.to_string(),
                "--sflow-bind",
                &sflow.to_string(),
                "--events-bind",
                &events.to_string(),
                "--syslog-tcp-bind",
                &syslog_tcp.to_string(),
                "--ebpf-bind",
                &ebpf.to_string(),
            ])
            .args([
                "--http",
                &http.to_string(),
                "--syslog-bind",
                &syslog.to_string(),
            ])
            .env(
                "RUST_LOG",
                std::env::var("UP_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("start bytefreezer up");
        let process = UpProcess {
            child,
            http,
            syslog,
            netflow,
            ipfix,
            sflow,
            events,
            syslog_tcp,
            ebpf,
            data_dir: data_dir.to_path_buf(),
        };
        process.wait_until(
            Duration::from_secs(60),
            "/readyz says the proxy listens",
            |p| {
                reqwest::blocking::get(format!("http://{}/readyz", p.http))
                    .is_ok_and(|response| response.status() == 200)
            },
        );
        // A folder started before may hold datasets created since, each with its input.
        let inputs = process.metric(PROXY_INPUT_UP.name);
        assert!(
            inputs >= 7,
            "syslog (udp and tcp), netflow, ipfix, sflow, events and ebpf demo inputs: {inputs} up"
        );
        process
    }

    /// A control-plane API call with `up`'s proxy key: the status and the JSON answer (null
    /// when the body is not JSON).
    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let key = std::fs::read_to_string(self.data_dir.join("up-proxy.key")).unwrap();
        let mut request = reqwest::blocking::Client::new()
            .request(method, format!("http://{}{path}", self.http))
            .bearer_auth(key.trim());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        (
            status,
            response
                .json::<serde_json::Value>()
                .unwrap_or(serde_json::Value::Null),
        )
    }

    pub fn metrics(&self) -> Option<String> {
        let response = reqwest::blocking::get(format!("http://{}/metrics", self.http)).ok()?;
        response.text().ok()
    }

    /// Sum of a metric over all its label sets; 0 when absent or unreachable.
    pub fn metric(&self, name: &str) -> u64 {
        let Some(text) = self.metrics() else { return 0 };
        text.lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    pub fn wait_until(
        &self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&UpProcess) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if done(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out after {limit:?} waiting until {what}");
    }

    pub fn parquet_folder(&self) -> PathBuf {
        self.data_dir
            .join("buckets/packer/demo/syslog/data/parquet")
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        // A child that already exited is found by the wait below.
        let _ = kill_process(Pid::from_child(&self.child), Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "bytefreezer up did not stop within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process has ended (a crash point fired, say).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for UpProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process of a test, killed when the test ends however it ends.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_tcp() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

pub fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The message for sequence number `seq`: RFC 5424 with key=value and JSON bodies, RFC 3164,

#[derive(Default)]
pub struct ParquetRows {
    pub files: Vec<PathBuf>,
    pub seq: Vec<i64>,
    pub columns: HashMap<String, Vec<Option<String>>>,
}

/// Polls `done` every 100 ms until it holds; panics naming `what` after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {limit:?} waiting until {what}");
}

/// Rows in every finished Parquet file under `folder`.
pub fn count_rows(folder: &Path) -> usize {
    parquet_files(folder)
        .iter()
        .map(|file| parquet_rows(file))
        .sum()
}

/// Every finished Parquet file under `folder`, sorted (multipart uploads in progress have other
/// names); none when the folder does not exist yet.
pub fn parquet_files(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The rows a Parquet file's footer declares.
pub fn parquet_rows(file: &Path) -> usize {
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap()).unwrap();
    usize::try_from(reader.metadata().file_metadata().num_rows()).unwrap()
}

/// Every batch of one Parquet file.
pub fn parquet_batches(file: &Path) -> Vec<arrow::record_batch::RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|batch| batch.unwrap())
        .collect()
}

/// Reads every finished Parquet file under `folder`: its `seq` column, and `keep_columns` as text.
pub fn read_parquet(folder: &Path, keep_columns: &[&str]) -> ParquetRows {
    let mut rows = ParquetRows {
        files: parquet_files(folder),
        ..ParquetRows::default()
    };
    for file in &rows.files {
        for batch in parquet_batches(file) {
            let seq = arrow::compute::cast(
                batch.column_by_name("seq").expect("seq column"),
                &DataType::Int64,
            )
            .unwrap();
            let seq = seq.as_primitive::<Int64Type>();
            rows.seq
                .extend((0..seq.len()).map(|i| if seq.is_null(i) { -1 } else { seq.value(i) }));
            for name in keep_columns {
                let values = match batch.column_by_name(name) {
                    Some(column) => {
                        let text = arrow::compute::cast(column, &DataType::Utf8).unwrap();
                        let text = text.as_string::<i32>();
                        (0..text.len())
                            .map(|i| text.is_valid(i).then(|| text.value(i).to_owned()))
                            .collect()
                    }
                    None => vec![None; batch.num_rows()],
                };
                rows.columns
                    .entry(name.to_string())
                    .or_default()
                    .extend(values);
            }
        }
    }
    rows
}

/// Each row's `seq` with its `column` as text, sorted by `seq`.
pub fn seq_with(folder: &Path, column: &str) -> Vec<(i64, Option<String>)> {
    let rows = read_parquet(folder, &[column]);
    let mut pairs: Vec<(i64, Option<String>)> = rows
        .seq
        .iter()
        .copied()
        .zip(rows.columns[column].iter().cloned())
        .collect();
    pairs.sort();
    pairs
}

pub fn duckdb(sql: &str) -> String {
    let script = format!("import duckdb\nprint(duckdb.sql({sql:?}).fetchall())");
    let output = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "DuckDB failed (install with `cargo xtask install-test-deps`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
