//! The Parquet files of one dataset: name, partition, rows (from each file's footer), size and
//! time, newest first, for the dashboard's dataset page.

use std::sync::Arc;

use bytefreezer_layout::{parquet_folder_in, parse_parquet_object};
use object_store::ObjectStoreExt;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaDataReader;
use serde::Serialize;

use crate::engine::{QueryEngine, QueryError};

/// Footers read per listing; older files are counted but not described.
pub const MAX_LISTED_FILES: usize = 200;

#[derive(Debug, Clone, Serialize)]
pub struct ParquetFile {
    /// The object key in the bucket.
    pub name: String,
    /// `year=YYYY/month=MM/day=DD/hour=HH`.
    pub partition: String,
    /// From the footer; `None` when the footer cannot be read.
    pub rows: Option<i64>,
    pub bytes: u64,
    /// RFC 3339 UTC.
    pub last_modified: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileListing {
    /// Where the files are, as the bucket names it.
    pub location: String,
    pub total_files: usize,
    pub total_bytes: u64,
    /// Newest first, at most [`MAX_LISTED_FILES`].
    pub files: Vec<ParquetFile>,
}

/// Lists the dataset's Parquet files where the engine reads them (its destination).
pub async fn list_parquet_files(
    engine: &QueryEngine,
    tenant: &str,
    dataset: &str,
) -> Result<FileListing, QueryError> {
    let (bucket, folder) = engine.location(tenant, dataset)?;
    // Keys are parsed without the destination prefix, which stands before `{tenant}/`.
    let standard = parquet_folder_in(None, tenant, dataset);
    let prefix_len = folder.len() - standard.len();
    let mut objects: Vec<_> = bucket
        .list(&folder)
        .await
        .map_err(|e| QueryError::Execution(format!("cannot list {folder}: {e}")))?
        .into_iter()
        .filter_map(|info| {
            let parsed = parse_parquet_object(info.key.get(prefix_len..)?)?;
            (parsed.tenant_id == tenant && parsed.dataset_id == dataset).then_some((info, parsed))
        })
        .collect();
    objects.sort_by_key(|(info, _)| std::cmp::Reverse(info.last_modified));
    let total_files = objects.len();
    let total_bytes = objects.iter().map(|(info, _)| info.size).sum();
    let store = bucket.object_store();
    let mut files = Vec::with_capacity(total_files.min(MAX_LISTED_FILES));
    for (info, parsed) in objects.into_iter().take(MAX_LISTED_FILES) {
        let rows = footer_rows(store.clone(), &info.key, info.size).await;
        files.push(ParquetFile {
            partition: parsed.hour.path_segment(),
            name: info.key,
            rows,
            bytes: info.size,
            last_modified: info
                .last_modified
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
    }
    Ok(FileListing {
        location: format!("{}/{folder}", bucket.name()),
        total_files,
        total_bytes,
        files,
    })
}

/// The row count a file's footer records: two small ranged reads, never the whole file.
async fn footer_rows(
    store: Arc<dyn object_store::ObjectStore>,
    key: &str,
    size: u64,
) -> Option<i64> {
    match read_footer_rows(store.as_ref(), key, size).await {
        Ok(rows) => Some(rows),
        Err(error) => {
            tracing::warn!("query: cannot read the footer of {key}: {error}");
            None
        }
    }
}

/// Why a file's footer gave no row count (the file is listed without one).
#[derive(Debug, thiserror::Error)]
enum FooterError {
    #[error("{size} bytes is too small for Parquet")]
    TooSmall { size: u64 },
    #[error("no PAR1 footer")]
    NoFooter,
    #[error("metadata length {length} exceeds the file")]
    MetadataPastFile { length: u64 },
    #[error(transparent)]
    Read(#[from] object_store::Error),
    #[error(transparent)]
    Metadata(#[from] ParquetError),
}

async fn read_footer_rows(
    store: &dyn object_store::ObjectStore,
    key: &str,
    size: u64,
) -> Result<i64, FooterError> {
    // The last 8 bytes: the metadata length (little endian) and the magic `PAR1`.
    const TAIL: u64 = 8;
    if size < TAIL + 4 {
        return Err(FooterError::TooSmall { size });
    }
    let path = object_store::path::Path::from(key);
    let tail = store.get_range(&path, size - TAIL..size).await?;
    if tail.len() != 8 || &tail[4..] != b"PAR1" {
        return Err(FooterError::NoFooter);
    }
    let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if length + TAIL + 4 > size {
        return Err(FooterError::MetadataPastFile { length });
    }
    let metadata = store
        .get_range(&path, size - TAIL - length..size - TAIL)
        .await?;
    let decoded = ParquetMetaDataReader::decode_metadata(&metadata)?;
    Ok(decoded.file_metadata().num_rows())
}
