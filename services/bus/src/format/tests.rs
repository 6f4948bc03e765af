use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::store::{DEAD, OUTBOX};
use crate::StoreConfig;

/// Every key and value of a store, read with sled alone.
type Dump = BTreeMap<Vec<u8>, Vec<u8>>;

fn dump(dir: &Path) -> Dump {
    let db = crate::store::when_unlocked(|| sled::open(dir));
    db.iter()
        .map(|kv| {
            let (k, v) = kv.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

/// Records as a store of Milo before the stamp holds them: a service's, an inbox entry, an
/// outbox entry.
const DATA: [(&str, &[u8]); 3] = [
    ("order/1", b"{\"total\":410}"),
    ("_i/0190a5f0-1", b"null"),
    ("_o/\0\0\0\0\0\0\0\x01", b"\0\0\x01t{}"),
];

/// A store as another Milo left it: `entries` written with sled alone.
fn written(entries: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    for (k, v) in entries {
        db.insert(k, *v).unwrap();
    }
    db.flush().unwrap();
    dir
}

/// Opens the store, once the handle a test dropped just before has let go of it.
fn open(dir: &Path) -> Result<Store, StoreError> {
    crate::store::unlocked(|| Store::open(dir, &StoreConfig::default()))
}

fn stamp_of(v: u32) -> (Vec<u8>, Vec<u8>) {
    (VERSION_KEY.into(), v.to_string().into_bytes())
}

#[test]
fn a_new_store_is_stamped_and_no_bus_scan_sees_the_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
    assert_eq!(version(&store).unwrap(), Some(FORMAT));
    assert_eq!(ensure(&store).unwrap(), Opened::Current);
    assert_eq!(store.last_seq(OUTBOX).unwrap(), None);
    assert_eq!(store.count(OUTBOX) + store.count(DEAD), 0);
    assert!(store.dead_letters(0, 10).unwrap().is_empty());
    assert!(store.pending_replays().unwrap().is_empty());
    drop(store);
    assert_eq!(dump(dir.path()), Dump::from([stamp_of(FORMAT)]));
}

#[test]
fn a_store_from_before_the_stamp_is_format_0_and_only_gains_the_stamp() {
    let dir = written(&DATA);
    let mut expected = dump(dir.path());
    let store = open(dir.path()).unwrap();
    assert_eq!(version(&store).unwrap(), Some(FORMAT));
    let order: Option<serde_json::Value> = store.get("order/1").unwrap();
    assert_eq!(order, Some(serde_json::json!({"total": 410})));
    assert_eq!(store.last_seq(OUTBOX).unwrap(), Some(1));
    drop(store);
    expected.extend([stamp_of(FORMAT)]);
    assert_eq!(dump(dir.path()), expected);
    // Opened again: current, nothing to do.
    let store = open(dir.path()).unwrap();
    assert_eq!(ensure(&store).unwrap(), Opened::Current);
    // The same data without its stamp is format 0; with nothing at all, a new store.
    store.raw_remove(VERSION_KEY.as_bytes()).unwrap();
    assert_eq!(ensure(&store).unwrap(), Opened::Upgraded { from: 0 });
    for (k, _) in store.raw_scan(b"", usize::MAX).unwrap() {
        store.raw_remove(&k).unwrap();
    }
    assert_eq!(ensure(&store).unwrap(), Opened::Created);
    assert_eq!(version(&store).unwrap(), Some(FORMAT));
}

#[test]
fn a_store_from_a_newer_milo_is_refused_untouched() {
    let newer = (FORMAT + 1).to_string();
    let dir = written(&[DATA[0], DATA[2], (VERSION_KEY, newer.as_bytes())]);
    let before = dump(dir.path());
    let err = open(dir.path()).unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Format(FormatError::Newer { found, newest: FORMAT, .. })
                if *found == FORMAT + 1
        ),
        "{err:?}"
    );
    let text = err.to_string();
    let path = dir.path().display().to_string();
    let needs = [
        path.as_str(),
        &format!("was written by a newer Milo (format {newer})"),
        &format!("this milo reads formats up to {FORMAT}"),
        "install the newer milo again or restore a backup",
    ];
    for needed in needs {
        assert!(text.contains(needed), "{needed:?} not in {text:?}");
    }
    assert_eq!(dump(dir.path()), before);
}

