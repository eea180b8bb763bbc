//! Table rows from whatever a proxy shipped: the edge batches are built into the tables users
//! query here, off the edge, before the pipeline; anything else (JSON rows, a table batch) is
//! already in table form.

use arrow::record_batch::RecordBatch;
use bytefreezer_api::NestedJson;
use bytefreezer_decode_syslog::{SyslogCounts, syslog_edge_to_table};
use bytefreezer_schema::{
    EVENTS_EDGE_FORMAT, EdgeError, FLOW_EDGE_FORMATS, KNOWN_EDGE_FORMATS, SYSLOG_EDGE_FORMAT,
    edge_format, edge_to_table,
};

use crate::events_table::events_to_table;

/// A batch in table form and how its syslog rows parsed (zero for anything else).
pub struct TableRows {
    pub batch: RecordBatch,
    pub syslog: SyslogCounts,
}

/// `batch` as table rows: flow edge batches get text addresses and derived columns, syslog
/// edge batches are parsed, events' JSON keys become columns (nested objects flattened); an
/// unknown edge version is [`EdgeError::UnknownFormat`].
pub fn table_rows(batch: RecordBatch) -> Result<TableRows, EdgeError> {
    table_rows_with(batch, NestedJson::Flatten)
}

/// [`table_rows`], with the dataset's choice for objects nested in JSON events.
pub fn table_rows_with(batch: RecordBatch, nested: NestedJson) -> Result<TableRows, EdgeError> {
    match edge_format(batch.schema_ref())? {
        Some(format) if FLOW_EDGE_FORMATS.contains(&format) => Ok(TableRows {
            batch: edge_to_table(&batch)?,
            syslog: SyslogCounts::default(),
        }),
        Some(SYSLOG_EDGE_FORMAT) => {
            let table = syslog_edge_to_table(&batch)?;
            Ok(TableRows {
                batch: table.batch,
                syslog: table.counts,
            })
        }
        Some(EVENTS_EDGE_FORMAT) => Ok(TableRows {
            batch: events_to_table(&batch, nested)?,
            syslog: SyslogCounts::default(),
        }),
        // edge_format only answers the formats this build knows; a new one must be added here.
        Some(other) => Err(EdgeError::UnknownFormat {
            found: other.to_owned(),
            known: KNOWN_EDGE_FORMATS.join(", "),
        }),
        None => Ok(TableRows {
            batch,
            syslog: SyslogCounts::default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use bytefreezer_decode_syslog::{DatagramMeta, Format, SyslogDecoder, SyslogEdgeBuilder};
    use bytefreezer_schema::{SyslogColumn, flow_schema};

    use super::*;

    #[test]
    fn syslog_edge_batches_are_parsed_and_table_batches_pass_through() {
        let meta = DatagramMeta {
            receive_time_micros: 1_795_000_000_000_000,
            sender: Some("192.0.2.7".parse().unwrap()),
        };
        let mut edge = SyslogEdgeBuilder::with_capacity(2);
        edge.append(b"<38>Nov 24 22:14:15 web02 sshd[812]: accepted", &meta);
        edge.append(b"no priority here", &meta);
        let rows = table_rows(edge.flush().unwrap()).unwrap();
        assert_eq!(rows.syslog.unparsed, 1);
        assert_eq!(rows.syslog.rows_by_format[Format::Rfc3164.index()], 1);
        assert_eq!(rows.syslog.rows_by_format[Format::Unparsed.index()], 1);
        let hostname = rows.batch.column(SyslogColumn::Hostname.index());
        assert_eq!(
            arrow::array::AsArray::as_string::<i32>(hostname).value(0),
            "web02"
        );

        let mut direct = SyslogDecoder::with_capacity(1);
        direct.decode(b"<13>hello", &meta);
        let table = direct.flush().unwrap();
        assert_eq!(table_rows(table.clone()).unwrap().batch, table);
        let flows = RecordBatch::new_empty(flow_schema());
        assert_eq!(table_rows(flows.clone()).unwrap().batch, flows);
    }
}
