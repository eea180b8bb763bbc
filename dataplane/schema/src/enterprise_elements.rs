//! Enterprise IPFIX elements named as their vendor documents them, for `extra_fields` keys
//! (`"6876:950"` becomes `"vmware.ruleId"`: the vendor prefix keeps them apart from IANA's
//! names, which VMware reuses, `flowDirection` among them). Only vendors whose own
//! documentation gives each element's number, name and type are here:
//! - VMware (PEN 6876): the NSX-T Data Center 3.2 Administration Guide's logical switch and
//!   distributed firewall IPFIX templates (880-890, 898, 950-961), and the tunnel elements
//!   891-897 as Open vSwitch's `ipfix-enterprise-entities.def` (VMware's own) defines them;
//! - ntop nProbe (PEN 35632): the nProbe User's Guide, "Flow Information Elements", as far as
//!   its element list could be read (the rows below; types from their documented meaning).
//!
//! Cisco's AVC/NBAR elements (PEN 9), NetScaler's (5951), Juniper's (2636), Palo Alto's and
//! Fortinet's are not: their numbered lists were not readable in their documentation (see
//! docs/flows.md), and a name guessed from another collector's table would be a defect.

use crate::iana_elements::IanaType;

/// (enterprise, element, key, type), in (enterprise, element) order.
const ENTERPRISE_ELEMENTS: [(u32, u16, &str, IanaType); 35] = [
    (6876, 880, "vmware.tenantProtocol", IanaType::Unsigned8),
    (6876, 881, "vmware.tenantSourceIPv4", IanaType::Ipv4Address),
    (6876, 882, "vmware.tenantDestIPv4", IanaType::Ipv4Address),
    (6876, 883, "vmware.tenantSourceIPv6", IanaType::Ipv6Address),
    (6876, 884, "vmware.tenantDestIPv6", IanaType::Ipv6Address),
    (6876, 886, "vmware.tenantSourcePort", IanaType::Unsigned16),
    (6876, 887, "vmware.tenantDestPort", IanaType::Unsigned16),
    (
        6876,
        888,
        "vmware.egressInterfaceAttr",
        IanaType::Unsigned16,
    ),
    (6876, 889, "vmware.vxlanExportRole", IanaType::Unsigned8),
    (
        6876,
        890,
        "vmware.ingressInterfaceAttr",
        IanaType::Unsigned16,
    ),
    (6876, 891, "vmware.tunnelType", IanaType::Unsigned8),
    (6876, 892, "vmware.tunnelKey", IanaType::OctetArray),
    (
        6876,
        893,
        "vmware.tunnelSourceIPv4Address",
        IanaType::Ipv4Address,
    ),
    (
        6876,
        894,
        "vmware.tunnelDestinationIPv4Address",
        IanaType::Ipv4Address,
    ),
    (
        6876,
        895,
        "vmware.tunnelProtocolIdentifier",
        IanaType::Unsigned8,
    ),
    (
        6876,
        896,
        "vmware.tunnelSourceTransportPort",
        IanaType::Unsigned16,
    ),
    (
        6876,
        897,
        "vmware.tunnelDestinationTransportPort",
        IanaType::Unsigned16,
    ),
    (6876, 898, "vmware.virtualObsID", IanaType::String),
    (6876, 950, "vmware.ruleId", IanaType::Unsigned32),
    (6876, 951, "vmware.vmUuid", IanaType::String),
    (6876, 952, "vmware.vnicIndex", IanaType::Unsigned32),
    (6876, 953, "vmware.sessionFlags", IanaType::Unsigned8),
    (6876, 954, "vmware.flowDirection", IanaType::Unsigned8),
    (6876, 955, "vmware.algControlFlowId", IanaType::Unsigned64),
    (6876, 956, "vmware.algType", IanaType::Unsigned8),
    (6876, 957, "vmware.algFlowType", IanaType::Unsigned8),
    (6876, 958, "vmware.averageLatency", IanaType::Unsigned32),
    (
        6876,
        959,
        "vmware.retransmissionCount",
        IanaType::Unsigned32,
    ),
    (6876, 960, "vmware.vifUuid", IanaType::OctetArray),
    (6876, 961, "vmware.vifId", IanaType::String),
    (35632, 1028, "ntop.PROTOCOL_MAP", IanaType::String),
    (35632, 1031, "ntop.L4_SRC_PORT_MAP", IanaType::String),
    (35632, 1035, "ntop.L4_DST_PORT_MAP", IanaType::String),
    (35632, 1036, "ntop.L4_SRV_PORT", IanaType::Unsigned16),
    (35632, 1037, "ntop.L4_SRV_PORT_MAP", IanaType::String),
];

/// The documented key and type of enterprise element `element` of `enterprise`, if any.
pub(crate) fn enterprise_element(
    enterprise: u32,
    element: u16,
) -> Option<(&'static str, IanaType)> {
    ENTERPRISE_ELEMENTS
        .binary_search_by_key(&(enterprise, element), |(pen, id, _, _)| (*pen, *id))
        .ok()
        .map(|at| (ENTERPRISE_ELEMENTS[at].2, ENTERPRISE_ELEMENTS[at].3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_order_and_keys_are_unique_and_prefixed() {
        assert!(
            ENTERPRISE_ELEMENTS
                .windows(2)
                .all(|pair| (pair[0].0, pair[0].1) < (pair[1].0, pair[1].1))
        );
        let mut keys: Vec<&str> = ENTERPRISE_ELEMENTS.iter().map(|e| e.2).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), ENTERPRISE_ELEMENTS.len());
        assert!(
            keys.iter()
                .all(|k| k.starts_with("vmware.") || k.starts_with("ntop."))
        );
        assert_eq!(
            enterprise_element(6876, 950),
            Some(("vmware.ruleId", IanaType::Unsigned32))
        );
        assert_eq!(enterprise_element(6876, 885), None);
        assert_eq!(enterprise_element(9, 12236), None);
    }
}
