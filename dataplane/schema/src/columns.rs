use arrow::datatypes::{DataType, TimeUnit};

/// When the event happened, as the source said. Decides the Parquet hour partition.
pub const EVENT_TIME: &str = "event_time";
/// When the proxy received the datagram or message. The partition falls back to it when the
/// event carries no time of its own.
pub const RECEIVE_TIME: &str = "receive_time";

pub const TIMESTAMP_UNIT: TimeUnit = TimeUnit::Microsecond;

/// Every timestamp column in every stage is UTC microseconds, so batches from different
/// protocols and stages merge without casts.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TIMESTAMP_UNIT, Some("UTC".into()))
}
