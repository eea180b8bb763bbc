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
/// after a restart (holder ids persist in the service's data folder). A takeover replaces the
/// expired record with a compare-and-swap on the version that was read (ETag on S3, the bytes
/// under a file lock on a local folder), never delete-then-create: between those two steps a
/// second instance that had read the same expired record could delete the first's fresh lease
/// and create its own, and both would work on the item.
#[derive(Clone, Debug)]
pub struct LeaseKeeper {
    bucket: Bucket,
    holder: String,
    ttl: Duration,
}

/// Another instance took the lease over: this holder could not renew it within its TTL.
#[derive(Debug, thiserror::Error)]
#[error("lease {0} was taken over by another instance")]
pub struct LeaseLost(pub String);

/// A lease this process holds. Release it when the work item is finished.
#[derive(Debug)]
pub struct Lease {
    key: String,
    /// The record this holder wrote, so release removes only this holder's lease.
    record: Bytes,
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

    /// Tries to take the lease stored at `lease_key`; `None` when another live holder has it
    /// (or took it over at the same moment).
    pub async fn try_acquire(&self, lease_key: &str) -> Result<Option<Lease>, StorageError> {
        let record = self.record();
        let lease = || Lease {
            key: lease_key.to_owned(),
            record: record.clone(),
        };
        if self.bucket.put_if_absent(lease_key, record.clone()).await? {
            return Ok(Some(lease()));
        }
        let Some(existing) = self.bucket.get_versioned(lease_key).await? else {
            // Released between our create and our read: try once more.
            return Ok(self
                .bucket
                .put_if_absent(lease_key, record.clone())
                .await?
                .then(lease));
        };
        let takeover = match serde_json::from_slice::<LeaseRecord>(&existing.bytes) {
            Ok(current) => current.holder == self.holder || current.expires_at < Utc::now(),
            // An unreadable lease (torn write on a crash) cannot protect anything.
            Err(_) => true,
        };
        if !takeover {
            return Ok(None);
        }
        Ok(self
            .bucket
            .replace_if_unchanged(lease_key, &existing, record.clone())
            .await?
            .then(lease))
    }

    /// Gives the lease up; a lease another instance took over after it expired stays theirs
    /// (this holder's own record, even renewed after a restart, is removed).
    pub async fn release(&self, lease: Lease) -> Result<(), StorageError> {
        let Some(current) = self.bucket.get_versioned(&lease.key).await? else {
            return Ok(());
        };
        let ours = current.bytes == lease.record
            || serde_json::from_slice::<LeaseRecord>(&current.bytes)
                .is_ok_and(|record| record.holder == self.holder);
        if !ours {
            tracing::warn!(
                "lease {}: taken over by another instance after it expired; leaving it to them",
                lease.key
            );
            return Ok(());
        }
        self.bucket
            .delete_if_unchanged(&lease.key, &current)
            .await?;
        Ok(())
    }

    /// Extends a held lease by another TTL; `false` when another holder has it now.
    pub async fn renew(&self, lease: &mut Lease) -> Result<bool, StorageError> {
        let Some(current) = self.bucket.get_versioned(&lease.key).await? else {
            return Ok(false);
        };
        if current.bytes != lease.record {
            return Ok(false);
        }
        let fresh = self.record();
        if self
            .bucket
            .replace_if_unchanged(&lease.key, &current, fresh.clone())
            .await?
        {
            lease.record = fresh;
            return Ok(true);
        }
        Ok(false)
    }

