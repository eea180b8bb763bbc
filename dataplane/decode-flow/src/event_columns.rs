//! Firewall, NAT, application and user elements, which users search by name ("every deny from
//! this host", "which inside address was behind this public port"), mapped onto typed columns
//! instead of hex in `extra_fields`: Cisco ASA/FTD NSEL events and ACL ids, NAT events and
//! translated addresses (RFC 8158's elements, and NSEL's ASA 8.4 numbers), RFC 6759 application
//! ids, application and user names (IANA, Cisco NSEL, Palo Alto's App-ID and User-ID).
//!
//! The row path (`elements::apply`) and the plan (`plan`) both ask [`event_column`] where an
//! element goes and write text with the same functions here, so both give the same rows.

use std::io::Write as _;

use bytefreezer_schema::FlowColumn;

/// How a column's value is read from an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventValue {
    /// An unsigned number that must fit this many bits.
    Unsigned(u32),
    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
    Address,
    /// Text written by [`write_text`].
    Text(TextForm),
}

/// How an element's bytes become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextForm {
    /// Cisco NSEL's 12-byte ACL id: ACL, ACE and extended ACE hashes, `0x......../0x......../0x........`.
    AclId,
    /// RFC 6759: a classification engine id (1 byte) and a selector, `<engine>:<selector>`.
    ApplicationId,
    /// A string, up to its first NUL (exporters pad fixed-length names with them); bytes that
    /// are not UTF-8 become U+FFFD.
    Name,
}

/// How `column` is read from an element; `None` for the columns no firewall, NAT or
/// application element feeds.
pub(crate) fn event_value(column: FlowColumn) -> Option<EventValue> {
    Some(match column {
        FlowColumn::FirewallEvent | FlowColumn::NatEvent => EventValue::Unsigned(8),
        FlowColumn::FirewallExtEvent | FlowColumn::XlateSrcPort | FlowColumn::XlateDstPort => {
            EventValue::Unsigned(16)
        }
        FlowColumn::XlateSrcAddr | FlowColumn::XlateDstAddr => EventValue::Address,
        FlowColumn::IngressAclId | FlowColumn::EgressAclId => EventValue::Text(TextForm::AclId),
        FlowColumn::AppId => EventValue::Text(TextForm::ApplicationId),
        // Also the names announced in options data (`decoder/names.rs`).
        FlowColumn::AppName
        | FlowColumn::UserName
        | FlowColumn::InputInterfaceName
        | FlowColumn::OutputInterfaceName
        | FlowColumn::IngressVrfName
        | FlowColumn::EgressVrfName
        | FlowColumn::InputInterfaceDescription
        | FlowColumn::OutputInterfaceDescription => EventValue::Text(TextForm::Name),
        _ => return None,
    })
}

/// The typed column `enterprise:element` feeds, if any. The numbers are IANA's (RFC 7012's
/// registry) and, for NetFlow v9, Cisco's NSEL field types, which v9 carries without an
/// enterprise.
pub(crate) fn event_column(enterprise: u32, element: u16) -> Option<FlowColumn> {
    let column = match (enterprise, element) {
        // firewallEvent; NF_F_FW_EVENT_84 of ASA 8.4.
        (0, 233 | 40005) => FlowColumn::FirewallEvent,
        // NF_F_FW_EXT_EVENT.
        (0, 33002) => FlowColumn::FirewallExtEvent,
        // NF_F_INGRESS_ACL_ID, NF_F_EGRESS_ACL_ID.
        (0, 33000) => FlowColumn::IngressAclId,
        (0, 33001) => FlowColumn::EgressAclId,
        // natEvent.
        (0, 230) => FlowColumn::NatEvent,
        // postNATSourceIPv4Address, postNATSourceIPv6Address; NF_F_XLATE_SRC_ADDR_84.
        (0, 225 | 281 | 40001) => FlowColumn::XlateSrcAddr,
        (0, 226 | 282 | 40002) => FlowColumn::XlateDstAddr,
        // postNAPTSourceTransportPort; NF_F_XLATE_SRC_PORT_84.
        (0, 227 | 40003) => FlowColumn::XlateSrcPort,
        (0, 228 | 40004) => FlowColumn::XlateDstPort,
        // applicationId.
        (0, 95) => FlowColumn::AppId,
        // applicationName; Palo Alto's App-ID (PAN-OS exports NetFlow v9 only, where its
        // numbers need no enterprise; IPFIX could not carry them, being past 15 bits).
        (0, 96 | 56701) => FlowColumn::AppName,
        // userName; NF_F_USERNAME (ASA); Palo Alto's User-ID.
        (0, 371 | 40000 | 56702) => FlowColumn::UserName,
        _ => return None,
    };
    Some(column)
}

