//! The http input's listeners against real sockets, for what the end-to-end tests through the
//! control plane cannot send: datasets from a configuration file that the API would refuse.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::time::Duration;

use bytefreezer_api::HttpSourceSettings;
use bytefreezer_api::metrics::{PROXY_INPUT_ERRORS_TOTAL, PROXY_INPUT_UP};

use super::*;
use crate::config::HttpInputConfig;
use crate::input_test_support::{TestSpool, wait_until};

fn free_port() -> SocketAddr {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn dataset(id: &str, settings: HttpSourceSettings) -> HttpDataset {
    let scheme = if settings.tls_cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    HttpDataset {
        tenant_id: "t".into(),
        dataset_id: id.into(),
        listen: format!("{scheme}://{}{}", settings.bind, settings.path),
        settings,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_without_its_key_is_refused_not_served_as_plain_http() {
    let test = TestSpool::new(1 << 30);
    let mut inputs = HttpInputs::new(HttpRuntime {
        spool: test.spool.clone(),
        compression: bytefreezer_schema::IpcCompression::None,
        registry: test.registry.clone(),
        limits: HttpInputConfig::default(),
    });
    let (half_tls, plain) = (free_port(), free_port());
    inputs
        .reconcile(&[
            dataset(
                "half-tls",
                HttpSourceSettings {
                    bind: half_tls,
                    tls_cert_file: Some("/etc/ssl/certs/proxy.pem".into()),
                    ..HttpSourceSettings::default()
                },
            ),
            dataset(
                "plain",
                HttpSourceSettings {
                    bind: plain,
                    ..HttpSourceSettings::default()
                },
            ),
        ])
        .await;
    let registry = &test.registry;
    wait_until("the plain dataset listens", async || {
        registry.counter_total(PROXY_INPUT_UP.name) == 1
    })
    .await;
    assert_eq!(registry.counter_total(PROXY_INPUT_ERRORS_TOTAL.name), 1);
    assert!(TcpStream::connect(plain).is_ok());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(half_tls).is_err(),
        "nothing listens for the dataset whose TLS is half configured"
    );
    inputs.stop().await;
}
