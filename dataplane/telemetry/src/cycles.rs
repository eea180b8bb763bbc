use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;

use crate::shutdown::Shutdown;

/// Runs `cycle` until shutdown: again after `interval`, or at once when `wakeup` is notified,
/// so a stage reacts within milliseconds when poked and still polls when nobody pokes it. A
/// cycle in progress always finishes before the loop stops.
pub async fn run_cycles<F, Fut>(
    interval: Duration,
    wakeup: &Notify,
    mut shutdown: Shutdown,
    mut cycle: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    while !shutdown.is_triggered() {
        cycle().await;
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
