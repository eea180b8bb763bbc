#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("cannot connect to the control database {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("control database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("control database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored document is unreadable: {0}")]
    Document(#[from] serde_json::Error),
}
