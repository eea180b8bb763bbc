use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};

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

/// An object's bytes as read, with what a conditional replace or delete compares against.
#[derive(Debug, Clone)]
pub struct VersionedObject {
    pub bytes: Bytes,
    /// The store's ETag/version (S3); `None` on a local folder, where the bytes themselves are
    /// compared under a file lock.
    version: Option<UpdateVersion>,
}

/// One bucket: a named object store, plus its folder when it is local so writes can be fsynced.
#[derive(Clone)]
pub struct Bucket {
    name: Arc<str>,
    store: Arc<dyn ObjectStore>,
    local_root: Option<PathBuf>,
    /// Folders of a local bucket whose entry in their parent is known to be on disk.
    durable_folders: Arc<DurableFolders>,
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
        // The root may have just been created: its own entry must survive a crash too.
        for folder in [Some(root.as_path()), root.parent()].into_iter().flatten() {
            sync_directory(folder).map_err(create_error)?;
        }
        Ok(Bucket {
            name: name.into(),
            store: Arc::new(store),
            local_root: Some(root),
            durable_folders: Arc::default(),
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
            durable_folders: Arc::default(),
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

    /// Reads an object with its version, for [`Bucket::replace_if_unchanged`].
    pub async fn get_versioned(&self, key: &str) -> Result<Option<VersionedObject>, StorageError> {
        match self
            .store
            .get_opts(&ObjectPath::from(key), GetOptions::default())
            .await
        {
            Ok(result) => {
                let version = UpdateVersion {
                    e_tag: result.meta.e_tag.clone(),
                    version: result.meta.version.clone(),
                };
                let bytes = result
                    .bytes()
                    .await
                    .map_err(|source| self.error("read", key, source))?;
                Ok(Some(VersionedObject {
                    bytes,
                    version: self.local_root.is_none().then_some(version),
                }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.error("read", key, source)),
        }
    }

    /// Replaces an object only if it is still what `expected` read (compare-and-swap): `false`
    /// when another writer changed or removed it in between. S3 checks the ETag (`If-Match`);
    /// a local folder compares the bytes while holding an exclusive lock on the file, and
    /// renames the new bytes over it, so readers see the old or the new object, never a mix.
    pub async fn replace_if_unchanged(
        &self,
        key: &str,
        expected: &VersionedObject,
        bytes: Bytes,
    ) -> Result<bool, StorageError> {
        let Some(root) = &self.local_root else {
            let Some(version) = expected.version.clone() else {
                return Ok(false);
            };
            let options = PutOptions {
                mode: PutMode::Update(version),
                ..PutOptions::default()
            };
            return match self
                .store
                .put_opts(
                    &ObjectPath::from(key),
                    PutPayload::from_bytes(bytes),
                    options,
                )
                .await
            {
                Ok(_) => Ok(true),
                Err(
                    object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
                ) => Ok(false),
                Err(source) => Err(self.error("replace", key, source)),
            };
        };
        let path = root.join(key);
        let expected = expected.bytes.clone();
        self.blocking(key, move || {
            local_swap(&path, &expected, |file_path| {
                let temp = file_path.with_file_name(format!(
                    "{}#swap-{}",
                    file_path.file_name().unwrap_or_default().to_string_lossy(),
                    uuid::Uuid::new_v4().simple()
                ));
                std::fs::write(&temp, &bytes)
                    .and_then(|()| std::fs::File::open(&temp)?.sync_all())
                    .and_then(|()| std::fs::rename(&temp, file_path))
                    .inspect_err(|_| {
                        let _ = std::fs::remove_file(&temp);
                    })?;
                sync_directory(file_path.parent().unwrap_or(file_path))
            })
        })
        .await
    }

    /// Deletes an object only if it is still what `expected` read; `false` otherwise. Atomic on
    /// a local folder (under the file's lock); on S3, which has no conditional delete here, a
    /// read and compare just before the delete narrows the window to one round trip.
    pub async fn delete_if_unchanged(
        &self,
        key: &str,
        expected: &VersionedObject,
    ) -> Result<bool, StorageError> {
        let Some(root) = &self.local_root else {
            let current = self.get_versioned(key).await?;
            let unchanged = current.is_some_and(|current| {
                current.bytes == expected.bytes
                    && current.version.as_ref().map(|v| &v.e_tag)
                        == expected.version.as_ref().map(|v| &v.e_tag)
            });
            if unchanged {
                self.delete(key).await?;
            }
            return Ok(unchanged);
        };
        let path = root.join(key);
        let expected = expected.bytes.clone();
        self.blocking(key, move || {
            local_swap(&path, &expected, |file_path| {
                std::fs::remove_file(file_path)?;
                sync_directory(file_path.parent().unwrap_or(file_path))
            })
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        key: &str,
        work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(std::io::Error::other)
            .and_then(|result| result)
            .map_err(|source| StorageError::Sync {
                bucket: self.name.to_string(),
                key: key.to_owned(),
                source,
            })
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

    /// Deletes many objects in as few requests as the store allows (S3: up to 1000 per
    /// `DeleteObjects`); objects already gone count as deleted. How many were deleted.
    pub async fn delete_many(&self, keys: Vec<String>) -> Result<usize, StorageError> {
        let locations = futures::stream::iter(
            keys.into_iter()
                .map(|key| Ok::<_, object_store::Error>(ObjectPath::from(key))),
        )
        .boxed();
        let mut results = self.store.delete_stream(locations);
        let mut deleted = 0;
        while let Some(result) = results.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(source) => return Err(self.error("delete", "(batch)", source)),
            }
        }
        Ok(deleted)
    }

    /// The folders directly under `prefix` (S3 common prefixes), each ending in `/`.
    pub async fn list_folders(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let prefix_path = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        match self.store.list_with_delimiter(prefix_path.as_ref()).await {
            Ok(listing) => Ok(listing
                .common_prefixes
                .into_iter()
                .map(|folder| format!("{folder}/"))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(source) => Err(self.error("list", prefix, source)),
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
        let root = root.clone();
        let durable_folders = self.durable_folders.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::File::open(&path)?.sync_all()?;
            durable_folders.sync_path(&root, &path, sync_directory)
        })
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

/// Runs `change` on the file at `path` if it still holds `expected`, under an exclusive lock
/// on the file, so two callers comparing the same bytes cannot both change it. `false` when the
/// file is gone, was replaced while we waited for the lock, or holds other bytes.
fn local_swap(
    path: &Path,
    expected: &[u8],
    change: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<bool> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error),
    };
    file.lock()?;
    let held = file.metadata()?;
    let still_there = match std::fs::metadata(path) {
        Ok(current) => current.ino() == held.ino() && current.dev() == held.dev(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => false,
        Err(error) => return Err(error),
    };
    if !still_there {
        return Ok(false);
    }
    let mut current = Vec::new();
    file.read_to_end(&mut current)?;
    if current != expected {
        return Ok(false);
    }
    change(path)?;
    // The lock goes with `file`, after the change is visible under the path.
    Ok(true)
}

fn sync_directory(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

/// Folders known to be durable, by identity, so a put syncs only what it may have created.
///
/// A new object's folder chain can be several levels deep (`tenant/dataset/data/parquet/
/// year=/month=/day=/hour=`), and the object store creates every missing level. A file is only
/// reachable after a crash if each new folder's entry in *its* parent reached the disk, so
/// after syncing the file's own folder, every folder up to the bucket root whose entry is not
/// known durable gets its parent synced. Identity is (device, inode, creation time): a folder
/// removed when its last object went and created again is new, even if its inode number is
/// reused. Without a creation time (some filesystems) nothing is remembered and every level is
/// synced. Bounded by [`DURABLE_FOLDERS_KEPT`] entries.
#[derive(Default)]
struct DurableFolders(std::sync::Mutex<HashMap<PathBuf, FolderIdentity>>);

type FolderIdentity = (u64, u64, std::time::SystemTime);

/// Folder identities remembered per bucket (about 100 bytes each); cleared when full.
const DURABLE_FOLDERS_KEPT: usize = 16_384;

impl DurableFolders {
    fn sync_path(
        &self,
        root: &Path,
        file: &Path,
        mut sync: impl FnMut(&Path) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let Some(folder) = file.parent() else {
            return Ok(());
        };
        // The file's own entry.
        sync(folder)?;
        let mut current = folder;
        while current != root && current.starts_with(root) {
            let Some(parent) = current.parent() else {
                break;
            };
            let meta = std::fs::metadata(current)?;
            let identity = meta
                .created()
                .ok()
                .map(|born| (meta.dev(), meta.ino(), born));
            let known = {
                let folders = self.0.lock().unwrap_or_else(|e| e.into_inner());
                identity.is_some() && folders.get(current) == identity.as_ref()
            };
            if known {
                // Its parents were made durable when it was remembered; a parent created again
                // since would have new children, so `current` would be new too.
                break;
            }
            sync(parent)?;
            if let Some(identity) = identity {
                let mut folders = self.0.lock().unwrap_or_else(|e| e.into_inner());
                if folders.len() >= DURABLE_FOLDERS_KEPT {
                    folders.clear();
                }
                folders.insert(current.to_path_buf(), identity);
            }
            current = parent;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synced_for(folders: &DurableFolders, root: &Path, key: &str) -> Vec<String> {
        let path = root.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"x").unwrap();
        let mut synced = Vec::new();
        folders
            .sync_path(root, &path, |folder| {
                let relative = folder.strip_prefix(root).unwrap().display().to_string();
                synced.push(if relative.is_empty() {
                    ".".into()
                } else {
                    relative
                });
                Ok(())
            })
            .unwrap();
        synced
    }

    #[test]
    fn every_new_folder_up_to_the_root_is_synced_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let folders = DurableFolders::default();
        assert_eq!(
            synced_for(&folders, &root, "t/d/data/x.parquet"),
            ["t/d/data", "t/d", "t", "."],
            "the file's folder, then each new folder's parent up to the root"
        );
        let again = synced_for(&folders, &root, "t/d/data/y.parquet");
        if std::fs::metadata(&root).unwrap().created().is_ok() {
            assert_eq!(again, ["t/d/data"], "known folders are not synced again");
            assert_eq!(synced_for(&folders, &root, "t/e/z"), ["t/e", "t"]);
            // A folder removed and created again is new, whatever its inode number.
            std::fs::remove_dir_all(root.join("t/d")).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert_eq!(
                synced_for(&folders, &root, "t/d/data/w"),
                ["t/d/data", "t/d", "t"]
            );
        } else {
            assert_eq!(again, ["t/d/data", "t/d", "t", "."]);
        }
    }
}
