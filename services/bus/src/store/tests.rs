//! The store's own tests.

use super::*;

#[test]
fn values_survive_reopen_after_sync() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let mut batch = sled::Batch::default();
        batch.insert("order/1", serde_json::to_vec(&42u32).unwrap());
        batch.insert("order/2", serde_json::to_vec(&43u32).unwrap());
        store.apply(batch).unwrap();
        store.sync().unwrap();
    }
    let store = when_unlocked(|| Store::open(dir.path(), &StoreConfig::default()));
    assert_eq!(store.get::<u32>("order/1").unwrap(), Some(42));
    let all: Vec<(String, u32)> = store.scan("order/", None, 10).unwrap();
    assert_eq!(all, vec![("1".into(), 42), ("2".into(), 43)]);
    let after: Vec<(String, u32)> = store.scan("order/", Some("1"), 10).unwrap();
    assert_eq!(after, vec![("2".into(), 43)]);
}

#[test]
fn health_reports_a_long_sync_and_a_failed_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    store.sync().unwrap();
    assert_eq!(store.health(Duration::ZERO), Ok(()));
    let health = &store.inner.health;
    {
        let _running = health.syncing();
        assert_eq!(store.health(Duration::from_secs(60)), Ok(()));
        let deadline = Instant::now() + Duration::from_secs(10);
        let stalled = loop {
            match store.health(Duration::ZERO) {
                Err(why) => break why,
                Ok(()) if Instant::now() < deadline => std::thread::yield_now(),
                Ok(()) => panic!("a running sync never counted as stalled"),
            }
        };
        assert!(
            stalled.starts_with("store stalled: sync running for"),
            "{stalled}"
        );
    }
    assert_eq!(store.health(Duration::ZERO), Ok(()));
    let disk = std::io::Error::other("disk gone");
    let path = dir.path().to_owned();
    health.finished(&Err(StoreError::Io { path, error: disk }));
    let failed = store.health(Duration::from_secs(60)).unwrap_err();
    assert!(
        failed.contains("last sync failed") && failed.contains("disk gone"),
        "{failed}"
    );
    store.sync().unwrap();
    assert_eq!(store.health(Duration::ZERO), Ok(()));
}

#[test]
fn a_store_open_elsewhere_is_locked_and_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let e = Store::open(dir.path(), &StoreConfig::default()).unwrap_err();
    assert!(
        matches!(&e, StoreError::Locked { path } if path == dir.path()),
        "{e:?}"
    );
    assert!(std::error::Error::source(&e).is_none());
    let text = e.to_string();
    assert_eq!(text.matches("could not acquire lock").count(), 1, "{text}");
}

#[test]
fn stats_count_syncs_fdatasyncs_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let opened = store.stats();
    let mut batch = Batch::default();
    batch.insert("k/1", b"abc".to_vec());
    batch.remove("k/2");
    store.apply(batch).unwrap();
    store.sync().unwrap();
    let run = store.stats().since(&opened);
    assert_eq!((run.batches, run.bytes), (1, 6));
    assert_eq!((run.syncs, run.fdatasyncs), (1, 1));
    let both: StoreStats = [run, run].into_iter().sum();
    assert_eq!((both.syncs, both.bytes), (2, 12));

    let dir = tempfile::tempdir().unwrap();
    let no_fsync = StoreConfig {
        fsync: false,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), &no_fsync).unwrap();
    let opened = store.stats();
    store.sync().unwrap();
    let run = store.stats().since(&opened);
    assert_eq!((run.syncs, run.fdatasyncs), (1, 0));
}

#[test]
fn seq_keys_sort_by_id() {
    assert!(seq_key(OUTBOX, 2) < seq_key(OUTBOX, 256));
    assert_eq!(seq_of(OUTBOX, &seq_key(OUTBOX, 77)), Some(77));
}
