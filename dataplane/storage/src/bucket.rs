use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::s3::S3Settings;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("bucket {bucket}: cannot create folder {path}: {source}")]
    CreateFolder {
        bucket: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bucket {bucket}: {operation} {key}: {source}")]
    Object {
        bucket: String,
        operation: &'static str,
        key: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("bucket {bucket}: cannot make {key} durable: {source}")]
    Sync {
        bucket: String,
        key: String,
        #[source]
        source: std::io::Error,
    },
}

/// What a listing returns for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
}

/// One bucket: a named object store, plus its folder when it is local so writes can be fsynced.
#[derive(Clone)]
pub struct Bucket {
    name: Arc<str>,
    store: Arc<dyn ObjectStore>,
    local_root: Option<PathBuf>,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("name", &self.name)
            .field("local_root", &self.local_root)
            .finish()
    }
}

impl Bucket {
    pub fn local(name: &str, root: PathBuf) -> Result<Bucket, StorageError> {
        let create_error = |source| StorageError::CreateFolder {
            bucket: name.to_owned(),
            path: root.clone(),
            source,
        };
        std::fs::create_dir_all(&root).map_err(create_error)?;
        let root = root.canonicalize().map_err(create_error)?;
        let store = LocalFileSystem::new_with_prefix(&root)
            .map_err(|source| StorageError::Object {
                bucket: name.to_owned(),
                operation: "open",
                key: root.display().to_string(),
                source: Box::new(source),
            })?
            // Deleting the last object of a partition removes its empty folders, so a busy
            // bucket does not accumulate thousands of empty directories.
            .with_automatic_cleanup(true);
        Ok(Bucket {
            name: name.into(),
            store: Arc::new(store),
            local_root: Some(root),
        })
    }

    /// `name` is the bucket's role (`intake`, `piper`, `packer` or a destination name), shown in
    /// messages; `bucket` the S3 bucket behind it.
    pub fn s3(name: &str, bucket: &str, settings: &S3Settings) -> Result<Bucket, StorageError> {
        let store = settings
            .builder(bucket)
            .build()
            .map_err(|source| StorageError::Object {
                bucket: name.to_owned(),
                operation: "open S3 bucket",
                key: bucket.to_owned(),
                source: Box::new(source),
            })?;
        Ok(Bucket {
            name: name.into(),
            store: Arc::new(store),
            local_root: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folder behind a local bucket, for messages that tell users where files land.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// The underlying store, for streaming writers (multipart Parquet uploads).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// Writes (or replaces) an object and returns once it is durable.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from_bytes(bytes))
            .await
            .map_err(|source| self.error("put", key, source))?;
        self.make_durable(key).await
    }

    /// Creates the object only if no object has that key; returns `false` when one existed.
    pub async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<bool, StorageError> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(
                &ObjectPath::from(key),
                PutPayload::from_bytes(bytes),
                options,
            )
            .await
        {
            Ok(_) => {
                self.make_durable(key).await?;
                Ok(true)
            }
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(source) => Err(self.error("create", key, source)),
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(result) => result
                .bytes()
                .await
                .map(Some)
                .map_err(|source| self.error("read", key, source)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.error("read", key, source)),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(self.error("head", key, source)),
        }
    }

    /// The size of an object, `None` when it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.error("head", key, source)),
        }
    }

    /// Deletes an object; deleting one that is already gone is not an error, so a repeated
    /// cleanup after a crash succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(self.error("delete", key, source)),
        }
    }

    /// Lists every object under `prefix` (a folder-like prefix such as `tenant/dataset/`).
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        let prefix_path = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        let listing = self.store.list(prefix_path.as_ref());
        let objects: Vec<object_store::ObjectMeta> = match listing.try_collect().await {
            Ok(objects) => objects,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(source) => return Err(self.error("list", prefix, source)),
        };
        Ok(objects
            .into_iter()
            .map(|meta| ObjectInfo {
                key: meta.location.to_string(),
                size: meta.size,
                last_modified: meta.last_modified,
            })
            .collect())
    }

    /// Makes an object written by a streaming writer durable (see [`Bucket::put`]).
    pub async fn make_durable(&self, key: &str) -> Result<(), StorageError> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let path = root.join(key);
        tokio::task::spawn_blocking(move || fsync_file_and_parent(&path))
            .await
            .map_err(std::io::Error::other)
            .and_then(|result| result)
            .map_err(|source| StorageError::Sync {
                bucket: self.name.to_string(),
                key: key.to_owned(),
                source,
            })
    }

    fn error(
        &self,
        operation: &'static str,
        key: &str,
        source: object_store::Error,
    ) -> StorageError {
        StorageError::Object {
            bucket: self.name.to_string(),
            operation,
            key: key.to_owned(),
            source: Box::new(source),
        }
    }
}

fn fsync_file_and_parent(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}
