//! A query past its deadline is cancelled: it stops using CPU and gives its turn back. In its own
//! test binary, so no other test's queries share the process whose CPU time it measures.

use std::time::{Duration, Instant};

use bytefreezer_query::{QueryError, QueryLimits};

#[path = "support/tenants.rs"]
mod tenants;

use tenants::{ENDLESS, two_tenants};

/// User plus system CPU time of this whole process, from /proc (clock ticks of 10 ms).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// The reproduction: two endless queries of one tenant answer at their limit, are
/// really cancelled (the process stops using CPU), and another tenant's trivial query answers
/// at once, even while they run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_queries_stop_and_leave_room_for_other_tenants() {
    let (_dir, engine) = two_tenants();
    let limits = QueryLimits {
        timeout_secs: 2,
        ..QueryLimits::default()
    };
    let started = Instant::now();
    let endless: Vec<_> = (0..2)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.run("t", "fw", ENDLESS, limits, false).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let other = Instant::now();
    let trivial = engine
        .run("u", "fw", "SELECT 1 AS one", QueryLimits::default(), false)
        .await
        .unwrap();
    assert_eq!(trivial.rows[0]["one"], 1);
    assert!(
        other.elapsed() < Duration::from_secs(2),
        "tenant u waited {:?} behind tenant t",
        other.elapsed()
    );
    let mut outcomes = Vec::new();
    for query in endless {
        outcomes.push(query.await.unwrap());
    }
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            Err(QueryError::Timeout(2)) | Err(QueryError::TenantBusy { .. })
        )),
        "{outcomes:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // Cancelled means stopped: over the next second the process is nearly idle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = process_cpu();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = process_cpu() - before;
    assert!(
        used < Duration::from_millis(300),
        "the cancelled queries still burn CPU: {used:?} in 1 s"
    );
    let after = Instant::now();
    let same_tenant = engine
        .run("t", "fw", "SELECT 1 AS one", QueryLimits::default(), false)
        .await
        .unwrap();
    assert_eq!(same_tenant.rows[0]["one"], 1);
    assert!(
        after.elapsed() < Duration::from_secs(2),
        "{:?}",
        after.elapsed()
    );
}
