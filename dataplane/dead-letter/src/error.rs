use arrow::error::ArrowError;
use bytefreezer_schema::IpcError;
use bytefreezer_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("dead letter {key} cannot be replayed: {problem}")]
    Unreadable {
        key: String,
        #[source]
        problem: RowsProblem,
    },
    #[error(
        "another instance is replaying the dead letters of {tenant_id}/{dataset_id} ({stage}); try again when it is done"
    )]
    Busy {
        tenant_id: String,
        dataset_id: String,
        stage: &'static str,
    },
    #[error("{field} {value:?} is not a valid identifier")]
    Invalid { field: &'static str, value: String },
    #[error("cannot encode the reason of {key}: {source}")]
    Encode {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Why the rows of a dead letter cannot go back without their reason column.
#[derive(Debug, thiserror::Error)]
pub enum RowsProblem {
    #[error("not an Arrow stream: {0}")]
    NotArrow(#[source] IpcError),
    #[error(transparent)]
    Project(ArrowError),
    #[error(transparent)]
    Encode(IpcError),
}
