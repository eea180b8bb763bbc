//! One spoofed source address sending 1,024 templates of 16,000 fields (each about 1 MiB once
//! compiled, so about 1 GiB if kept) cannot make the decoder hold more than its template
//! limits, counted by cause, and a real exporter's flows still decode beside it. Memory is
//! checked twice: the decoder's own byte accounting and the process's resident set.

#[path = "support/fixtures.rs"]
mod fixtures;

use bytefreezer_decode_flow::{DatagramMeta, FlowDecoder, FlowLimits, TemplateRefusal};

const TEMPLATES: u16 = 1_024;
const FIELDS: u16 = 16_000;
const SPOOFED: &str = "203.0.113.66";
const MIB: u64 = 1 << 20;

/// The process's resident set (VmRSS), in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// An IPFIX message with one template of `fields` 4-byte fields (elements the flow schema
/// does not name, so each becomes an entry of the compiled plan): 64,024 bytes for 16,000.
fn huge_template(template_id: u16, fields: u16) -> Vec<u8> {
    let set_len = 4 + 4 + 4 * usize::from(fields);
    let len = 16 + set_len;
    let mut out = Vec::with_capacity(len);
    out.extend(10u16.to_be_bytes());
    out.extend(u16::try_from(len).unwrap().to_be_bytes());
    out.extend(1_795_000_000u32.to_be_bytes());
    out.extend(u32::from(template_id).to_be_bytes());
    out.extend(1u32.to_be_bytes());
    out.extend(2u16.to_be_bytes());
    out.extend(u16::try_from(set_len).unwrap().to_be_bytes());
    out.extend(template_id.to_be_bytes());
    out.extend(fields.to_be_bytes());
    for n in 0..fields {
        out.extend((1_000 + n % 20_000).to_be_bytes());
        out.extend(4u16.to_be_bytes());
    }
    out
}

fn meta(exporter: &str) -> DatagramMeta {
    DatagramMeta {
        receive_time_micros: 1_795_000_100_000_000,
        exporter: Some(exporter.parse().unwrap()),
    }
}

/// Sends the flood, then softflowd's real IPFIX export; returns the flood's refusals by cause
/// and the real exporter's rows.
fn flood_then_real_exporter(decoder: &mut FlowDecoder) -> (Vec<(TemplateRefusal, u64)>, usize) {
    for template_id in 256..256 + TEMPLATES {
        decoder.decode(&huge_template(template_id, FIELDS), &meta(SPOOFED));
    }
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut rows = 0;
    for datagram in fixtures::softflowd_datagrams(&data, "ipfix") {
        let report = decoder.decode(&datagram, &meta("127.0.0.1"));
        assert_eq!(report.error, None);
        rows += report.records;
    }
    let spoofed = Some(SPOOFED.parse().unwrap());
    let refused = decoder
        .exporter_metrics()
        .filter(|(scope, _)| scope.exporter == spoofed)
        .fold(
            vec![],
            |mut out: Vec<(TemplateRefusal, u64)>, (_, metrics)| {
                for cause in TemplateRefusal::ALL {
                    let count = metrics.refused.get(cause);
                    if count > 0 {
                        out.push((cause, count));
                    }
                }
                out
            },
        );
    (refused, rows)
}

// One test, so no other test's allocations share the process while the resident set is read.
#[test]
fn a_flood_of_the_largest_templates_stays_within_the_limits_and_real_flows_still_decode() {
    let before = rss_bytes();

    // Default limits: no real exporter sends 16,000 fields, so each is refused unbuilt.
    let mut decoder = FlowDecoder::default();
    let (refused, rows) = flood_then_real_exporter(&mut decoder);
    assert_eq!(
        refused,
        [(TemplateRefusal::TooManyFields, u64::from(TEMPLATES))]
    );
    assert_eq!(rows, 3, "softflowd's three flows decode beside the flood");
    let real_template_bytes = decoder.template_bytes();
    assert!(
        real_template_bytes > 0 && real_template_bytes < 16 << 10,
        "only the real exporter's templates are held: {real_template_bytes} bytes"
    );
    assert_eq!(decoder.flush().unwrap().unwrap().num_rows(), 3);
    let after_default = rss_bytes();
    drop(decoder);

    // Fields allowed: the byte limits are what stop the flood.
    let limits = FlowLimits {
        max_template_fields: usize::from(FIELDS),
        ..FlowLimits::default()
    };
    let mut decoder = FlowDecoder::new(limits);
    let (refused, rows) = flood_then_real_exporter(&mut decoder);
    assert_eq!(
        rows, 3,
        "the real exporter's templates fit in its own budget"
    );
    let (causes, total): (Vec<_>, u64) = (
        refused.iter().map(|(cause, _)| *cause).collect(),
        refused.iter().map(|(_, count)| count).sum(),
    );
    assert_eq!(causes, [TemplateRefusal::ExporterBytes]);
    let kept = u64::from(TEMPLATES) - total;
    assert!(kept >= 1, "a template of 16,000 fields fits in 2 MiB once");
    let template_bytes = decoder.template_bytes();
    assert!(
        template_bytes <= limits.max_template_bytes_per_exporter + real_template_bytes,
        "{template_bytes} bytes of templates, past the per-exporter bound"
    );
    let after_bytes = rss_bytes();
    drop(decoder);

    let grown = after_default.max(after_bytes).saturating_sub(before);
    eprintln!(
        "resident set: {} MiB before, {} MiB after the refused flood, {} MiB after the \
         byte-bounded one ({kept} templates kept, {template_bytes} bytes)",
        before / MIB,
        after_default / MIB,
        after_bytes / MIB
    );
    // Kept, the flood would take about 1 GiB; the bound is 2 MiB of templates plus the
    // allocator's and the test's own working memory.
    assert!(
        grown < 64 * MIB,
        "the resident set grew by {} MiB",
        grown / MIB
    );
}

#[test]
fn restoring_a_file_of_huge_templates_keeps_within_the_limits() {
    let limits = FlowLimits {
        max_template_fields: usize::from(FIELDS),
        max_template_bytes_per_exporter: 64 << 20,
        max_template_bytes: 64 << 20,
        ..FlowLimits::default()
    };
    let mut generous = FlowDecoder::new(limits);
    for template_id in 256..256 + 16 {
        generous.decode(&huge_template(template_id, FIELDS), &meta(SPOOFED));
    }
    assert_eq!(generous.template_count(), 16);
    let saved = generous.save_templates();
    drop(generous);

    let mut default = FlowDecoder::default();
    assert_eq!(default.restore_templates(&saved), Ok(0));
    assert_eq!(default.template_bytes(), 0);

    let mut bounded = FlowDecoder::new(FlowLimits {
        max_template_fields: usize::from(FIELDS),
        ..FlowLimits::default()
    });
    let restored = bounded.restore_templates(&saved).unwrap();
    assert!((1..16).contains(&restored), "{restored} of 16 restored");
    assert!(bounded.template_bytes() <= FlowLimits::default().max_template_bytes_per_exporter);
    let refused: u64 = bounded
        .exporter_metrics()
        .map(|(_, metrics)| metrics.refused.get(TemplateRefusal::ExporterBytes))
        .sum();
    assert_eq!(refused, 16 - restored as u64, "each refusal is counted");
}
