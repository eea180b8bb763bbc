//! `bytefreezer agent`: the eBPF host agent (bytefreezer-ebpf-agent) with its `/metrics` and
//! `/healthz` listener, until Ctrl-C or SIGTERM.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytefreezer_ebpf_agent::{Agent, AgentSettings, host_name};
use bytefreezer_telemetry::{Readiness, Registry, service_routes, shutdown_pair};

use crate::cli::AgentArgs;

pub async fn run(args: AgentArgs) -> Result<()> {
    let settings = settings(&args)?;
    let agent = Agent::load(settings)?;
    let registry = Registry::new();
    let (trigger, shutdown) = shutdown_pair();
    let metrics = match args.metrics_listen.as_str() {
        "none" => None,
        listen => {
            let address: SocketAddr = listen
                .parse()
                .with_context(|| format!("--metrics-listen {listen:?} is not IP:PORT or none"))?;
            let listener = crate::serve::bind(address, "agent metrics").await?;
            let router = service_routes(registry.clone(), Readiness::default());
            tracing::info!("agent: metrics on http://{address}/metrics");
            Some(tokio::spawn(crate::serve::serve(
                listener,
                router,
                shutdown.clone(),
            )))
        }
    };
    // Probes attached and metrics listening: ready for systemd's `Type=notify`.
    let supervisor = crate::systemd::supervise(Readiness::default(), shutdown.clone());
    let agent = tokio::spawn(agent.run(registry, shutdown));
    tokio::pin!(agent);
    let result = tokio::select! {
        finished = &mut agent => finished.context("the agent panicked")?,
        signal = crate::signals::terminate() => {
            signal?;
            trigger.trigger();
            agent.await.context("the agent panicked")?
        }
    };
    trigger.trigger();
    supervisor.stopped().await;
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
    result
}

fn settings(args: &AgentArgs) -> Result<AgentSettings> {
    let Some(target) = args.proxy.strip_prefix("udp://") else {
        bail!(
            "--proxy {:?} must be udp://HOST:PORT (the proxy's ebpf input)",
            args.proxy
        );
    };
    let proxy = target
        .to_socket_addrs()
        .with_context(|| format!("--proxy {target:?} is not a HOST:PORT that resolves"))?
        .next()
        .with_context(|| format!("--proxy {target:?} resolves to no address"))?;
    let mut settings = AgentSettings::new(proxy);
    settings.host = args.host.clone().unwrap_or_else(host_name);
    settings.flow_interval = Duration::from_secs(args.flow_interval_secs);
    settings.datagram_bytes = usize::from(args.datagram_bytes);
    Ok(settings)
}
