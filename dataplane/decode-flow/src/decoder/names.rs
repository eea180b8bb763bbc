//! Names exporters announce in options data, applied to the flows carrying the ids they name:
//! interface names and descriptions (`ingressInterface` 10 → `interfaceName` 82,
//! `interfaceDescription` 83), VRF names (`ingressVRFID` 234
//! → `VRFname` 236) and application names (`applicationId` 95 → `applicationName` 96, as Cisco
//! NBAR/AVC's option tables send them). Kept per exporter and observation domain like
//! templates, and per exporter as well: the ids are the device's, and Cisco IOS-XE announces
//! its option tables in another observation domain than its flows (the AVC capture in the
//! tests: tables in domain 6, flows in 512). A flow takes the name its own domain announced,
//! else the one its exporter last announced in any domain. Bounded in count
//! (`FlowLimits::max_names`, `max_names_per_exporter`) and in length, and saved with the
//! templates.

use std::collections::HashMap;
use std::net::IpAddr;

use bytefreezer_schema::FlowColumn;

use crate::bytes::unsigned;
use crate::event_columns::{TextForm, application_key, write_text};
use crate::record::FlowRecord;

/// Longest name kept, in bytes (cut at a character boundary): interface descriptions and
/// application names are far shorter, and the bound keeps a hostile exporter's cost known.
pub(crate) const MAX_NAME_BYTES: usize = 128;

/// What a name is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum NameKind {
    Interface,
    Vrf,
    /// An RFC 6759 application id: the classification engine in `NameKey::engine`.
    Application,
    /// An interface's description (ifDescr; Cisco sends the full name, `GigabitEthernet0/0/1`,
    /// where `interfaceName` is `Gi0/0/1`).
    InterfaceDescription,
}

impl NameKind {
    fn code(self) -> u8 {
        match self {
            NameKind::Interface => 0,
            NameKind::Vrf => 1,
            NameKind::Application => 2,
            NameKind::InterfaceDescription => 3,
        }
    }

    fn from_code(code: u8) -> Option<NameKind> {
        Some(match code {
            0 => NameKind::Interface,
            1 => NameKind::Vrf,
            2 => NameKind::Application,
            3 => NameKind::InterfaceDescription,
            _ => return None,
        })
    }
}

/// One id of one exporter and domain. Ids are compared by value, not encoding: a flow's 2-byte
/// ifIndex names the interface an options record announced in 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct NameKey {
    pub exporter: Option<IpAddr>,
    /// `None`: the exporter's name for the id, whatever domain announced it.
    pub domain: Option<u32>,
    pub kind: NameKind,
    pub engine: u8,
    pub id: u64,
}

/// The names one options record announces, collected field by field.
#[derive(Debug, Default)]
pub(crate) struct AnnouncedInRecord {
    interface: Option<u64>,
    interface_name: Option<Box<str>>,
    interface_description: Option<Box<str>>,
    vrf: Option<u64>,
    vrf_name: Option<Box<str>>,
    application: Option<(u8, u64)>,
    application_name: Option<Box<str>>,
}

