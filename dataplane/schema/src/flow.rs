use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::columns::{EVENT_TIME, RECEIVE_TIME, timestamp_type};

/// Columns of the one flow schema NetFlow v5, v9, IPFIX and sFlow share, in order. Addresses
/// are text so `WHERE src_addr = '10.0.0.1'` works in any SQL engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowColumn {
    ReceiveTime,
    EventTime,
    FlowStart,
    FlowEnd,
    ExporterAddress,
    FlowProtocol,
    Sequence,
    ObservationDomain,
    SamplingRate,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    IpProtocol,
    TcpFlags,
    Tos,
    Bytes,
    Packets,
    BytesScaled,
    PacketsScaled,
    InputInterface,
    OutputInterface,
    SrcAs,
    DstAs,
    SrcPrefixLen,
    DstPrefixLen,
    NextHop,
    SrcVlan,
    DstVlan,
    SrcMac,
    DstMac,
    Direction,
    IcmpType,
    IcmpCode,
    RecordType,
    IfSpeed,
    IfInOctets,
    IfOutOctets,
    IfInPackets,
    IfOutPackets,
    IfInErrors,
    IfOutErrors,
    IfInDiscards,
    IfOutDiscards,
    FirewallEvent,
    FirewallExtEvent,
    IngressAclId,
    EgressAclId,
    NatEvent,
    XlateSrcAddr,
    XlateDstAddr,
    XlateSrcPort,
    XlateDstPort,
    AppId,
    AppName,
    UserName,
    InputInterfaceName,
    OutputInterfaceName,
    IngressVrfName,
    EgressVrfName,
    InputInterfaceDescription,
    OutputInterfaceDescription,
    ExtraFields,
}

