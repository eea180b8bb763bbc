//! What the durability tests share: a load of numbered events POSTed to the chain's `http`
//! input (never resent, so a second copy can only be the pipeline's doing), a count of every
//! sequence number in the Parquet on S3, the wait until the chain has drained, and the verdict:
//! every acknowledged event once, none twice. Included with `#[path]`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Int64Type};
use bytefreezer_storage::{Bucket, Buckets, S3Settings, StorageConfig};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::Rng;

use crate::chain::{Chain, DATASET, TENANT};

const EVENTS_PER_REQUEST: u64 = 50;

/// Which sequence numbers were sent, and which of them the proxy acknowledged with a 2xx.
#[derive(Default)]
pub struct Ledger {
    pub sent: u64,
    pub acknowledged: Vec<bool>,
    pub refused_requests: u64,
}

/// POSTs NDJSON batches of numbered events until told to stop; never resends, so an event
/// stored twice can only be the pipeline's doing.
/// With `per_second`, requests are paced to that many events a second (a steady site);
/// without, each follows the previous answer after 20 ms.
pub fn drive_load(url: String, stop: Arc<AtomicBool>, per_second: Option<u64>) -> Ledger {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut ledger = Ledger::default();
    let mut rng = rand::rng();
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some(rate) = per_second {
            let due = Duration::from_secs_f64(ledger.sent as f64 / rate.max(1) as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait.min(Duration::from_millis(100)));
                continue;
            }
        }
        let first = ledger.sent;
        let mut body = String::new();
        for seq in first..first + EVENTS_PER_REQUEST {
            // Random padding keeps the Parquet from compressing to nothing, so files hold
            // several row groups' worth of real bytes.
            let pad: u64 = rng.random();
            body.push_str(&format!(
                "{{\"seq\":{seq},\"pad\":\"{pad:016x}{:016x}\"}}\n",
                pad.rotate_left(17)
            ));
        }
        ledger.sent += EVENTS_PER_REQUEST;
        let acknowledged = client
            .post(&url)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .is_ok_and(|response| response.status().is_success());
        ledger.acknowledged.extend(std::iter::repeat_n(
            acknowledged,
            EVENTS_PER_REQUEST as usize,
        ));
        if !acknowledged {
            ledger.refused_requests += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ledger
}

/// How often each sequence number is in the dataset's Parquet; files are read once each.
pub struct ParquetCount {
    bucket: Bucket,
    dataset: &'static str,
    pub runtime: tokio::runtime::Runtime,
    pub files_read: HashMap<String, ()>,
    pub copies: HashMap<u64, u32>,
}

impl ParquetCount {
    /// The chain's `http` dataset.
    pub fn new(settings: &S3Settings) -> ParquetCount {
        ParquetCount::of(settings, DATASET)
    }

    pub fn of(settings: &S3Settings, dataset: &'static str) -> ParquetCount {
        ParquetCount {
            bucket: Bucket::s3("packer", &settings.packer_bucket, settings).unwrap(),
            dataset,
            runtime: tokio::runtime::Runtime::new().unwrap(),
            files_read: HashMap::new(),
            copies: HashMap::new(),
        }
    }

    pub fn refresh(&mut self) {
        let prefix = format!("{TENANT}/{}/data/parquet/", self.dataset);
        let listing = self.runtime.block_on(self.bucket.list(&prefix)).unwrap();
        for object in listing {
            if !object.key.ends_with(".parquet") || self.files_read.contains_key(&object.key) {
                continue;
            }
            let bytes = self
                .runtime
                .block_on(self.bucket.get(&object.key))
                .unwrap()
                .unwrap_or_else(|| panic!("{} listed, then gone", object.key));
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap_or_else(|e| panic!("{} is not a whole Parquet file: {e}", object.key))
                .build()
                .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let column = batch.column_by_name("seq").expect("a seq column");
                let seqs = arrow::compute::cast(column, &DataType::Int64).unwrap();
                for seq in seqs.as_primitive::<Int64Type>().iter() {
                    let seq = seq.expect("every row has its seq") as u64;
                    *self.copies.entry(seq).or_default() += 1;
                }
            }
            self.files_read.insert(object.key, ());
        }
    }

    pub fn found(&self, seq: u64) -> u32 {
        self.copies.get(&seq).copied().unwrap_or(0)
    }
}

pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// Objects still waiting in a bucket (leases and other bookkeeping under `_bytefreezer/` aside).
pub fn waiting(runtime: &tokio::runtime::Runtime, bucket: &Bucket) -> usize {
    runtime
        .block_on(bucket.list(&format!("{TENANT}/")))
        .unwrap()
        .iter()
        .filter(|object| !object.key.contains("/data/parquet/"))
        .count()
}

pub fn spool_files(folder: &std::path::Path) -> usize {
    walk(folder)
}

fn walk(folder: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                walk(&path)
            } else {
                usize::from(path.extension().is_some_and(|e| e == "arrows"))
            }
        })
        .sum()
}

/// The load, running on its own thread until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Ledger>,
}

impl Load {
    pub fn start(url: &str) -> Load {
        Load::paced(url, None)
    }

    /// At most `per_second` events a second (`None`: as fast as the proxy answers).
    pub fn paced(url: &str, per_second: Option<u64>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (url, stop) = (url.to_owned(), stop.clone());
            std::thread::spawn(move || drive_load(url, stop, per_second))
        };
        Load { stop, thread }
    }

    pub fn finish(self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Waits until the proxy's `http` input answers.
pub fn wait_for_input(chain: &mut Chain) {
    let probe = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while probe
        .post(&chain.events_url)
        .body("")
        .send()
        .map(|r| r.status() == 404 || r.status().is_server_error())
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "the proxy's http input did not open:\n{}",
            chain.log_tails(20)
        );
        chain.revive();
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What the Parquet holds against what was sent.
pub struct Verdict {
    pub acknowledged: u64,
    pub found: usize,
    pub files: usize,
    pub missing: Vec<u64>,
    pub duplicated: Vec<u64>,
    /// Unacknowledged events that landed (a request cut after its events were durable): allowed
    /// once.
    pub unacknowledged_found: u64,
    /// Rows whose seq was never sent.
    pub unknown: usize,
    /// Spool files, intake and piper objects still waiting, and the members' last log lines.
    pub leftovers: String,
}

impl Verdict {
    pub fn summary(&self, ledger: &Ledger) -> String {
        format!(
            "events sent {}, acknowledged {} ({} requests refused or cut), found {} in {} Parquet \
             files ({} of them unacknowledged, which may land at most once), missing {}, \
             duplicated {}",
            ledger.sent,
            self.acknowledged,
            ledger.refused_requests,
            self.found,
            self.files,
            self.unacknowledged_found,
            self.missing.len(),
            self.duplicated.len(),
        )
    }

    /// Fails the test with the evidence unless every acknowledged event is there exactly once.
    pub fn assert_exactly_once(&self) {
        let evidence = || {
            format!(
                "missing (first 10): {:?}; duplicated (first 10): {:?}; {}",
                &self.missing[..self.missing.len().min(10)],
                &self.duplicated[..self.duplicated.len().min(10)],
                self.leftovers
            )
        };
        assert!(
            self.acknowledged > 0,
            "nothing was acknowledged\n{}",
            evidence()
        );
        assert_eq!(
            self.unknown,
            0,
            "rows with a seq never sent\n{}",
            evidence()
        );
        assert!(
            self.missing.is_empty(),
            "acknowledged events lost\n{}",
            evidence()
        );
        assert!(
            self.duplicated.is_empty(),
            "events stored twice\n{}",
            evidence()
        );
    }
}

/// Lets the chain drain (members that stop on their own are restarted), then counts: done when
/// every acknowledged event is in Parquet and nothing waits in the spool or the buckets, or
/// once nothing has moved (no new Parquet file, no object or spool file gone) for `stalled`.
/// A backlog takes as long as it takes; a chain that stops moving fails the count.
pub fn drain_and_count(
    chain: &mut Chain,
    settings: &S3Settings,
    ledger: &Ledger,
    stalled: Duration,
) -> Verdict {
    let mut parquet = ParquetCount::new(settings);
    let buckets = Buckets::open(&StorageConfig::S3(settings.clone())).unwrap();
    let acknowledged = |seq: u64| ledger.acknowledged[seq as usize];
    let mut last_state = None;
    let mut last_moved = Instant::now();
    loop {
        chain.revive();
        parquet.refresh();
        let missing = (0..ledger.sent).any(|seq| acknowledged(seq) && parquet.found(seq) == 0);
        let state = (
            parquet.files_read.len(),
            spool_files(&chain.proxy_spool),
            waiting(&parquet.runtime, &buckets.intake),
            waiting(&parquet.runtime, &buckets.piper),
        );
        if (!missing && state.1 == 0 && state.2 == 0 && state.3 == 0)
            || last_moved.elapsed() > stalled
        {
            break;
        }
        if last_state != Some(state) {
            last_state = Some(state);
            last_moved = Instant::now();
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    // Anything still in flight would show up as a late duplicate.
    std::thread::sleep(Duration::from_secs(3));
    parquet.refresh();
    let mut verdict = Verdict {
        acknowledged: ledger.acknowledged.iter().filter(|a| **a).count() as u64,
        found: 0,
        files: parquet.files_read.len(),
        missing: Vec::new(),
        duplicated: Vec::new(),
        unacknowledged_found: 0,
        unknown: parquet.copies.keys().filter(|&&s| s >= ledger.sent).count(),
        leftovers: format!(
            "spool files {}, intake objects {}, piper objects {}\n{}",
            spool_files(&chain.proxy_spool),
            waiting(&parquet.runtime, &buckets.intake),
            waiting(&parquet.runtime, &buckets.piper),
            chain.log_tails(15)
        ),
    };
    for seq in 0..ledger.sent {
        let copies = parquet.found(seq);
        verdict.found += usize::from(copies > 0);
        if acknowledged(seq) && copies == 0 {
            verdict.missing.push(seq);
        }
        if copies > 1 {
            verdict.duplicated.push(seq);
        }
        if !acknowledged(seq) && copies > 0 {
            verdict.unacknowledged_found += 1;
        }
    }
    verdict
}

/// [`drain_and_count`], then the verdict a durability test asserts: no member stopped on its
/// own (only what the test killed), every acknowledged event in the Parquet exactly once.
/// `what` names the test in its printed summary.
pub fn drain_and_judge(
    chain: &mut Chain,
    settings: &S3Settings,
    ledger: &Ledger,
    stalled: Duration,
    what: &str,
) -> Verdict {
    let verdict = drain_and_count(chain, settings, ledger, stalled);
    println!("{what}: {}", verdict.summary(ledger));
    assert_eq!(
        chain.crashes(),
        0,
        "{what}: no role may stop on its own\n{}",
        chain.log_tails(30)
    );
    verdict.assert_exactly_once();
    verdict
}

/// The `[storage]` table for moto's buckets, reached at `endpoint` (moto itself, or a gate).
pub fn s3_storage_toml(endpoint: &str, settings: &S3Settings) -> String {
    format!(
        "[storage]\nkind = \"s3\"\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n\
         intake_bucket = \"{}\"\npiper_bucket = \"{}\"\npacker_bucket = \"{}\"\n\
         access_key_id = \"test\"\nsecret_access_key = \"test\"\n",
        settings.intake_bucket, settings.piper_bucket, settings.packer_bucket
    )
}
