//! What every service shares to be observable and stoppable: tracing setup, a small metrics
//! registry rendered as Prometheus text, a bounded log of recent activity (jobs done and
//! failed), readiness flags, CPU/memory/disk samples of the process, the `/healthz`, `/readyz`, `/metrics` and `/activity` routes, and
//! the shutdown signal components wait on, and the crash points the kill harness arms.
//!
//! It must not know about datasets, buckets or any particular stage; stages register their own
//! counters here.

mod activity;
mod crash_points;
mod cycles;
mod metrics;
mod routes;
mod shutdown;
mod system;

pub use activity::{ActivityEvent, ActivityLog};
pub use crash_points::{CRASH_POINTS_VARIABLE, crash_point};
pub use cycles::run_cycles;
pub use metrics::{Counter, Gauge, Registry};
pub use routes::{Readiness, service_routes};
pub use shutdown::{Shutdown, ShutdownTrigger, shutdown_pair};
pub use system::{SystemSample, SystemSampler};

/// Logs to stderr, filtered by `RUST_LOG` (default `info`); `BYTEFREEZER_LOG_FORMAT=json` writes
/// one JSON object per line.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // One JSON object per line for log shippers (journald to Loki or Elasticsearch).
    let json = std::env::var("BYTEFREEZER_LOG_FORMAT").is_ok_and(|format| format == "json");
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