#[test]
fn an_unreadable_stamp_is_refused_with_its_bytes_untouched() {
    for (raw, shown) in [(&b"v\xff1"[..], r"v\xff1"), (b"-1", "-1"), (b"", "")] {
        let dir = written(&[DATA[0], (VERSION_KEY, raw)]);
        let before = dump(dir.path());
        let err = open(dir.path()).unwrap_err();
        assert!(
            matches!(&err, StoreError::Format(FormatError::Unreadable { .. })),
            "{err:?}"
        );
        let text = err.to_string();
        let path = dir.path().display().to_string();
        assert!(text.contains(&path), "{text}");
        assert!(text.contains(&format!("\"{shown}\"")), "{text}");
        assert_eq!(dump(dir.path()), before);
    }
}

/// A fake migration step: appends `n` to the list under `trail`.
fn step(store: &Store, n: u32) -> Result<sled::Batch, StoreError> {
    let mut trail: Vec<u32> = store.get("trail")?.unwrap_or_default();
    trail.push(n);
    let mut batch = sled::Batch::default();
    batch.insert("trail", serde_json::to_vec(&trail).unwrap());
    Ok(batch)
}

fn step_0(store: &Store) -> Result<sled::Batch, StoreError> {
    step(store, 0)
}

fn step_1(store: &Store) -> Result<sled::Batch, StoreError> {
    step(store, 1)
}

fn step_2(store: &Store) -> Result<sled::Batch, StoreError> {
    step(store, 2)
}

fn step_3(store: &Store) -> Result<sled::Batch, StoreError> {
    step(store, 3)
}

fn broken(_: &Store) -> Result<sled::Batch, StoreError> {
    Err(StoreError::Corrupt {
        key: "trail".into(),
        reason: "a broken step".into(),
    })
}

/// A store with data and no stamp (format 0).
fn unstamped() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
    let mut batch = sled::Batch::default();
    batch.insert("order/1", b"1".to_vec());
    batch.remove(VERSION_KEY);
    store.apply(batch).unwrap();
    (dir, store)
}

#[test]
fn migrations_run_in_order_from_the_stores_format_each_with_its_stamp() {
    let table: [Migration; 4] = [step_0, step_1, step_2, step_3];
    let (_dir, store) = unstamped();
    assert_eq!(
        upgrade(&store, &table).unwrap(),
        Opened::Upgraded { from: 0 }
    );
    assert_eq!(
        store.get::<Vec<u32>>("trail").unwrap(),
        Some(vec![0, 1, 2, 3])
    );
    assert_eq!(version(&store).unwrap(), Some(4));
    assert_eq!(upgrade(&store, &table).unwrap(), Opened::Current);
    assert_eq!(
        store.get::<Vec<u32>>("trail").unwrap(),
        Some(vec![0, 1, 2, 3])
    );

    // A fresh store (stamped with this Milo's format) runs only the steps after it.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
    assert_eq!(
        upgrade(&store, &table).unwrap(),
        Opened::Upgraded { from: FORMAT }
    );
    let after: Vec<u32> = (FORMAT..4).collect();
    assert_eq!(store.get::<Vec<u32>>("trail").unwrap(), Some(after));
    assert_eq!(version(&store).unwrap(), Some(4));
}

#[test]
fn a_failed_step_leaves_the_store_at_the_last_finished_format() {
    let (dir, store) = unstamped();
    let err = upgrade(&store, &[step_0, broken, step_2]).unwrap_err();
    assert!(err.to_string().contains("a broken step"), "{err}");
    assert_eq!(version(&store).unwrap(), Some(1));
    assert_eq!(store.get::<Vec<u32>>("trail").unwrap(), Some(vec![0]));
    // Durable: the finished step and its stamp are there after a reopen.
    drop(store);
    let after = dump(dir.path());
    assert_eq!(after.get(VERSION_KEY.as_bytes()), Some(&b"1".to_vec()));
    assert_eq!(after.get(&b"trail"[..]), Some(&b"[0]".to_vec()));
}