/// An RFC 6759 application id as (classification engine, selector), what options data names;
/// `None` for an empty one or a selector past 8 bytes (PEN-qualified selectors, left unnamed).
pub(crate) fn application_key(value: &[u8]) -> Option<(u8, u64)> {
    let (engine, selector) = value.split_first()?;
    (selector.len() <= 8).then(|| (*engine, crate::bytes::unsigned(selector)))
}

/// Whether a value of `length` bytes can be read as `form` (otherwise it goes to
/// `extra_fields`, like any value of an unexpected length).
pub(crate) fn text_fits(form: TextForm, length: usize) -> bool {
    match form {
        TextForm::AclId => length == 12,
        TextForm::ApplicationId => (1..=16).contains(&length),
        TextForm::Name => true,
    }
}

/// Appends `value` as `form`'s text; `value`'s length passed [`text_fits`].
pub(crate) fn write_text(out: &mut Vec<u8>, form: TextForm, value: &[u8]) {
    match form {
        TextForm::AclId => {
            for (i, id) in value.chunks_exact(4).enumerate() {
                let id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
                let separator = if i == 0 { "" } else { "/" };
                let _ = write!(out, "{separator}0x{id:08x}");
            }
        }
        TextForm::ApplicationId => {
            let (engine, selector) = value.split_first().unwrap_or((&0, &[]));
            let _ = write!(out, "{engine}:");
            if selector.len() <= 8 {
                let _ = write!(out, "{}", crate::bytes::unsigned(selector));
            } else {
                crate::text::push_hex(out, selector);
            }
        }
        TextForm::Name => {
            let end = value.iter().position(|b| *b == 0).unwrap_or(value.len());
            match std::str::from_utf8(&value[..end]) {
                Ok(text) => out.extend_from_slice(text.as_bytes()),
                Err(_) => out.extend_from_slice(String::from_utf8_lossy(&value[..end]).as_bytes()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(form: TextForm, value: &[u8]) -> String {
        let mut out = Vec::new();
        write_text(&mut out, form, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_become_the_text_users_search_for() {
        let acl = [0x2c, 0x7c, 0xf3, 0xb3, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            text(TextForm::AclId, &acl),
            "0x2c7cf3b3/0x00000001/0xffffffff"
        );
        // NBAR2: engine 13, selector 453 (4 bytes); IANA L4 port: engine 3.
        assert_eq!(text(TextForm::ApplicationId, &[13, 0, 1, 0xc5]), "13:453");
        assert_eq!(text(TextForm::ApplicationId, &[3, 0, 0x50]), "3:80");
        assert_eq!(text(TextForm::ApplicationId, &[20]), "20:0");
        assert_eq!(
            text(
                TextForm::ApplicationId,
                &[20, 0, 0, 0x63, 0x75, 1, 2, 3, 4, 5]
            ),
            "20:000063750102030405"
        );
        assert_eq!(text(TextForm::Name, b"jdoe\0\0\0\0"), "jdoe");
        assert_eq!(text(TextForm::Name, b"web-browsing"), "web-browsing");
        assert_eq!(text(TextForm::Name, b"caf\xe9\0x"), "caf\u{fffd}");
        assert_eq!(text(TextForm::Name, b""), "");
        assert!(!text_fits(TextForm::AclId, 8));
        assert!(!text_fits(TextForm::ApplicationId, 0));
    }

    #[test]
    fn vendor_numbers_feed_the_same_columns_as_iana_ones() {
        assert_eq!(event_column(0, 233), Some(FlowColumn::FirewallEvent));
        assert_eq!(event_column(0, 40005), Some(FlowColumn::FirewallEvent));
        assert_eq!(event_column(0, 281), Some(FlowColumn::XlateSrcAddr));
        assert_eq!(event_column(0, 40002), Some(FlowColumn::XlateDstAddr));
        assert_eq!(event_column(0, 56701), Some(FlowColumn::AppName));
        assert_eq!(event_column(0, 56702), Some(FlowColumn::UserName));
        assert_eq!(event_column(9, 233), None);
        assert_eq!(event_column(0, 1), None);
    }
}
