use std::net::SocketAddr;

use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytefreezer_api::metrics::HTTP_FOREIGN_HOST_REFUSED_TOTAL;
use bytefreezer_telemetry::{Registry, Shutdown};
use tokio::net::TcpListener;

/// Binds an HTTP listener, with an error that says what to do when the port is taken.
pub async fn bind(address: SocketAddr, purpose: &str) -> Result<TcpListener> {
    TcpListener::bind(address).await.with_context(|| {
        format!("{purpose}: cannot listen on {address}; is another process using it? choose another address")
    })
}

/// Serves `router` until shutdown, letting requests in flight finish. Handlers see the peer's
/// address (`ConnectInfo`), which login throttling counts per client.
pub async fn serve(listener: TcpListener, router: Router, mut shutdown: Shutdown) -> Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.wait().await })
    .await
    .context("HTTP server failed")
}

/// On a loopback listener, answers only requests whose `Host` is a name of this machine
/// (`localhost`, `*.localhost`, a loopback address) or one of `allowed` (`--allowed-host`).
/// A page on another site can rebind its own DNS name to 127.0.0.1 and then read whatever
/// answers there in the browser's name (DNS rebinding); the Host header still carries the
/// attacker's name, so refusing it closes that door. Other listeners are returned unchanged:
/// they are meant to be reached by whatever name points at them. Requests without a Host
/// header (non-browser clients only; browsers always send one) pass.
pub fn loopback_host_guard(
    router: Router,
    listen: SocketAddr,
    allowed: &[String],
    registry: &Registry,
) -> Router {
    if !listen.ip().is_loopback() {
        return router;
    }
    let allowed: Arc<Vec<String>> = Arc::new(allowed.iter().map(|h| h.to_lowercase()).collect());
    let refused = registry.counter(
        HTTP_FOREIGN_HOST_REFUSED_TOTAL.name,
        HTTP_FOREIGN_HOST_REFUSED_TOTAL.help,
        &[("cause", "host")],
    );
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let allowed = allowed.clone();
            let refused = refused.clone();
            async move {
                let host = request
                    .headers()
                    .get(header::HOST)
                    .map(|value| value.to_str().unwrap_or("\u{fffd}").to_owned());
                match host {
                    Some(host) if !host_is_local(&host, &allowed) => {
                        refused.increment(1);
                        foreign_host(&host)
                    }
                    _ => next.run(request).await,
                }
            }
        },
    ))
}

fn foreign_host(host: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({
            "error": format!(
                "Host {host:?} is not a name of this server: on a loopback address it answers only to \
                 localhost, 127.0.0.1 and [::1]; start it with --allowed-host NAME to add a name"
            )
        })),
    )
        .into_response()
}

/// Whether a Host header value (`name`, `name:port`, `[v6]:port`) names this machine.
fn host_is_local(host: &str, allowed: &[String]) -> bool {
    let host = host.trim().to_lowercase();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default().to_owned(),
        None => host
            .rsplit_once(':')
            .map_or(host.as_str(), |(name, _)| name)
            .to_owned(),
    };
    let name = name.trim_end_matches('.');
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || allowed.iter().any(|allowed| allowed == name)
}

#[cfg(test)]
mod tests {
    use super::host_is_local;

    #[test]
    fn only_names_of_this_machine_pass() {
        let allowed = ["dash.example.org".to_owned()];
        for host in [
            "localhost",
            "localhost:8000",
            "LOCALHOST:8000",
            "app.localhost:8000",
            "127.0.0.1:8000",
            "127.0.0.2",
            "[::1]:8000",
            "dash.example.org",
            "dash.example.org:8000",
        ] {
            assert!(host_is_local(host, &allowed), "{host}");
        }
        for host in [
            "evil.example:8000",
            "localhost.evil.example",
            "127.0.0.1.evil.example:8000",
            "[::2]:8000",
            "10.0.0.1:8000",
            "",
        ] {
            assert!(!host_is_local(host, &allowed), "{host}");
        }
    }
}
