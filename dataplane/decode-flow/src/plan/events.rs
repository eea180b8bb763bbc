//! The firewall, NAT, application and name columns of a plan: compiled from the elements
//! `crate::event_columns` maps, appended a data set at a time like the other columns, with the
//! names options data announced (`crate::decoder::names`) looked up per record.

use bytefreezer_schema::FlowColumn;

use super::{Address, Check, Plan, SetFacts, Uint, address, claim};
use crate::decoder::NameKind;
use crate::event_columns::{
    EventValue, TextForm, application_key, event_value, text_fits, write_text,
};
use crate::record::{EventValues, FlowBuilders};
use crate::templates::FieldSpec;

/// A field feeding a text-valued firewall, NAT or application column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TextField {
    column: FlowColumn,
    form: TextForm,
    offset: usize,
    length: usize,
}

impl Plan {
    /// Compiles a field feeding a firewall, NAT or application column, as `apply` reads it:
    /// a value whose length does not fit goes to `extra_fields`; a second field for the same
    /// column means no plan.
    pub(super) fn event(&mut self, column: FlowColumn, field: &FieldSpec, at: usize) -> Option<()> {
        let length = usize::from(field.length);
        match event_value(column)? {
            EventValue::Unsigned(bits) => {
                if length == 0 || length > 8 {
                    self.extra(field, at);
                    return Some(());
                }
                let uint = Uint::of(at, length);
                if length * 8 > bits as usize {
                    self.checks.push(Check::Fits(uint, bits));
                }
                let slot = match column {
                    FlowColumn::FirewallEvent => &mut self.firewall_event,
                    FlowColumn::FirewallExtEvent => &mut self.firewall_ext_event,
                    FlowColumn::NatEvent => &mut self.nat_event,
                    FlowColumn::XlateSrcPort => &mut self.xlate_src_port,
                    FlowColumn::XlateDstPort => &mut self.xlate_dst_port,
                    _ => return None,
                };
                claim(slot, uint)
            }
            EventValue::Address => {
                let address = match length {
                    4 => Address::V4(at),
                    16 => Address::V6(at),
                    _ => {
                        self.extra(field, at);
                        return Some(());
                    }
                };
                let slot = match column {
                    FlowColumn::XlateSrcAddr => &mut self.xlate_src_addr,
                    FlowColumn::XlateDstAddr => &mut self.xlate_dst_addr,
                    _ => return None,
                };
                claim(slot, address)
            }
            EventValue::Text(form) => {
                if !text_fits(form, length) {
                    self.extra(field, at);
                    return Some(());
                }
                if self.texts.iter().any(|text| text.column == column) {
                    return None;
                }
                self.texts.push(TextField {
                    column,
                    form,
                    offset: at,
                    length,
                });
                Some(())
            }
        }
    }

    /// Whether a set's rows may have a firewall, NAT, application or name value: the layout
    /// carries one, or (`names`: the exporter announced names) an id names are looked up by.
    pub(super) fn has_events(&self, names: bool) -> bool {
        self.firewall_event.is_some()
            || self.firewall_ext_event.is_some()
            || self.nat_event.is_some()
            || self.xlate_src_port.is_some()
            || self.xlate_dst_port.is_some()
            || self.xlate_src_addr.is_some()
            || self.xlate_dst_addr.is_some()
            || !self.texts.is_empty()
            || (names
                && (self.input_interface.is_some()
                    || self.output_interface.is_some()
                    || self.ingress_vrf.is_some()
                    || self.egress_vrf.is_some()))
    }

    /// Appends the firewall, NAT, application and name columns of `records` (whole records).
    pub(super) fn append_events(
        &self,
        records: &[u8],
        facts: &SetFacts<'_>,
        builders: &mut FlowBuilders,
    ) {
        let stride = self.record_len;
        let n = records.len() / stride;
        let rows = || records.chunks_exact(stride);
        builders.write_event_nulls();
        numbers!(
            builders.firewall_event,
            records,
            stride,
            self.firewall_event,
            u8
        );
        numbers!(
            builders.firewall_ext_event,
            records,
            stride,
            self.firewall_ext_event,
            u16
        );
        numbers!(builders.nat_event, records, stride, self.nat_event, u8);
        numbers!(
            builders.xlate_src_port,
            records,
            stride,
            self.xlate_src_port,
            u16
        );
        numbers!(
            builders.xlate_dst_port,
            records,
            stride,
            self.xlate_dst_port,
            u16
        );
        address(
            &mut builders.xlate_src_addr,
            records,
            stride,
            self.xlate_src_addr,
        );
        address(
            &mut builders.xlate_dst_addr,
            records,
            stride,
            self.xlate_dst_addr,
        );
        // Text columns: a field of the record, else (names) what options data announced
        // for the record's id, else null.
        let names = facts.names;
        let application = self
            .texts
            .iter()
            .find(|text| text.column == FlowColumn::AppId);
        for column in EventValues::TEXT_COLUMNS {
            let field = self.texts.iter().find(|text| text.column == column);
            let Some(text) = builders.event_text(column) else {
                continue;
            };
            let name_of = |kind, id: Option<Uint>| {
                let (names, id) = names.zip(id)?;
                Some(move |r: &[u8]| names.get(kind, 0, id.read(r)))
            };
            match (column, field) {
                (_, Some(field)) => text.extend_with(rows(), |out, record| {
                    write_text(
                        out,
                        field.form,
                        &record[field.offset..field.offset + field.length],
                    )
                }),
                (FlowColumn::AppName, None) => match names.zip(application) {
                    Some((names, id)) => push_names(text, rows(), |r| {
                        let (engine, selector) =
                            application_key(&r[id.offset..id.offset + id.length])?;
                        names.get(NameKind::Application, engine, selector)
                    }),
                    None => text.push_nulls(n),
                },
                (column, None) => {
                    // The id whose announced name the column holds.
                    let id = match column {
                        FlowColumn::InputInterfaceName => {
                            (NameKind::Interface, self.input_interface)
                        }
                        FlowColumn::OutputInterfaceName => {
                            (NameKind::Interface, self.output_interface)
                        }
                        FlowColumn::IngressVrfName => (NameKind::Vrf, self.ingress_vrf),
                        FlowColumn::EgressVrfName => (NameKind::Vrf, self.egress_vrf),
                        FlowColumn::InputInterfaceDescription => {
                            (NameKind::InterfaceDescription, self.input_interface)
                        }
                        FlowColumn::OutputInterfaceDescription => {
                            (NameKind::InterfaceDescription, self.output_interface)
                        }
                        _ => (NameKind::Interface, None),
                    };
                    match name_of(id.0, id.1) {
                        Some(name) => push_names(text, rows(), name),
                        None => text.push_nulls(n),
                    }
                }
            }
        }
    }
}

/// One value per record of `rows`: the name `name_of` finds, else null.
fn push_names<'r, 'n>(
    column: &mut crate::columns::TextColumn,
    rows: impl Iterator<Item = &'r [u8]>,
    name_of: impl Fn(&'r [u8]) -> Option<&'n str>,
) {
    for record in rows {
        match name_of(record) {
            Some(name) => {
                column.bytes_mut().extend_from_slice(name.as_bytes());
                column.end_value();
            }
            None => column.push_nulls(1),
        }
    }
}
