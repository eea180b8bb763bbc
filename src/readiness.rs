//! `/readyz` for processes with inputs: ready once every active dataset's input is listening.

use std::time::Duration;

use bytefreezer_api::metrics::PROXY_INPUT_UP;
use bytefreezer_telemetry::{Readiness, Registry, Shutdown};

use crate::config_source::ConfigWatch;

const COMPONENT: &str = "proxy inputs";

/// Keeps the "proxy inputs" readiness true while as many inputs listen as there are active
/// datasets; a port held by another process keeps the proxy not ready, with the reason in logs.
pub fn track_inputs(
    registry: Registry,
    datasets: ConfigWatch,
    readiness: Readiness,
    mut shutdown: Shutdown,
) {
    readiness.register(COMPONENT);
    tokio::spawn(async move {
        loop {
            let expected = datasets
                .borrow()
                .datasets
                .iter()
                .filter(|d| d.active)
                .count() as u64;
            let listening = registry.counter_total(PROXY_INPUT_UP.name);
            readiness.set_ready(COMPONENT, listening >= expected);
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    });
}
