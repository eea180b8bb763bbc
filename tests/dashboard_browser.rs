//! The dashboard in a real browser (Debian's chromium, headless, through chromedriver) against a
//! real `bytefreezer up`: log in, see the services Healthy, create a dataset, send it syslog,
//! watch statistics and Parquet files appear, query them, test and save a transformation, pause
//! the dataset, and find every one of those changes in the Audit Log. Screenshots of every page
//! land in `.test-artifacts/dashboard/`.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/up.rs"]
mod up;

use std::net::UdpSocket;
use std::time::Duration;

use browser::Browser;
use fantoccini::Locator;
use up::{UpProcess, free_tcp, free_udp};

const DENY: usize = 12;
const ALLOW: usize = 30;

fn syslog_burst(target: std::net::SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for index in 0..DENY + ALLOW {
        let action = if index < DENY { "deny" } else { "allow" };
        let line = format!(
            "<134>1 {now} fw-7 filterlog - - - action={action} src=10.1.0.{} dst=192.0.2.1 port=443",
            index % 250
        );
        socket.send_to(line.as_bytes(), target).unwrap();
    }
}

#[test]
fn every_dashboard_page_works_in_chromium() {
    let data = tempfile::tempdir().unwrap();
    let up = UpProcess::start(data.path(), free_tcp(), free_udp());
    let password = std::fs::read_to_string(data.path().join("admin-password")).unwrap();
    let weblogs_port = free_udp();
    let base = format!("http://{}", up.http);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(drive(&base, password.trim(), weblogs_port));
    up.terminate();
}

