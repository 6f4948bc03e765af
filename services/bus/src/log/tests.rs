use super::*;
use crate::StoreConfig;

#[test]
fn find_reads_one_topics_range_through_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let mut batch = crate::store::Batch::default();
    // Two topics whose names share a prefix, interleaved.
    for (key, topic, seq) in [(1, "a/b", 1), (2, "a/bc", 1), (3, "a/b", 2), (4, "a/b", 3)] {
        let entry = Outgoing {
            topic: topic.into(),
            payload: b"{}".to_vec(),
            retain: false,
            at_ms: 1,
            seq: Some(seq),
            handled: None,
        };
        batch.insert(store::seq_key(OUTBOX, key), entry.encode());
        batch.insert(index_key(topic, seq), key.to_be_bytes().to_vec());
    }
    store.apply(batch).unwrap();
    assert_eq!(find(&store, "a/b", 2, 9, 10).unwrap(), vec![(2, 3), (3, 4)]);
    assert_eq!(find(&store, "a/b", 1, 9, 1).unwrap(), vec![(1, 1)]);
    assert_eq!(find(&store, "a/bc", 1, 9, 10).unwrap(), vec![(1, 2)]);
    assert_eq!(oldest(&store, "a/b").unwrap(), Some(1));
    assert_eq!(oldest(&store, "nope").unwrap(), None);
    assert_eq!(entry(&store, 2).unwrap().unwrap().topic, "a/bc");
    assert_eq!(entries(&store, 3).count(), 2);
}