fn name(value: &[u8]) -> Box<str> {
    let mut text = Vec::with_capacity(value.len().min(MAX_NAME_BYTES));
    write_text(&mut text, TextForm::Name, value);
    let mut text = String::from_utf8(text).unwrap_or_default();
    if text.len() > MAX_NAME_BYTES {
        let mut end = MAX_NAME_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text.into_boxed_str()
}

impl AnnouncedInRecord {
    /// Reads one field of an options record.
    pub(crate) fn field(&mut self, enterprise: u32, element: u16, value: &[u8]) {
        if enterprise != 0 || value.is_empty() {
            return;
        }
        let number = || (value.len() <= 8).then(|| unsigned(value));
        match element {
            10 => self.interface = number(),
            82 => self.interface_name = Some(name(value)),
            83 => self.interface_description = Some(name(value)),
            234 => self.vrf = number(),
            236 => self.vrf_name = Some(name(value)),
            95 => self.application = application_key(value),
            96 => self.application_name = Some(name(value)),
            _ => {}
        }
    }

    /// The (kind, engine, id, name) pairs the record announced.
    pub(crate) fn into_names(self) -> impl Iterator<Item = (NameKind, u8, u64, Box<str>)> {
        let interface = self
            .interface
            .zip(self.interface_name)
            .map(|(id, name)| (NameKind::Interface, 0, id, name));
        let description = self
            .interface
            .zip(self.interface_description)
            .map(|(id, name)| (NameKind::InterfaceDescription, 0, id, name));
        let vrf = self
            .vrf
            .zip(self.vrf_name)
            .map(|(id, name)| (NameKind::Vrf, 0, id, name));
        let application = self
            .application
            .zip(self.application_name)
            .map(|((engine, id), name)| (NameKind::Application, engine, id, name));
        interface
            .into_iter()
            .chain(description)
            .chain(vrf)
            .chain(application)
    }
}

/// Every name announced, and how many each exporter has.
#[derive(Debug, Default)]
pub(crate) struct Names {
    names: HashMap<NameKey, Box<str>>,
    per_exporter: HashMap<Option<IpAddr>, usize>,
    /// Exporters with at least one name: flows of others skip the lookups.
    scopes: HashMap<Option<IpAddr>, usize>,
}

impl Names {
    /// Keeps `name` for `key` unless that would take the exporter past `per_exporter` names
    /// or all exporters past `total` (replacing a name costs nothing). `false` when refused.
    /// `true` also says nothing changed when the name was already known.
    pub(crate) fn insert(
        &mut self,
        key: NameKey,
        name: Box<str>,
        per_exporter: usize,
        total: usize,
    ) -> Insert {
        if let Some(known) = self.names.get_mut(&key) {
            if *known == name {
                return Insert::Unchanged;
            }
            *known = name;
            return Insert::Changed;
        }
        let count = self.per_exporter.get(&key.exporter).copied().unwrap_or(0);
        if count >= per_exporter || self.names.len() >= total {
            return Insert::Refused;
        }
        self.per_exporter.insert(key.exporter, count + 1);
        *self.scopes.entry(key.exporter).or_default() += 1;
        self.names.insert(key, name);
        Insert::Changed
    }

    /// Whether the exporter announced any name.
    pub(crate) fn has_scope(&self, exporter: Option<IpAddr>) -> bool {
        !self.scopes.is_empty() && self.scopes.contains_key(&exporter)
    }

    /// The names for the flows of an exporter and domain; `None` when the exporter announced
    /// none, so its flows skip the lookups.
    pub(crate) fn scope(&self, exporter: Option<IpAddr>, domain: u32) -> Option<ScopeNames<'_>> {
        self.has_scope(exporter).then_some(ScopeNames {
            names: self,
            exporter,
            domain,
        })
    }

    /// Keeps an announced name under its exporter and domain, and as its exporter's name for
    /// the id; `Refused` when either was refused.
    pub(crate) fn announce(
        &mut self,
        key: NameKey,
        name: Box<str>,
        per_exporter: usize,
        total: usize,
    ) -> Insert {
        let exporter_wide = NameKey {
            domain: None,
            ..key
        };
        let wide = self.insert(exporter_wide, name.clone(), per_exporter, total);
        match (self.insert(key, name, per_exporter, total), wide) {
            (Insert::Refused, _) | (_, Insert::Refused) => Insert::Refused,
            (Insert::Unchanged, Insert::Unchanged) => Insert::Unchanged,
            _ => Insert::Changed,
        }
    }

    pub(crate) fn get(&self, key: &NameKey) -> Option<&str> {
        self.names.get(key).map(|name| &**name)
    }

    /// Appends the names to a template file (`persist`'s last section).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend((self.names.len() as u32).to_be_bytes());
        for (key, name) in &self.names {
            crate::persist::put_exporter(out, key.exporter);
            match key.domain {
                Some(domain) => {
                    out.push(1);
                    out.extend(domain.to_be_bytes());
                }
                None => out.push(0),
            }
            out.push(key.kind.code());
            out.push(key.engine);
            out.extend(key.id.to_be_bytes());
            out.push(name.len() as u8);
            out.extend(name.as_bytes());
        }
    }

    /// Reads what [`Names::encode`] wrote; `None` when damaged.
    pub(crate) fn decode(
        cursor: &mut crate::bytes::Cursor<'_>,
    ) -> Option<Vec<(NameKey, Box<str>)>> {
        let count = cursor.u32()?;
        let mut names = Vec::new();
        for _ in 0..count {
            let exporter = crate::persist::exporter(cursor)?;
            let domain = match cursor.u8()? {
                0 => None,
                1 => Some(cursor.u32()?),
                _ => return None,
            };
            let kind = NameKind::from_code(cursor.u8()?)?;
            let engine = cursor.u8()?;
            let id = unsigned(cursor.take(8)?);
            let length = usize::from(cursor.u8()?);
            let name = std::str::from_utf8(cursor.take(length)?).ok()?;
            let key = NameKey {
                exporter,
                domain,
                kind,
                engine,
                id,
            };
            names.push((key, name.into()));
        }
        Some(names)
    }
}

/// The names of one exporter and domain, for the flows of one data set.
#[derive(Clone, Copy)]
pub(crate) struct ScopeNames<'a> {
    pub names: &'a Names,
    pub exporter: Option<IpAddr>,
    pub domain: u32,
}

