//! One suite for every storage backend: a local folder and S3 (moto's real S3 server).

#[path = "support/moto.rs"]
mod moto;

use bytefreezer_storage::{Bucket, Buckets, LeaseKeeper, StorageConfig};
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

async fn put_get_list_delete_and_create_if_absent(bucket: Bucket) {
    bucket
        .put("t/d/a.arrows", Bytes::from_static(b"one"))
        .await
        .unwrap();
    bucket
        .put("t/d/b.arrows", Bytes::from_static(b"two"))
        .await
        .unwrap();
    bucket
        .put("t/other/c.arrows", Bytes::from_static(b"three"))
        .await
        .unwrap();
    assert_eq!(bucket.get("t/d/a.arrows").await.unwrap().unwrap(), "one");
    assert_eq!(bucket.get("t/d/missing").await.unwrap(), None);
    assert_eq!(bucket.size("t/d/b.arrows").await.unwrap(), Some(3));
    assert_eq!(bucket.size("t/d/missing").await.unwrap(), None);
    let mut keys: Vec<_> = bucket
        .list("t/d/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    keys.sort();
    assert_eq!(keys, ["t/d/a.arrows", "t/d/b.arrows"]);
    assert!(bucket.list("nothing/").await.unwrap().is_empty());
    assert_eq!(bucket.list("").await.unwrap().len(), 3);

    assert!(
        bucket
            .put_if_absent("lease", Bytes::from_static(b"x"))
            .await
            .unwrap()
    );
    assert!(
        !bucket
            .put_if_absent("lease", Bytes::from_static(b"y"))
            .await
            .unwrap()
    );
    assert_eq!(bucket.get("lease").await.unwrap().unwrap(), "x");

    bucket.delete("t/d/a.arrows").await.unwrap();
    bucket.delete("t/d/a.arrows").await.unwrap();
    assert!(!bucket.exists("t/d/a.arrows").await.unwrap());
    assert!(bucket.exists("t/d/b.arrows").await.unwrap());
}

/// Packer's marker expiry walks folders and deletes in bulk (S3 `DeleteObjects`).
async fn folders_are_listed_and_many_objects_deleted_at_once(bucket: Bucket) {
    let keys: Vec<String> = (0..1100)
        .map(|n| format!("m/t/year=2026/hour={:02}/{n}.arrows", n % 3))
        .collect();
    use futures::StreamExt;
    let written: Vec<_> = futures::stream::iter(&keys)
        .map(|key| bucket.put(key, Bytes::from_static(b"")))
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(written.iter().all(Result::is_ok));
    bucket
        .put("m/top.json", Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert_eq!(bucket.list_folders("m/").await.unwrap(), ["m/t/"]);
    let mut hours = bucket.list_folders("m/t/year=2026/").await.unwrap();
    hours.sort();
    assert_eq!(
        hours,
        [
            "m/t/year=2026/hour=00/",
            "m/t/year=2026/hour=01/",
            "m/t/year=2026/hour=02/"
        ]
    );
    assert!(bucket.list_folders("nothing/").await.unwrap().is_empty());
    let mut doomed = keys.clone();
    doomed.push("m/never-written".into());
    assert_eq!(bucket.delete_many(doomed).await.unwrap(), 1101);
    let left: Vec<_> = bucket
        .list("m/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(left, ["m/top.json"]);
}

/// Packer streams Parquet through a multipart upload; the object appears whole at the end.
async fn multipart_uploads_arrive_whole(bucket: Bucket) {
    let store = bucket.object_store();
    let path = ObjectPath::from("t/d/data/parquet/big.parquet");
    let mut upload = store.put_multipart(&path).await.unwrap();
    let part = vec![7u8; 5 * 1024 * 1024];
    upload
        .put_part(PutPayload::from(part.clone()))
        .await
        .unwrap();
    upload
        .put_part(PutPayload::from(vec![9u8; 10]))
        .await
        .unwrap();
    upload.complete().await.unwrap();
    bucket.make_durable(path.as_ref()).await.unwrap();
    let bytes = bucket.get(path.as_ref()).await.unwrap().unwrap();
    assert_eq!(bytes.len(), 5 * 1024 * 1024 + 10);
    assert_eq!(&bytes[bytes.len() - 10..], &[9u8; 10]);
    let tail = store
        .get_range(&path, (bytes.len() as u64 - 4)..(bytes.len() as u64))
        .await
        .unwrap();
    assert_eq!(&tail[..], &[9u8; 4]);
}

/// Two workers race for the same input: exactly one gets the lease.
async fn leases_are_exclusive(bucket: Bucket) {
    let ttl = std::time::Duration::from_secs(60);
    let first = LeaseKeeper::new(bucket.clone(), "worker-1", ttl);
    let second = LeaseKeeper::new(bucket.clone(), "worker-2", ttl);
    let taken = first
        .try_acquire("_bytefreezer/leases/piper/t/d/x")
        .await
        .unwrap();
    assert!(taken.is_some());
    assert!(
        second
            .try_acquire("_bytefreezer/leases/piper/t/d/x")
            .await
            .unwrap()
            .is_none()
    );
    first.release(taken.unwrap()).await.unwrap();
    assert!(
        second
            .try_acquire("_bytefreezer/leases/piper/t/d/x")
            .await
            .unwrap()
            .is_some()
    );
}

/// Eight instances find the same expired lease at once, forty times: exactly one takes it over
/// each time (the takeover is a compare-and-swap on the version read, on every backend).
async fn racing_takeovers_have_one_winner(bucket: Bucket) {
    let dead = LeaseKeeper::new(
        bucket.clone(),
        "crashed",
        std::time::Duration::from_millis(1),
    );
    for round in 0..40 {
        let key = format!("_bytefreezer/leases/piper/t/d/race-{round}");
        assert!(dead.try_acquire(&key).await.unwrap().is_some());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let contenders: Vec<_> = (0..8)
            .map(|index| {
                let keeper = LeaseKeeper::new(
                    bucket.clone(),
                    format!("node-{index}"),
                    std::time::Duration::from_secs(60),
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

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod local {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                let buckets = super::Buckets::open(&super::StorageConfig::Local { root: dir.path().to_owned() }).unwrap();
                super::$name(buckets.intake).await;
            } )*
        }
        mod s3 {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() {
                let moto = super::moto::Moto::start();
                let settings = moto.settings("suite");
                let buckets = super::Buckets::open(&super::StorageConfig::S3(settings)).unwrap();
                super::$name(buckets.intake).await;
            } )*
        }
    };
}

on_every_backend!(
    put_get_list_delete_and_create_if_absent,
    multipart_uploads_arrive_whole,
    leases_are_exclusive,
    racing_takeovers_have_one_winner,
    folders_are_listed_and_many_objects_deleted_at_once,
);

#[test]
fn s3_config_parses_with_defaults_and_rejects_unknown_keys() {
    let config: StorageConfig = toml::from_str(
        r#"kind = "s3"
           endpoint = "http://127.0.0.1:9000"
           intake_bucket = "bf-intake"
           piper_bucket = "bf-piper"
           packer_bucket = "bf-packer""#,
    )
    .unwrap();
    let StorageConfig::S3(settings) = config else {
        panic!("not s3")
    };
    assert_eq!(settings.region, "us-east-1");
    assert!(toml::from_str::<StorageConfig>("kind = \"s3\"\nintake_bucket = \"a\"\npiper_bucket = \"b\"\npacker_bucket = \"c\"\nbukcet = 1").is_err());
}
