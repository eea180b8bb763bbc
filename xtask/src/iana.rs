//! `cargo xtask iana-elements`: regenerates the table of IANA IPFIX information elements that
//! names the flow table's `extra_fields` (`dataplane/schema/src/iana_elements.rs`) from IANA's
//! own registry file
//! (ipfix.xml). The file comes from a crate of cargo's registry that ships it unchanged,
//! pinned by version and sha256, so the table says exactly which registry revision it holds.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The crate carrying IANA's ipfix.xml, as `registry/iana_ipfix_information_elements.xml`.
const SOURCE_CRATE: (&str, &str) = ("netgauze-flow-pkt", "0.13.0");
const SOURCE_SHA256: &str = "54b4134afff7a33b7db72099424ddd3f87ae098b36d24ea0b38ff92239e027e3";
const SOURCE_PATH: &str = "registry/iana_ipfix_information_elements.xml";
const OUTPUT: &str = "dataplane/schema/src/iana_elements.rs";

/// One information element of the registry.
struct Element {
    id: u16,
    name: String,
    data_type: String,
}

pub fn regenerate(root: &Path) -> Result<()> {
    let scratch = tempdir(root)?;
    let (name, version) = SOURCE_CRATE;
    let unpacked = crate::install::fetch_crate(&scratch, name, version, SOURCE_SHA256)?;
    let xml_path = unpacked.join(SOURCE_PATH);
    let xml = std::fs::read_to_string(&xml_path)
        .with_context(|| format!("cannot read {}", xml_path.display()))?;
    let _ = std::fs::remove_dir_all(&scratch);
    let (updated, elements) = parse(&xml)?;
    let out = root.join(OUTPUT);
    std::fs::write(&out, render(&updated, &elements))
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "xtask: {} elements of the registry updated {updated} written to {OUTPUT}",
        elements.len()
    );
    Ok(())
}

fn tempdir(root: &Path) -> Result<std::path::PathBuf> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("xtask-iana");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The text of the first `<tag>...</tag>` in `xml`.
fn tag<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].trim())
}

/// The registry's `updated` date and its information elements with a number, a name and a
/// data type (reserved and unassigned ranges have none), in number order.
fn parse(xml: &str) -> Result<(String, Vec<Element>)> {
    let updated = tag(xml, "updated").context("the registry has no <updated> date")?;
    let start = xml
        .find("<registry id=\"ipfix-information-elements\">")
        .context("the file has no ipfix-information-elements registry")?;
    let body = &xml[start..];
    let body = &body[..body
        .find("</registry>")
        .context("the elements registry does not end")?];
    let mut elements = Vec::new();
    // `<record>` or `<record date="...">`.
    for record in body.split("<record").skip(1) {
        let record = &record[..record.find("</record>").unwrap_or(record.len())];
        let (Some(id), Some(name), Some(data_type)) = (
            tag(record, "elementId"),
            tag(record, "name"),
            tag(record, "dataType"),
        ) else {
            continue;
        };
        let Ok(id) = id.parse::<u16>() else {
            continue;
        };
        if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            bail!("element {id} has a name that is not an identifier: {name:?}");
        }
        elements.push(Element {
            id,
            name: name.to_owned(),
            data_type: data_type.to_owned(),
        });
    }
    elements.sort_by_key(|e| e.id);
    if elements.windows(2).any(|pair| pair[0].id == pair[1].id) {
        bail!("the registry names an element number twice");
    }
    if elements.len() < 400 {
        bail!("only {} elements read: is this ipfix.xml?", elements.len());
    }
    Ok((updated.to_owned(), elements))
}

/// The Rust variant name of a registry data type (`unsigned64` → `Unsigned64`).
fn variant(data_type: &str) -> String {
    let mut chars = data_type.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn render(updated: &str, elements: &[Element]) -> String {
    let (name, version) = SOURCE_CRATE;
    let mut types: Vec<&str> = elements.iter().map(|e| e.data_type.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "//! IANA's IPFIX information elements (RFC 7012's registry, \"IPFIX Information Elements\"),\n\
         //! as of the registry's update of {updated}: every element with a number, a name and a data\n\
         //! type. Generated by `cargo xtask iana-elements` from IANA's ipfix.xml as shipped in the\n\
         //! crate {name} {version} ({SOURCE_PATH}); do not edit."
    );
    out.push_str(
        "\n/// An element's abstract data type (RFC 7011 section 6.1, RFC 6313 for lists).\n",
    );
    out.push_str("#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub(crate) enum IanaType {\n");
    for data_type in &types {
        let _ = writeln!(out, "    {},", variant(data_type));
    }
    out.push_str("}\n\n");
    out.push_str("/// (element number, name, data type), in number order.\n");
    let _ = writeln!(
        out,
        "pub(crate) const IANA_ELEMENTS: [(u16, &str, IanaType); {}] = [",
        elements.len()
    );
    for element in elements {
        let _ = writeln!(
            out,
            "    ({}, \"{}\", IanaType::{}),",
            element.id,
            element.name,
            variant(&element.data_type)
        );
    }
    out.push_str("];\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_with_a_number_name_and_type_become_elements() {
        let mut xml = String::from(
            "<registry id=\"ipfix\"><updated>2026-07-22</updated>\
             <registry id=\"ipfix-information-elements\">\
             <record><name>Reserved</name><elementId>0</elementId></record>\
             <record date=\"2026-01-01\"><name>late</name><dataType>string</dataType>\
             <elementId>401</elementId></record>",
        );
        for id in 1..=400 {
            let _ = write!(
                xml,
                "<record><name>e{id}</name><dataType>unsigned64</dataType>\
                 <elementId>{id}</elementId></record>"
            );
        }
        xml.push_str(
            "<record><name>Unassigned</name><elementId>534-32767</elementId></record>\
             </registry><registry id=\"other\"><record><name>x</name><elementId>7</elementId>\
             <dataType>string</dataType></record></registry></registry>",
        );
        let (updated, elements) = parse(&xml).unwrap();
        assert_eq!(updated, "2026-07-22");
        assert_eq!(elements.len(), 401);
        assert_eq!((elements[6].id, elements[6].name.as_str()), (7, "e7"));
        let rendered = render(&updated, &elements[..1]);
        assert!(
            rendered.contains(r#"(1, "e1", IanaType::Unsigned64),"#),
            "{rendered}"
        );
    }
}