impl FlowColumn {
    pub const ALL: [FlowColumn; 63] = [
        FlowColumn::ReceiveTime,
        FlowColumn::EventTime,
        FlowColumn::FlowStart,
        FlowColumn::FlowEnd,
        FlowColumn::ExporterAddress,
        FlowColumn::FlowProtocol,
        FlowColumn::Sequence,
        FlowColumn::ObservationDomain,
        FlowColumn::SamplingRate,
        FlowColumn::SrcAddr,
        FlowColumn::DstAddr,
        FlowColumn::SrcPort,
        FlowColumn::DstPort,
        FlowColumn::IpProtocol,
        FlowColumn::TcpFlags,
        FlowColumn::Tos,
        FlowColumn::Bytes,
        FlowColumn::Packets,
        FlowColumn::BytesScaled,
        FlowColumn::PacketsScaled,
        FlowColumn::InputInterface,
        FlowColumn::OutputInterface,
        FlowColumn::SrcAs,
        FlowColumn::DstAs,
        FlowColumn::SrcPrefixLen,
        FlowColumn::DstPrefixLen,
        FlowColumn::NextHop,
        FlowColumn::SrcVlan,
        FlowColumn::DstVlan,
        FlowColumn::SrcMac,
        FlowColumn::DstMac,
        FlowColumn::Direction,
        FlowColumn::IcmpType,
        FlowColumn::IcmpCode,
        FlowColumn::RecordType,
        FlowColumn::IfSpeed,
        FlowColumn::IfInOctets,
        FlowColumn::IfOutOctets,
        FlowColumn::IfInPackets,
        FlowColumn::IfOutPackets,
        FlowColumn::IfInErrors,
        FlowColumn::IfOutErrors,
        FlowColumn::IfInDiscards,
        FlowColumn::IfOutDiscards,
        FlowColumn::FirewallEvent,
        FlowColumn::FirewallExtEvent,
        FlowColumn::IngressAclId,
        FlowColumn::EgressAclId,
        FlowColumn::NatEvent,
        FlowColumn::XlateSrcAddr,
        FlowColumn::XlateDstAddr,
        FlowColumn::XlateSrcPort,
        FlowColumn::XlateDstPort,
        FlowColumn::AppId,
        FlowColumn::AppName,
        FlowColumn::UserName,
        FlowColumn::InputInterfaceName,
        FlowColumn::OutputInterfaceName,
        FlowColumn::IngressVrfName,
        FlowColumn::EgressVrfName,
        FlowColumn::InputInterfaceDescription,
        FlowColumn::OutputInterfaceDescription,
        FlowColumn::ExtraFields,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FlowColumn::ReceiveTime => RECEIVE_TIME,
            FlowColumn::EventTime => EVENT_TIME,
            FlowColumn::FlowStart => "flow_start",
            FlowColumn::FlowEnd => "flow_end",
            FlowColumn::ExporterAddress => "exporter_address",
            FlowColumn::FlowProtocol => "flow_protocol",
            FlowColumn::Sequence => "sequence",
            FlowColumn::ObservationDomain => "observation_domain",
            FlowColumn::SamplingRate => "sampling_rate",
            FlowColumn::SrcAddr => "src_addr",
            FlowColumn::DstAddr => "dst_addr",
            FlowColumn::SrcPort => "src_port",
            FlowColumn::DstPort => "dst_port",
            FlowColumn::IpProtocol => "ip_protocol",
            FlowColumn::TcpFlags => "tcp_flags",
            FlowColumn::Tos => "tos",
            FlowColumn::Bytes => "bytes",
            FlowColumn::Packets => "packets",
            FlowColumn::BytesScaled => "bytes_scaled",
            FlowColumn::PacketsScaled => "packets_scaled",
            FlowColumn::InputInterface => "input_interface",
            FlowColumn::OutputInterface => "output_interface",
            FlowColumn::SrcAs => "src_as",
            FlowColumn::DstAs => "dst_as",
            FlowColumn::SrcPrefixLen => "src_prefix_len",
            FlowColumn::DstPrefixLen => "dst_prefix_len",
            FlowColumn::NextHop => "next_hop",
            FlowColumn::SrcVlan => "src_vlan",
            FlowColumn::DstVlan => "dst_vlan",
            FlowColumn::SrcMac => "src_mac",
            FlowColumn::DstMac => "dst_mac",
            FlowColumn::Direction => "direction",
            FlowColumn::IcmpType => "icmp_type",
            FlowColumn::IcmpCode => "icmp_code",
            FlowColumn::RecordType => "record_type",
            FlowColumn::IfSpeed => "if_speed",
            FlowColumn::IfInOctets => "if_in_octets",
            FlowColumn::IfOutOctets => "if_out_octets",
            FlowColumn::IfInPackets => "if_in_packets",
            FlowColumn::IfOutPackets => "if_out_packets",
            FlowColumn::IfInErrors => "if_in_errors",
            FlowColumn::IfOutErrors => "if_out_errors",
            FlowColumn::IfInDiscards => "if_in_discards",
            FlowColumn::IfOutDiscards => "if_out_discards",
            FlowColumn::FirewallEvent => "firewall_event",
            FlowColumn::FirewallExtEvent => "firewall_ext_event",
            FlowColumn::IngressAclId => "ingress_acl_id",
            FlowColumn::EgressAclId => "egress_acl_id",
            FlowColumn::NatEvent => "nat_event",
            FlowColumn::XlateSrcAddr => "xlate_src_addr",
            FlowColumn::XlateDstAddr => "xlate_dst_addr",
            FlowColumn::XlateSrcPort => "xlate_src_port",
            FlowColumn::XlateDstPort => "xlate_dst_port",
            FlowColumn::AppId => "app_id",
            FlowColumn::AppName => "app_name",
            FlowColumn::UserName => "user_name",
            FlowColumn::InputInterfaceName => "input_interface_name",
            FlowColumn::OutputInterfaceName => "output_interface_name",
            FlowColumn::IngressVrfName => "ingress_vrf_name",
            FlowColumn::EgressVrfName => "egress_vrf_name",
            FlowColumn::InputInterfaceDescription => "input_interface_description",
            FlowColumn::OutputInterfaceDescription => "output_interface_description",
            FlowColumn::ExtraFields => "extra_fields",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn field(self) -> Field {
        let data_type = match self {
            FlowColumn::ReceiveTime
            | FlowColumn::EventTime
            | FlowColumn::FlowStart
            | FlowColumn::FlowEnd => timestamp_type(),
            // "netflow_v5", "netflow_v9", "ipfix" or "sflow_v5".
            FlowColumn::FlowProtocol
            // "flow", or "counters" for sFlow interface counter samples.
            | FlowColumn::RecordType
            | FlowColumn::ExporterAddress
            | FlowColumn::SrcAddr
            | FlowColumn::DstAddr
            | FlowColumn::NextHop
            | FlowColumn::SrcMac
            | FlowColumn::DstMac
            | FlowColumn::XlateSrcAddr
            | FlowColumn::XlateDstAddr
            // ACL ids as `0x<acl>-0x<ace>-0x<hash>` (Cisco NSEL's three 32-bit ids).
            | FlowColumn::IngressAclId
            | FlowColumn::EgressAclId
            // `<engine>:<selector>` (RFC 6759's classification engine and selector id).
            | FlowColumn::AppId
            | FlowColumn::AppName
            | FlowColumn::UserName
            // Names the exporter announced in options data for the row's ids.
            | FlowColumn::InputInterfaceName
            | FlowColumn::OutputInterfaceName
            | FlowColumn::IngressVrfName
            | FlowColumn::EgressVrfName
            | FlowColumn::InputInterfaceDescription
            | FlowColumn::OutputInterfaceDescription
            // Fields the schema does not name, as a JSON object: `{"<pen>:<ie>": "<hex>"}`
            // (pen 0 for IANA elements).
            | FlowColumn::ExtraFields => DataType::Utf8,
            FlowColumn::Sequence
            | FlowColumn::IfSpeed
            | FlowColumn::IfInOctets
            | FlowColumn::IfOutOctets
            | FlowColumn::IfInPackets
            | FlowColumn::IfOutPackets
            | FlowColumn::IfInErrors
            | FlowColumn::IfOutErrors
            | FlowColumn::IfInDiscards
            | FlowColumn::IfOutDiscards
            | FlowColumn::Bytes
            | FlowColumn::Packets
            | FlowColumn::BytesScaled
            | FlowColumn::PacketsScaled => DataType::UInt64,
            FlowColumn::ObservationDomain
            | FlowColumn::SamplingRate
            | FlowColumn::InputInterface
            | FlowColumn::OutputInterface
            | FlowColumn::SrcAs
            | FlowColumn::DstAs => DataType::UInt32,
            FlowColumn::SrcPort
            | FlowColumn::DstPort
            | FlowColumn::TcpFlags
            | FlowColumn::SrcVlan
            | FlowColumn::DstVlan
            | FlowColumn::FirewallExtEvent
            | FlowColumn::XlateSrcPort
            | FlowColumn::XlateDstPort => DataType::UInt16,
            FlowColumn::IpProtocol
            | FlowColumn::Tos
            | FlowColumn::SrcPrefixLen
            | FlowColumn::DstPrefixLen
            // 0 ingress, 1 egress.
            | FlowColumn::Direction
            | FlowColumn::IcmpType
            | FlowColumn::IcmpCode
            | FlowColumn::FirewallEvent
            | FlowColumn::NatEvent => DataType::UInt8,
        };
        let nullable = !matches!(
            self,
            FlowColumn::ReceiveTime | FlowColumn::FlowProtocol | FlowColumn::RecordType
        );
        Field::new(self.name(), data_type, nullable)
    }
}

static FLOW_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        FlowColumn::ALL
            .iter()
            .map(|column| column.field())
            .collect::<Vec<_>>(),
    ))
});

/// The fixed schema every flow batch has when it leaves a flow decoder.
pub fn flow_schema() -> SchemaRef {
    FLOW_SCHEMA.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_indexes_match_schema_order() {
        let schema = flow_schema();
        assert_eq!(schema.fields().len(), FlowColumn::ALL.len());
        for column in FlowColumn::ALL {
            assert_eq!(schema.field(column.index()).name(), column.name());
        }
    }
}
