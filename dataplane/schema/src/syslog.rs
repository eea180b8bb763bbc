use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::columns::{EVENT_TIME, RECEIVE_TIME, timestamp_type};

/// Columns of the fixed syslog schema, in order. The decoder appends to builders in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogColumn {
    ReceiveTime,
    EventTime,
    SenderAddress,
    Format,
    Facility,
    Severity,
    Hostname,
    AppName,
    ProcId,
    MsgId,
    StructuredData,
    VendorFacility,
    VendorSeverity,
    VendorMnemonic,
    Message,
    ParseError,
    ParseWarning,
    Raw,
}

impl SyslogColumn {
    pub const ALL: [SyslogColumn; 18] = [
        SyslogColumn::ReceiveTime,
        SyslogColumn::EventTime,
        SyslogColumn::SenderAddress,
        SyslogColumn::Format,
        SyslogColumn::Facility,
        SyslogColumn::Severity,
        SyslogColumn::Hostname,
        SyslogColumn::AppName,
        SyslogColumn::ProcId,
        SyslogColumn::MsgId,
        SyslogColumn::StructuredData,
        SyslogColumn::VendorFacility,
        SyslogColumn::VendorSeverity,
        SyslogColumn::VendorMnemonic,
        SyslogColumn::Message,
        SyslogColumn::ParseError,
        SyslogColumn::ParseWarning,
        SyslogColumn::Raw,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SyslogColumn::ReceiveTime => RECEIVE_TIME,
            SyslogColumn::EventTime => EVENT_TIME,
            SyslogColumn::SenderAddress => "sender_address",
            SyslogColumn::Format => "format",
            SyslogColumn::Facility => "facility",
            SyslogColumn::Severity => "severity",
            SyslogColumn::Hostname => "hostname",
            SyslogColumn::AppName => "app_name",
            SyslogColumn::ProcId => "procid",
            SyslogColumn::MsgId => "msgid",
            SyslogColumn::StructuredData => "structured_data",
            SyslogColumn::VendorFacility => "vendor_facility",
            SyslogColumn::VendorSeverity => "vendor_severity",
            SyslogColumn::VendorMnemonic => "vendor_mnemonic",
            SyslogColumn::Message => "message",
            SyslogColumn::ParseError => "parse_error",
            SyslogColumn::ParseWarning => "parse_warning",
            SyslogColumn::Raw => "raw",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    fn field(self) -> Field {
        let (data_type, nullable) = match self {
            SyslogColumn::ReceiveTime => (timestamp_type(), false),
            SyslogColumn::EventTime => (timestamp_type(), true),
            SyslogColumn::SenderAddress => (DataType::Utf8, true),
            // How the message was parsed: "rfc5424", "rfc3164", a vendor variant ("cisco",
            // "cisco_asa", "junos", "f5", "fortigate", "paloalto", "checkpoint") or "unparsed".
            SyslogColumn::Format => (DataType::Utf8, false),
            SyslogColumn::Facility | SyslogColumn::Severity => (DataType::UInt8, true),
            // A vendor's own message id: Cisco's %FACILITY-SEVERITY-MNEMONIC, an ASA message
            // number, a Junos tag, an F5 id, a FortiGate log id, a Palo Alto log type.
            SyslogColumn::VendorFacility | SyslogColumn::VendorMnemonic => (DataType::Utf8, true),
            SyslogColumn::VendorSeverity => (DataType::UInt8, true),
            // What was repaired or left out (no PRI, a time without zone ...), in sentences.
            SyslogColumn::ParseWarning => (DataType::Utf8, true),
            SyslogColumn::Hostname
            | SyslogColumn::AppName
            | SyslogColumn::ProcId
            | SyslogColumn::MsgId
            | SyslogColumn::StructuredData
            | SyslogColumn::Message
            | SyslogColumn::ParseError => (DataType::Utf8, true),
            // The original bytes, kept only when the datagram was not valid syslog or not valid
            // UTF-8, so a lossy `message` never loses what was sent.
            SyslogColumn::Raw => (DataType::Binary, true),
        };
        Field::new(self.name(), data_type, nullable)
    }
}

static SYSLOG_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        SyslogColumn::ALL
            .iter()
            .map(|column| column.field())
            .collect::<Vec<_>>(),
    ))
});

/// The fixed schema every syslog batch has when it leaves the decoder.
pub fn syslog_schema() -> SchemaRef {
    SYSLOG_SCHEMA.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_indexes_match_schema_order() {
        let schema = syslog_schema();
        for column in SyslogColumn::ALL {
            assert_eq!(schema.field(column.index()).name(), column.name());
        }
    }
}
