use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bucket::{Bucket, StorageError};

#[derive(Debug, Serialize, Deserialize)]
struct LeaseRecord {
    holder: String,
    expires_at: DateTime<Utc>,
}

/// Takes and releases leases on work items for one holder (a service instance).
///
/// A lease is an object created with create-if-absent, so two instances never both win. A
/// lease whose holder crashed is taken over once it expires, and immediately by the same holder
/// after a restart (holder ids persist in the service's data folder).
#[derive(Clone, Debug)]
pub struct LeaseKeeper {
    bucket: Bucket,
    holder: String,
    ttl: Duration,
}

/// A lease this process holds. Release it when the work item is finished.
#[derive(Debug)]
pub struct Lease {
    key: String,
}

impl LeaseKeeper {
    pub fn new(bucket: Bucket, holder: impl Into<String>, ttl: Duration) -> LeaseKeeper {
        LeaseKeeper {
            bucket,
            holder: holder.into(),
            ttl,
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Tries to take the lease stored at `lease_key`; `None` when another live holder has it.
    pub async fn try_acquire(&self, lease_key: &str) -> Result<Option<Lease>, StorageError> {
        if self.bucket.put_if_absent(lease_key, self.record()).await? {
            return Ok(Some(Lease {
                key: lease_key.to_owned(),
            }));
        }
        let Some(existing) = self.bucket.get(lease_key).await? else {
            // Released between our create and our read: try once more.
            return Ok(self
                .bucket
                .put_if_absent(lease_key, self.record())
                .await?
                .then(|| Lease {
                    key: lease_key.to_owned(),
                }));
        };
        let takeover = match serde_json::from_slice::<LeaseRecord>(&existing) {
            Ok(record) => record.holder == self.holder || record.expires_at < Utc::now(),
            // An unreadable lease (torn write on a crash) cannot protect anything.
            Err(_) => true,
        };
        if !takeover {
            return Ok(None);
        }
        self.bucket.delete(lease_key).await?;
        Ok(self
            .bucket
            .put_if_absent(lease_key, self.record())
            .await?
            .then(|| Lease {
                key: lease_key.to_owned(),
            }))
    }

    pub async fn release(&self, lease: Lease) -> Result<(), StorageError> {
        self.bucket.delete(&lease.key).await
    }

    fn record(&self) -> Bytes {
        let record = LeaseRecord {
            holder: self.holder.clone(),
            expires_at: Utc::now() + self.ttl,
        };
        Bytes::from(serde_json::to_vec(&record).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_until_release_or_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::local("piper", dir.path().to_path_buf()).unwrap();
        let first = LeaseKeeper::new(bucket.clone(), "node-a", Duration::from_secs(60));
        let second = LeaseKeeper::new(bucket.clone(), "node-b", Duration::from_secs(60));
        let lease = first.try_acquire("_l/x").await.unwrap().unwrap();
        assert!(second.try_acquire("_l/x").await.unwrap().is_none());
        // The same holder after a restart takes its own lease back at once.
        let again = LeaseKeeper::new(bucket.clone(), "node-a", Duration::from_secs(60));
        assert!(again.try_acquire("_l/x").await.unwrap().is_some());
        first.release(lease).await.unwrap();
        assert!(second.try_acquire("_l/x").await.unwrap().is_some());

        let short = LeaseKeeper::new(bucket.clone(), "node-c", Duration::from_millis(1));
        assert!(short.try_acquire("_l/y").await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(second.try_acquire("_l/y").await.unwrap().is_some());
    }
}
