//! The `geoip` filter against MaxMind's own test databases, which `cargo xtask test` downloads
//! into `.test-data/geoip`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::{Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use bytefreezer_transform::{GeoIp, Pipeline, PipelineSpec};

fn database(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.test-data/geoip")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask install-test-deps` (it downloads MaxMind's test databases from PyPI)",
        path.display()
    );
    path
}

fn addresses() -> RecordBatch {
    RecordBatch::try_from_iter(vec![(
        "source_ip",
        Arc::new(StringArray::from(vec![
            Some("81.2.69.142"),
            Some("2001:480:10::1"),
            Some("not an address"),
            None,
            Some("1.0.0.1"),
        ])) as ArrayRef,
    )])
    .unwrap()
}

fn text(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

fn pipeline(json: &str, geoip: &GeoIp) -> Pipeline {
    Pipeline::compile_with(&serde_json::from_str::<PipelineSpec>(json).unwrap(), geoip).unwrap()
}

#[test]
fn the_documented_example_adds_location_and_asn_columns() {
    let geoip = GeoIp::open(
        Some(&database("GeoIP2-City-Test.mmdb")),
        Some(&database("GeoLite2-ASN-Test.mmdb")),
    )
    .unwrap();
    let out = pipeline(
        r#"{"filters":[{"type":"geoip","config":{"field":"source_ip"}}]}"#,
        &geoip,
    )
    .run(addresses())
    .unwrap();
    assert_eq!(
        text(&out, "source_ip_geo_city"),
        [
            Some("London".into()),
            Some("San Diego".into()),
            None,
            None,
            None
        ]
    );
    assert_eq!(
        text(&out, "source_ip_geo_country_code")[..2],
        [Some("GB".into()), Some("US".into())]
    );
    assert_eq!(
        text(&out, "source_ip_geo_country")[0],
        Some("United Kingdom".into())
    );
    assert_eq!(
        text(&out, "source_ip_geo_region")[..2],
        [Some("England".into()), Some("California".into())]
    );
    let lat = out
        .column_by_name("source_ip_geo_lat")
        .unwrap()
        .as_primitive::<Float64Type>();
    let lon = out
        .column_by_name("source_ip_geo_lon")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!((lat.value(0) - 51.5142).abs() < 1e-6 && (lon.value(0) + 0.0931).abs() < 1e-3);
    assert!(lat.is_null(2) && lat.is_null(3));
    let asn = out
        .column_by_name("source_ip_geo_asn")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(asn.value(4), 15169, "1.0.0.1 is in the ASN test database");
    assert!(asn.is_null(0));
    assert_eq!(
        text(&out, "source_ip_geo_as_org")[4],
        Some("Google Inc.".into())
    );
}

#[test]
fn a_city_database_alone_adds_no_asn_columns_and_conditions_limit_rows() {
    let geoip = GeoIp::open(Some(&database("GeoIP2-City-Test.mmdb")), None).unwrap();
    let out = pipeline(
        r#"{"filters":[{"type":"geoip","config":{"field":"source_ip"},"condition":"source_ip starts_with '2001:'"}]}"#,
        &geoip,
    )
    .run(addresses())
    .unwrap();
    assert!(out.column_by_name("source_ip_geo_asn").is_none());
    assert_eq!(
        text(&out, "source_ip_geo_city")[..2],
        [None, Some("San Diego".into())]
    );
}

#[test]
fn missing_or_unreadable_databases_are_clear_errors() {
    let error = GeoIp::open(Some(std::path::Path::new("/nonexistent/City.mmdb")), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("/nonexistent/City.mmdb"), "{error}");
    let spec: PipelineSpec =
        serde_json::from_str(r#"{"filters":[{"type":"geoip","config":{"field":"source_ip"}}]}"#)
            .unwrap();
    let error = Pipeline::compile(&spec).unwrap_err().to_string();
    assert!(
        error.starts_with("filter 0 (\"geoip\"): no GeoIP city database"),
        "{error}"
    );
    let error = Pipeline::compile_with(
        &serde_json::from_str(r#"{"filters":[{"type":"geoip","config":{}}]}"#).unwrap(),
        &GeoIp::open(Some(&database("GeoIP2-City-Test.mmdb")), None).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("missing field `field`"), "{error}");
}

#[test]
fn a_replaced_database_file_is_reloaded_without_a_restart() {
    let dir = std::env::temp_dir().join(format!("bf-geoip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("City.mmdb");
    // Start from a database that knows no cities, then install the real one as an updater
    // would: write a new file and rename it over the old.
    std::fs::copy(database("GeoLite2-ASN-Test.mmdb"), &path).unwrap();
    let geoip = GeoIp::open(Some(&path), None).unwrap();
    let filter = pipeline(
        r#"{"filters":[{"type":"geoip","config":{"field":"source_ip"}}]}"#,
        &geoip,
    );
    assert_eq!(
        text(&filter.run(addresses()).unwrap(), "source_ip_geo_city")[0],
        None
    );
    let staging = dir.join("City.mmdb.new");
    std::fs::copy(database("GeoIP2-City-Test.mmdb"), &staging).unwrap();
    std::fs::rename(&staging, &path).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let city = text(&filter.run(addresses()).unwrap(), "source_ip_geo_city")[0].clone();
        if city.as_deref() == Some("London") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replaced database was not picked up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::fs::remove_dir_all(&dir).ok();
}
