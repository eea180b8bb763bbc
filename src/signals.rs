use anyhow::Result;
use tokio::signal::unix::{SignalKind, signal};

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, the signal systemd sends on stop.
pub async fn terminate() -> Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}