impl<'a> ScopeNames<'a> {
    /// The name the flow's domain announced for the id, else its exporter's.
    pub(crate) fn get(&self, kind: NameKind, engine: u8, id: u64) -> Option<&'a str> {
        let key = NameKey {
            exporter: self.exporter,
            domain: Some(self.domain),
            kind,
            engine,
            id,
        };
        self.names.get(&key).or_else(|| {
            self.names.get(&NameKey {
                domain: None,
                ..key
            })
        })
    }

    /// Sets a row-path record's name columns from its ids; an application name the record
    /// states itself is kept.
    pub(crate) fn apply(&self, record: &mut FlowRecord) {
        let events = &mut record.events;
        for (kind, input, output) in [
            (
                NameKind::Interface,
                FlowColumn::InputInterfaceName,
                FlowColumn::OutputInterfaceName,
            ),
            (
                NameKind::InterfaceDescription,
                FlowColumn::InputInterfaceDescription,
                FlowColumn::OutputInterfaceDescription,
            ),
        ] {
            let interface = |id: Option<u32>| self.get(kind, 0, u64::from(id?));
            if let Some(name) = interface(record.input_interface) {
                events.set_name(input, name);
            }
            if let Some(name) = interface(record.output_interface) {
                events.set_name(output, name);
            }
        }
        let vrf = |id: Option<u64>| self.get(NameKind::Vrf, 0, id?);
        if let Some(name) = vrf(events.ingress_vrf) {
            events.set_name(FlowColumn::IngressVrfName, name);
        }
        if let Some(name) = vrf(events.egress_vrf) {
            events.set_name(FlowColumn::EgressVrfName, name);
        }
        if events.text(FlowColumn::AppName).is_none() {
            let application = events.application;
            if let Some(name) =
                application.and_then(|(engine, id)| self.get(NameKind::Application, engine, id))
            {
                events.set_name(FlowColumn::AppName, name);
            }
        }
    }
}

/// What [`Names::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Insert {
    Changed,
    Unchanged,
    Refused,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(exporter: u8, id: u64) -> NameKey {
        NameKey {
            exporter: Some(IpAddr::from([192, 0, 2, exporter])),
            domain: Some(1),
            kind: NameKind::Interface,
            engine: 0,
            id,
        }
    }

    #[test]
    fn names_are_bounded_per_exporter_and_in_total_and_survive_a_file() {
        let mut names = Names::default();
        assert_eq!(
            names.insert(key(1, 1), "Gi0/0".into(), 2, 3),
            Insert::Changed
        );
        assert_eq!(
            names.insert(key(1, 1), "Gi0/0".into(), 2, 3),
            Insert::Unchanged
        );
        assert_eq!(
            names.insert(key(1, 1), "Gi0/1".into(), 2, 3),
            Insert::Changed
        );
        assert_eq!(
            names.insert(key(1, 2), "Gi0/2".into(), 2, 3),
            Insert::Changed
        );
        assert_eq!(
            names.insert(key(1, 3), "Gi0/3".into(), 2, 3),
            Insert::Refused
        );
        assert_eq!(
            names.insert(key(2, 3), "Te1/1".into(), 2, 3),
            Insert::Changed
        );
        assert_eq!(
            names.insert(key(3, 3), "Te1/2".into(), 2, 3),
            Insert::Refused
        );
        assert!(names.has_scope(key(1, 0).exporter));
        assert!(!names.has_scope(key(3, 0).exporter));
        // A name announced in one domain names the exporter's flows in another.
        assert_eq!(
            names.announce(key(4, 9), "Te2/1".into(), 4, 100),
            Insert::Changed
        );
        let scope = ScopeNames {
            names: &names,
            exporter: key(4, 0).exporter,
            domain: 512,
        };
        assert_eq!(scope.get(NameKind::Interface, 0, 9), Some("Te2/1"));
        assert_eq!(scope.get(NameKind::Interface, 0, 8), None);

        let mut file = Vec::new();
        names.encode(&mut file);
        let mut cursor = crate::bytes::Cursor::new(&file);
        let mut restored = Names::decode(&mut cursor).unwrap();
        restored.sort_by_key(|(key, _)| (key.exporter, key.domain, key.id));
        let wide = NameKey {
            domain: None,
            ..key(4, 9)
        };
        assert_eq!(
            restored,
            [
                (key(1, 1), "Gi0/1".into()),
                (key(1, 2), "Gi0/2".into()),
                (key(2, 3), "Te1/1".into()),
                (wide, "Te2/1".into()),
                (key(4, 9), "Te2/1".into()),
            ]
        );
        assert!(Names::decode(&mut crate::bytes::Cursor::new(&file[..file.len() - 1])).is_none());
    }

    #[test]
    fn an_options_record_names_what_it_scopes() {
        let mut record = AnnouncedInRecord::default();
        record.field(0, 10, &[0, 0, 0, 7]);
        record.field(0, 82, b"Gi0/0/1\0\0");
        record.field(0, 83, b"GigabitEthernet0/0/1");
        record.field(0, 95, &[13, 0, 0, 1, 0xc5]);
        record.field(0, 96, &[b'x'; 300]);
        let names: Vec<_> = record.into_names().collect();
        assert_eq!(names[0], (NameKind::Interface, 0, 7, "Gi0/0/1".into()));
        assert_eq!(
            names[1],
            (
                NameKind::InterfaceDescription,
                0,
                7,
                "GigabitEthernet0/0/1".into()
            )
        );
        assert_eq!(
            (names[2].0, names[2].1, names[2].2),
            (NameKind::Application, 13, 453)
        );
        assert_eq!(names[2].3.len(), MAX_NAME_BYTES);
        // A name without its id, or an id without a name, names nothing.
        let mut half = AnnouncedInRecord::default();
        half.field(0, 236, b"blue");
        assert_eq!(half.into_names().count(), 0);
    }
}