async fn drive(base: &str, password: &str, weblogs: std::net::SocketAddr) {
    let b = Browser::start(1280, 900).await;
    let long = Duration::from_secs(60);
    let short = Duration::from_secs(15);

    // Log in: a wrong password says so, the right one lands on Service Status.
    b.goto(&format!("{base}/")).await;
    b.wait_for_text(short, "Log in to bytefreezer").await;
    b.screenshot("01-login").await;
    b.type_into("input[name=email]", "admin@bytefreezer.local")
        .await;
    b.type_into("input[name=password]", "wrong").await;
    b.click("#login-form button[type=submit]").await;
    b.wait_for_text(short, "wrong email or password").await;
    b.type_into("input[name=password]", password).await;
    b.click("#login-form button[type=submit]").await;
    b.wait_for_text(short, "admin@bytefreezer.local").await;

    // Service Status: the six roles of `up` report and turn Healthy.
    b.wait_for(long, "six services are Healthy", async |b: &Browser| {
        let count = b
            .client
            .find_all(Locator::Css("tr[data-role] .badge.healthy"))
            .await
            .map_or(0, |found| found.len());
        count >= 6
    })
    .await;
    let status = b.text().await;
    for role in ["control", "proxy", "receiver", "piper", "packer", "query"] {
        assert!(status.contains(role), "{role} missing from:\n{status}");
    }
    // `up` runs every role in one process: its CPU and memory show once, and the page says why.
    assert!(
        status.contains("run in one process on"),
        "no shared-process note in:\n{status}"
    );
    // Five rows after the first say so in both the CPU and the Memory cell.
    assert_eq!(status.matches("same process").count(), 10, "{status}");
    b.screenshot("02-service-status").await;

    // Create a dataset through the form built from the syslog plugin's settings schema.
    b.click("a[data-page=datasets]").await;
    b.wait_for_text(short, "demo / syslog").await;
    b.screenshot("03-datasets").await;
    assert!(
        b.text().await.contains("http://127.0.0.1:"),
        "the demo http dataset shows where to post"
    );
    assert!(
        b.text().await.contains("tcp://127.0.0.1:"),
        "the demo syslog-over-TCP dataset shows its stream address"
    );
    b.click("#new-dataset").await;
    b.wait_for_text(short, "Source settings (syslog)").await;
    // The http plugin's form comes from its settings schema too.
    b.set_value("#create-dataset select[name=plugin]", "http")
        .await;
    b.wait_for_text(short, "Source settings (http)").await;
    let form = b.text_of("#create-dataset").await;
    for setting in ["path", "token", "max body bytes", "tls cert file", "nested"] {
        assert!(form.contains(setting), "{setting} in the http form: {form}");
    }
    b.screenshot("04-create-http-dataset").await;
    // The nats plugin's form: a list of subjects, secrets typed unseen.
    b.set_value("#create-dataset select[name=plugin]", "nats")
        .await;
    b.wait_for_text(short, "Source settings (nats)").await;
    let form = b.text_of("#create-dataset").await;
    for setting in [
        "subjects",
        "queue group",
        "stream",
        "consumer",
        "ack wait secs",
        "credentials file",
    ] {
        assert!(form.contains(setting), "{setting} in the nats form: {form}");
    }
    for secret in ["token", "password"] {
        assert!(
            b.exists(&format!(
                "#create-dataset input[name={secret}][type=password]"
            ))
            .await,
            "{secret} is typed unseen"
        );
    }
    b.screenshot("04-create-nats-dataset").await;
    b.set_value("#create-dataset select[name=plugin]", "syslog")
        .await;
    b.wait_for_text(short, "Source settings (syslog)").await;
    let form = b.text_of("#create-dataset").await;
    for setting in [
        "transport",
        "framing",
        "max connections",
        "tls client ca file",
    ] {
        assert!(
            form.contains(setting),
            "{setting} in the syslog form: {form}"
        );
    }
    b.type_into("#create-dataset input[name=dataset_id]", "weblogs")
        .await;
    b.type_into("#create-dataset input[name=name]", "Web <b>firewall</b>")
        .await;
    b.type_into("#create-dataset input[name=bind]", &weblogs.to_string())
        .await;
    b.screenshot("04-create-dataset").await;
    b.click("#create-dataset button[type=submit]").await;
    b.wait_for_text(short, "Test input").await;
    assert!(
        b.text().await.contains("Web <b>firewall</b>"),
        "names show as text, never as markup"
    );

    // Test input: first the proxy listens (nothing is sent before, so no burst is cut in half
    // by the socket opening and the allow:deny ratio below holds), then data arrived.
    b.wait_for(
        long,
        "Test input says the proxy listens",
        async |b: &Browser| {
            b.click("#test-input").await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            b.text().await.contains("listens on udp://")
        },
    )
    .await;
    syslog_burst(weblogs);
    b.wait_for(
        long,
        "Test input passes after sending syslog",
        async |b: &Browser| {
            b.click("#test-input").await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            b.text()
                .await
                .contains("events arrived in the last 5 minutes")
        },
    )
    .await;
    b.click("#test-output").await;
    b.wait_for_text(short, "wrote and deleted a probe object in bucket packer")
        .await;

    // The Parquet file list comes from the query service, with a short-lived token the control
    // plane issues to the logged-in user (no key to create).
    b.wait_for(long, "a Parquet file is listed", async |b: &Browser| {
        b.click("#reload-files").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        b.text().await.contains(".parquet")
    })
    .await;
    let files = b.text().await;
    assert!(files.contains("year="), "partition shown: {files}");
    b.screenshot("05-dataset-overview").await;

    // Statistics: the counters of the new dataset rise and the charts are drawn.
    b.click("a[data-page=statistics]").await;
    // Received by the proxy and all of it in Parquet, so the query below sees every row.
    b.wait_for(
        long,
        "statistics show every event received and in Parquet",
        async |b: &Browser| {
            let mut all_there = true;
            for metric in ["events_received", "parquet_rows"] {
                let shown = b
                    .text_of(&format!(
                        "section[data-dataset='demo/weblogs'] [data-metric={metric}] b"
                    ))
                    .await
                    .replace(',', "");
                all_there &= shown
                    .parse::<u64>()
                    .is_ok_and(|n| n >= (DENY + ALLOW) as u64);
            }
            all_there
        },
    )
    .await;
    let charts = b
        .client
        .find_all(Locator::Css(
            "section[data-dataset='demo/weblogs'] svg polyline",
        ))
        .await
        .unwrap();
    assert!(charts.len() >= 5, "one line per series");
    b.screenshot("06-statistics").await;

    // Activity: piper and packer jobs of the dataset.
    b.click("a[data-page=activity]").await;
    b.wait_for(long, "packer jobs are listed", async |b: &Browser| {
        b.client
            .find_all(Locator::Css("tr[data-stage=packer]"))
            .await
            .is_ok_and(|rows| !rows.is_empty())
    })
    .await;
    b.screenshot("07-activity").await;

    // Query: the counts per action match what was sent (every burst sent the same mix).
    b.click("a[data-page=query]").await;
    b.wait_for_text(short, "Columns").await;
    b.client
        .find(Locator::Css("#query-dataset"))
        .await
        .unwrap()
        .select_by_value("demo/weblogs")
        .await
        .unwrap();
    b.wait_for_text(short, "action").await;
    b.set_value(
        "#query-sql",
        "SELECT action, COUNT(*) AS n FROM \"weblogs\" GROUP BY action ORDER BY action",
    )
    .await;
    b.click("#run-query").await;
    b.wait_for_text(long, "rows in").await;
    let rows: Vec<(String, u64)> = {
        let cells = b
            .client
            .execute(
                "return [...document.querySelectorAll('#query-output tbody tr')].map(r => [...r.cells].map(c => c.innerText));",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value::<Vec<Vec<String>>>(cells)
            .unwrap()
            .into_iter()
            .map(|row| (row[0].clone(), row[1].parse().unwrap()))
            .collect()
    };
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].0, "allow");
    assert_eq!(rows[1].0, "deny");
    assert_eq!(
        rows[0].1 * DENY as u64,
        rows[1].1 * ALLOW as u64,
        "every burst is {ALLOW} allow to {DENY} deny: {rows:?}"
    );
    assert!(rows[1].1 >= DENY as u64);
    assert!(b.client.find(Locator::Css("#download-csv")).await.is_ok());
    b.screenshot("08-query").await;

    // A query error is shown, not swallowed.
    b.set_value("#query-sql", "SELECT nope FROM \"weblogs\"")
        .await;
    b.click("#run-query").await;
    b.wait_for_text(short, "No field named nope").await;

    // Pipeline: an invalid edit is flagged inline, Test Transformation shows the output beside
    // the input, and saving stores it.
    b.goto(&format!("{base}/#/datasets/demo/weblogs/pipeline"))
        .await;
    b.wait_for_text(short, "Test Transformation").await;
    b.set_value("#pipeline-json", "{ \"filters\": [ ").await;
    b.wait_for_text(short, "pipeline JSON:").await;
    b.set_value(
        "#pipeline-json",
        r#"{"filters":[{"type":"drop","config":{"condition":"action == 'allow'"}},{"type":"add_field","config":{"field":"site","value":"edge-7"}}]}"#,
    )
    .await;
    b.click("#test-transformation").await;
    b.wait_for_text(short, "2 in → 1 out").await;
    let output = b.text_of("#test-output-events").await;
    assert!(
        output.contains("edge-7") && output.contains("deny") && !output.contains("\"allow\""),
        "{output}"
    );
    b.client
        .execute(
            "document.getElementById('test-results').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    b.screenshot("09-pipeline").await;
    b.click("#save-pipeline").await;
    b.wait_for_text(short, "Saved version").await;

    // Pause from the dataset page.
    b.goto(&format!("{base}/#/datasets/demo/weblogs")).await;
    b.wait_for_text(short, "Pause dataset").await;
    b.click("#pause-resume").await;
    b.wait_for_text(short, "Resume dataset").await;

    // Audit Log: each change, by whom.
    b.click("a[data-page=audit]").await;
    b.wait_for_text(short, "dataset.pause").await;
    let audit = b.text().await;
    for action in [
        "dataset.create",
        "api_key.create",
        "dataset.pipeline",
        "dataset.pause",
    ] {
        assert!(audit.contains(action), "{action} missing from:\n{audit}");
    }
    assert!(audit.contains("admin@bytefreezer.local"));
    b.type_into("input[name=action]", "dataset.pause").await;
    b.click("form[role=search] button[type=submit]").await;
    b.wait_for(
        short,
        "the filter leaves only pauses",
        async |b: &Browser| {
            let rows = b
                .client
                .find_all(Locator::Css("tr[data-action]"))
                .await
                .unwrap_or_default();
            let mut only_pauses = !rows.is_empty();
            for row in rows {
                only_pauses &= row.attr("data-action").await.ok().flatten().as_deref()
                    == Some("dataset.pause");
            }
            only_pauses
        },
    )
    .await;
    b.click("tr[data-action='dataset.pause'] summary").await;
    b.wait_for_text(short, "Whole record").await;
    b.screenshot("10-audit").await;

    // A phone-sized window: the same page stays usable.
    b.client.set_window_size(390, 844).await.unwrap();
    b.click("a[data-page=status]").await;
    b.wait_for_text(short, "Healthy").await;
    b.screenshot("11-status-small-screen").await;

    // Log out: the session ends and the login form returns.
    b.click("#logout").await;
    b.wait_for_text(short, "Log in to bytefreezer").await;
    b.client.close().await.unwrap();
}
