//! `bytefreezer transform test`: a pipeline over sample events, output and per-filter counts.

use std::process::Command;

fn run(pipeline: &str, sample: &str) -> (bool, String, String) {
    run_with(pipeline, sample, &[])
}

fn run_with(pipeline: &str, sample: &str, extra: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (pipeline_path, sample_path) = (dir.path().join("p.json"), dir.path().join("s.ndjson"));
    std::fs::write(&pipeline_path, pipeline).unwrap();
    std::fs::write(&sample_path, sample).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_bytefreezer"))
        .args(["transform", "test", "--pipeline"])
        .arg(&pipeline_path)
        .arg("--input")
        .arg(&sample_path)
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn prints_output_rows_and_what_each_filter_did() {
    let pipeline = r#"{"filters":[
        {"type":"drop","config":{"condition":"action == 'deny'"}},
        {"type":"rename_field","config":{"from":"src","to":"source_ip"}},
        {"type":"add_field","config":{"field":"internal","value":true},"condition":"source_ip in cidr('10.0.0.0/8')"}
    ]}"#;
    let sample = "{\"action\":\"deny\",\"src\":\"10.0.0.1\"}\n{\"action\":\"allow\",\"src\":\"10.0.0.2\"}\n{\"action\":\"allow\",\"src\":\"192.0.2.9\"}\n";
    let (ok, stdout, stderr) = run(pipeline, sample);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (report["rows_in"].as_u64(), report["rows_out"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(report["filters"][0]["rows_out"], 2);
    assert_eq!(report["filters"][1]["fields_added"][0], "source_ip");
    assert_eq!(report["filters"][1]["fields_removed"][0], "src");
    assert_eq!(report["output"][0]["internal"], true);
    assert!(
        report["output"][1]
            .get("internal")
            .is_none_or(|v| v.is_null())
    );
}

#[test]
fn an_invalid_pipeline_names_the_filter_and_fails() {
    let (ok, _, stderr) = run(
        r#"{"filters":[{"type":"drop","config":{"condition":"action =="}}]}"#,
        "{\"a\":1}\n",
    );
    assert!(!ok);
    assert!(stderr.contains("filter 0 (\"drop\")"), "{stderr}");
    let (ok, _, stderr) = run(r#"{"filters":[]}"#, "not json\n");
    assert!(!ok);
    assert!(stderr.contains("line 1"), "{stderr}");
}

#[test]
fn geoip_uses_the_database_given_on_the_command_line() {
    let city = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".test-data/geoip/GeoIP2-City-Test.mmdb");
    assert!(
        city.is_file(),
        "{} is missing: run `cargo xtask install-test-deps`",
        city.display()
    );
    let pipeline = r#"{"filters":[{"type":"geoip","config":{"field":"source_ip"}}]}"#;
    let sample = "{\"source_ip\":\"89.160.20.128\"}\n";
    let (ok, _, stderr) = run(pipeline, sample);
    assert!(!ok);
    assert!(stderr.contains("no GeoIP city database"), "{stderr}");
    let (ok, stdout, stderr) = run_with(
        pipeline,
        sample,
        &["--geoip-city-db".as_ref(), city.as_os_str()],
    );
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["output"][0]["source_ip_geo_city"], "Linköping");
    assert_eq!(report["output"][0]["source_ip_geo_country_code"], "SE");
}
