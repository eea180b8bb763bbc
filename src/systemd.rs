//! systemd's notification protocol (sd_notify(3)), spoken directly over `$NOTIFY_SOCKET`: a
//! role under `Type=notify` says READY=1 once it runs (its endpoints listen), keeps STATUS=
//! saying whether `/readyz` is ready and what is not, pings the watchdog while its runtime
//! still schedules work, and says STOPPING=1 when it starts to shut down. READY does not wait
//! for every input: a dataset whose port another process holds must not keep the whole role
//! (and its other datasets) in systemd's start timeout and restart loop. No socket in the
//! environment (not run by systemd): nothing is sent.

use std::ffi::OsString;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use bytefreezer_telemetry::{Readiness, Shutdown};

/// How often readiness is looked at for STATUS=.
const READY_POLL: Duration = Duration::from_millis(200);

/// Where notifications go: `$NOTIFY_SOCKET`, a path or (`@name`) an abstract socket.
#[derive(Debug, Clone)]
pub struct Notifier {
    socket: OsString,
}

impl Notifier {
    pub fn from_env() -> Option<Notifier> {
        let socket = std::env::var_os("NOTIFY_SOCKET")?;
        (!socket.is_empty()).then_some(Notifier { socket })
    }

    /// Sends one notification (`READY=1`, `WATCHDOG=1`, `STATUS=...`, newline separated).
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        let bytes = self.socket.as_encoded_bytes();
        match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(state.as_bytes(), &address)?;
            }
            None => {
                socket.send_to(state.as_bytes(), &self.socket)?;
            }
        }
        Ok(())
    }
}

/// The watchdog interval systemd asked for (`WatchdogSec=`), when it asked this process.
fn watchdog_interval() -> Option<Duration> {
    let micros: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    let for_us = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_none_or(|pid| pid == std::process::id());
    (for_us && micros > 0).then(|| Duration::from_micros(micros))
}

/// Tells systemd the role runs and how ready it is, keeps its watchdog fed, and says when it
/// stops. The caller awaits the returned supervisor before its process exits: a role with
/// little to finish returns from its work before this task is scheduled again, and a dropped
/// runtime would cancel STOPPING=1 unsent.
pub fn supervise(readiness: Readiness, mut shutdown: Shutdown) -> Supervisor {
    let Some(notifier) = Notifier::from_env() else {
        return Supervisor(None);
    };
    let send = move |state: &str| {
        if let Err(error) = notifier.notify(state) {
            tracing::warn!("cannot tell systemd {state:?}: {error}");
        }
    };
    let watchdog = watchdog_interval();
    Supervisor(Some(tokio::spawn(async move {
        send("READY=1");
        let mut status = String::new();
        // Pinged at half the interval, as sd_watchdog_enabled(3) advises.
        let ping_every = watchdog.map_or(READY_POLL, |interval| (interval / 2).max(READY_POLL));
        let mut ping = tokio::time::interval(READY_POLL);
        let mut last_ping = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = ping.tick() => {}
                _ = shutdown.wait() => {
                    send("STOPPING=1\nSTATUS=finishing what it holds");
                    return;
                }
            }
            let not_ready = readiness.not_ready();
            let now = if not_ready.is_empty() {
                "STATUS=serving".to_owned()
            } else {
                format!("STATUS=not ready: {}", not_ready.join(", "))
            };
            if now != status {
                send(&now);
                status = now;
            }
            if watchdog.is_some() && last_ping.elapsed() >= ping_every {
                last_ping = tokio::time::Instant::now();
                send("WATCHDOG=1");
            }
        }
    })))
}

/// The task speaking to systemd, if systemd is listening.
pub struct Supervisor(Option<tokio::task::JoinHandle<()>>);

impl Supervisor {
    /// Waits until STOPPING=1 is sent; call once shutdown was triggered.
    pub async fn stopped(self) {
        if let Some(task) = self.0
            && let Err(error) = task.await
        {
            tracing::warn!("the systemd notifier stopped abnormally: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_a_path_socket_and_an_abstract_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            socket: path.into_os_string(),
        };
        notifier.notify("READY=1").unwrap();
        let mut buffer = [0u8; 64];
        let read = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..read], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("bytefreezer-test-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let abstract_listener = UnixDatagram::bind_addr(&address).unwrap();
        let notifier = Notifier {
            socket: format!("@{name}").into(),
        };
        notifier.notify("WATCHDOG=1").unwrap();
        let read = abstract_listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..read], b"WATCHDOG=1");
    }
}
