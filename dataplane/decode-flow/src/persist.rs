//! Templates (and the sampling and system-init times and names options data announced) as bytes, so a
//! restarted collector decodes the next data packet without waiting for the exporter to send
//! its templates again. The format is private to this crate and versioned by its magic.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bytes::Cursor;
use crate::decoder::{NameKey, Names};
use crate::error::TemplateRestoreError;
use crate::templates::{FieldSpec, Template, TemplateKey};

/// Files this version writes: `BFT1`'s sections, then the names options data announced.
const MAGIC: &[u8; 4] = b"BFT2";
/// Files written before names were kept, still read (with no names).
const MAGIC_V1: &[u8; 4] = b"BFT1";

pub(crate) fn put_exporter(out: &mut Vec<u8>, exporter: Option<IpAddr>) {
    match exporter {
        None => out.push(0),
        Some(IpAddr::V4(a)) => {
            out.push(4);
            out.extend(a.octets());
        }
        Some(IpAddr::V6(a)) => {
            out.push(6);
            out.extend(a.octets());
        }
    }
}

pub(crate) fn exporter(cursor: &mut Cursor<'_>) -> Option<Option<IpAddr>> {
    Some(match cursor.u8()? {
        0 => None,
        4 => {
            let b: [u8; 4] = cursor.take(4)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        6 => {
            let b: [u8; 16] = cursor.take(16)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => return None,
    })
}

/// A saved template: `None` when it has more fields than the decoder's limit (not compiled).
pub(crate) type SavedTemplate = (TemplateKey, Option<Template>);

/// Options state a file holds. Templates are handed over one at a time instead (see [`decode`]).
pub(crate) struct Saved {
    pub sampling: HashMap<(Option<IpAddr>, u32), u32>,
    pub system_init: HashMap<(Option<IpAddr>, u32), i64>,
    /// Names options data announced (files written before names were kept have none).
    pub names: Vec<(NameKey, Box<str>)>,
}

pub(crate) fn encode(
    templates: &[(&TemplateKey, &Template)],
    sampling: &HashMap<(Option<IpAddr>, u32), u32>,
    system_init: &HashMap<(Option<IpAddr>, u32), i64>,
    names: &Names,
) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend((templates.len() as u32).to_be_bytes());
    for (key, template) in templates {
        put_exporter(&mut out, key.exporter);
        out.extend(key.domain.to_be_bytes());
        out.extend(key.template_id.to_be_bytes());
        out.push(u8::from(template.options));
        out.extend((template.fields.len() as u16).to_be_bytes());
        for field in &template.fields {
            out.extend(field.element.to_be_bytes());
            out.extend(field.length.to_be_bytes());
            out.extend(field.enterprise.to_be_bytes());
        }
    }
    out.extend((sampling.len() as u32).to_be_bytes());
    for ((exporter, domain), rate) in sampling {
        put_exporter(&mut out, *exporter);
        out.extend(domain.to_be_bytes());
        out.extend(rate.to_be_bytes());
    }
    out.extend((system_init.len() as u32).to_be_bytes());
    for ((exporter, domain), init) in system_init {
        put_exporter(&mut out, *exporter);
        out.extend(domain.to_be_bytes());
        out.extend(init.to_be_bytes());
    }
    names.encode(&mut out);
    out
}

/// Reads a template file: checks all of it first (damaged bytes change nothing), then hands
/// each template to `restore` as it is rebuilt, so restoring holds one template at a time
/// beyond what the decoder keeps. Templates with more than `max_fields` fields are handed
/// over as `None`, without building them.
pub(crate) fn decode(
    bytes: &[u8],
    max_fields: usize,
    mut restore: impl FnMut(SavedTemplate),
) -> Result<Saved, TemplateRestoreError> {
    read(bytes, max_fields, None)?;
    read(bytes, max_fields, Some(&mut restore))
}

fn read(
    bytes: &[u8],
    max_fields: usize,
    mut restore: Option<&mut dyn FnMut(SavedTemplate)>,
) -> Result<Saved, TemplateRestoreError> {
    let mut c = Cursor::new(bytes);
    let has_names = match c.take(4) {
        Some(magic) if magic == MAGIC => true,
        Some(magic) if magic == MAGIC_V1 => false,
        _ => return Err(TemplateRestoreError::NotTemplateFile),
    };
    let damaged = || TemplateRestoreError::Damaged;
    let count = c.u32().ok_or_else(damaged)?;
    for _ in 0..count {
        let exporter = exporter(&mut c).ok_or_else(damaged)?;
        let domain = c.u32().ok_or_else(damaged)?;
        let template_id = c.u16().ok_or_else(damaged)?;
        let options = c.u8().ok_or_else(damaged)? != 0;
        let fields = usize::from(c.u16().ok_or_else(damaged)?);
        // 8 bytes a field: element, length, enterprise.
        let specs = c.take(fields * 8).ok_or_else(damaged)?;
        if fields == 0 {
            return Err(damaged());
        }
        let Some(restore) = restore.as_mut() else {
            continue;
        };
        let template = (fields <= max_fields).then(|| {
            let specs = specs
                .chunks_exact(8)
                .map(|spec| FieldSpec {
                    element: u16::from_be_bytes([spec[0], spec[1]]),
                    length: u16::from_be_bytes([spec[2], spec[3]]),
                    enterprise: u32::from_be_bytes([spec[4], spec[5], spec[6], spec[7]]),
                })
                .collect();
            Template::new(specs, options)
        });
        let key = TemplateKey {
            exporter,
            domain,
            template_id,
        };
        restore((key, template));
    }
    let mut sampling = HashMap::new();
    for _ in 0..c.u32().ok_or_else(damaged)? {
        let exporter = exporter(&mut c).ok_or_else(damaged)?;
        let domain = c.u32().ok_or_else(damaged)?;
        sampling.insert((exporter, domain), c.u32().ok_or_else(damaged)?);
    }
    let mut system_init = HashMap::new();
    for _ in 0..c.u32().ok_or_else(damaged)? {
        let exporter = exporter(&mut c).ok_or_else(damaged)?;
        let domain = c.u32().ok_or_else(damaged)?;
        let init = c.take(8).ok_or_else(damaged)?;
        let init = i64::from_be_bytes(init.try_into().map_err(|_| damaged())?);
        system_init.insert((exporter, domain), init);
    }
    let names = if has_names {
        Names::decode(&mut c).ok_or_else(damaged)?
    } else {
        Vec::new()
    };
    Ok(Saved {
        sampling,
        system_init,
        names,
    })
}