    /// Runs `work` while renewing `lease` every third of the TTL, so work that takes longer
    /// than the TTL (a large file, a slow store) is not taken over by another instance while it
    /// runs. When a renewal finds the lease taken over, `work` is dropped where it stands, as a
    /// crash would stop it (every stage recovers from that), and [`LeaseLost`] returned. A
    /// renewal that fails (store unreachable) is tried again at the next tick.
    pub async fn hold<T>(
        &self,
        lease: &mut Lease,
        work: impl Future<Output = T>,
    ) -> Result<T, LeaseLost> {
        let interval = (self.ttl / 3).max(Duration::from_millis(50));
        tokio::pin!(work);
        loop {
            tokio::select! {
                output = &mut work => return Ok(output),
                _ = tokio::time::sleep(interval) => match self.renew(lease).await {
                    Ok(true) => {}
                    Ok(false) => return Err(LeaseLost(lease.key.clone())),
                    Err(error) => {
                        tracing::warn!("cannot renew lease {}: {error}; retrying", lease.key);
                    }
                },
            }
        }
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

    /// Many instances find the same expired lease at once: exactly one takes it over. With a
    /// delete-then-create takeover, a slower instance deleted the winner's fresh lease and
    /// created its own, so two instances held it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn racing_takeovers_of_an_expired_lease_have_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::local("piper", dir.path().to_path_buf()).unwrap();
        racing_takeovers(bucket).await;
    }

    async fn racing_takeovers(bucket: Bucket) {
        let dead = LeaseKeeper::new(bucket.clone(), "crashed", Duration::from_millis(1));
        for round in 0..40 {
            let key = format!("_l/race-{round}");
            assert!(dead.try_acquire(&key).await.unwrap().is_some());
            tokio::time::sleep(Duration::from_millis(3)).await;
            let contenders: Vec<_> = (0..8)
                .map(|index| {
                    let keeper = LeaseKeeper::new(
                        bucket.clone(),
                        format!("node-{index}"),
                        Duration::from_secs(60),
                    );
                    let key = key.clone();
                    tokio::spawn(async move { keeper.try_acquire(&key).await.unwrap() })
                })
                .collect();
            let mut winners = 0;
            for contender in contenders {
                winners += usize::from(contender.await.unwrap().is_some());
            }
            assert_eq!(
                winners, 1,
                "round {round}: {winners} instances hold the lease"
            );
        }
    }

    #[tokio::test]
    async fn held_work_outlives_the_ttl_and_a_lease_taken_over_stops_the_work() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::local("piper", dir.path().to_owned()).unwrap();
        let ttl = Duration::from_millis(300);
        let a = LeaseKeeper::new(bucket.clone(), "a", ttl);
        let b = LeaseKeeper::new(bucket.clone(), "b", ttl);
        let mut lease = a.try_acquire("l").await.unwrap().unwrap();
        // Three TTLs of work: renewed all along, so b never gets it.
        let contender = async {
            for _ in 0..9 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                assert!(b.try_acquire("l").await.unwrap().is_none());
            }
        };
        let (held, ()) = tokio::join!(
            a.hold(&mut lease, tokio::time::sleep(Duration::from_millis(900))),
            contender
        );
        assert!(held.is_ok());
        // Taken over behind a's back (as after a pause longer than the TTL): a's work stops.
        bucket
            .put(
                "l",
                Bytes::from(
                    serde_json::to_vec(&LeaseRecord {
                        holder: "b".into(),
                        expires_at: Utc::now() + ttl,
                    })
                    .unwrap(),
                ),
            )
            .await
            .unwrap();
        let stopped = a
            .hold(&mut lease, tokio::time::sleep(Duration::from_secs(30)))
            .await;
        assert!(matches!(stopped, Err(LeaseLost(key)) if key == "l"));
    }

    #[tokio::test]
    async fn a_late_release_leaves_the_new_holders_lease() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::local("piper", dir.path().to_path_buf()).unwrap();
        let slow = LeaseKeeper::new(bucket.clone(), "slow", Duration::from_millis(1));
        let next = LeaseKeeper::new(bucket.clone(), "next", Duration::from_secs(60));
        let stale = slow.try_acquire("_l/z").await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let taken = next.try_acquire("_l/z").await.unwrap().unwrap();
        slow.release(stale).await.unwrap();
        let third = LeaseKeeper::new(bucket.clone(), "third", Duration::from_secs(60));
        assert!(
            third.try_acquire("_l/z").await.unwrap().is_none(),
            "still next's"
        );
        next.release(taken).await.unwrap();
        assert!(third.try_acquire("_l/z").await.unwrap().is_some());
    }
}
