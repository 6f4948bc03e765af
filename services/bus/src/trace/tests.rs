use milo_contracts::events::OrderFailed;

use super::*;
use crate::tx::{Overlay, Tx};
use crate::StoreConfig;

fn store(dir: &tempfile::TempDir) -> Store {
    let config = StoreConfig {
        fsync: false,
        ..StoreConfig::default()
    };
    Store::open(dir.path(), &config).unwrap()
}

/// Publishes one `orders/failed` of `order` through a `Tx`, as a part does; its id.
fn publish(store: &Store, order: Uuid, cause: Option<Uuid>) -> Uuid {
    let overlay = Overlay::default();
    let mut tx = Tx::new(store.clone(), overlay.clone(), "order", 1 << 16);
    let failed = OrderFailed {
        order_id: order,
        reason: "payment declined".into(),
        consumed: Default::default(),
    };
    let event = tx.event(order, cause, failed);
    tx.publish(&event).unwrap();
    tx.commit().unwrap();
    store.apply(overlay.take_batch().unwrap()).unwrap();
    event.id
}

#[test]
fn events_are_the_orders_own_in_log_order_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let (order, other) = (Uuid::now_v7(), Uuid::now_v7());
    let mut ours = Vec::new();
    for i in 0..20 {
        let cause = ours.last().copied();
        if i % 3 == 0 {
            ours.push(publish(&store, order, cause));
        }
        publish(&store, other, None);
    }
    let all = events(&store, order, 0, None, Limits::NONE).unwrap();
    assert_eq!(all.next, None);
    let ids: Vec<Uuid> = all.items.iter().map(|e| e.id).collect();
    assert_eq!(ids, ours);
    let first = &all.items[0];
    assert_eq!(
        (first.kind.as_str(), first.source.as_str()),
        ("OrderFailed", "order")
    );
    assert_eq!((first.seq, first.causation_id), (Some(1), None));
    assert_eq!(all.items[1].causation_id, Some(ours[0]));

    // A few entries per page, or a few bytes: the pages add up to the same.
    for limits in [
        Limits {
            scan: 4,
            room: usize::MAX,
        },
        Limits {
            scan: usize::MAX,
            room: 700,
        },
    ] {
        let (mut paged, mut from, mut upto) = (Vec::new(), 0, None);
        loop {
            let page = events(&store, order, from, upto, limits).unwrap();
            assert_eq!(page.omitted, 0);
            paged.extend(page.items.iter().map(|e| e.id));
            upto = Some(page.upto);
            match page.next {
                Some(n) => from = n,
                None => break,
            }
        }
        assert_eq!(paged, ours, "{limits:?}");
    }
    // Too small for any event: none is said, each is counted, and the range ends.
    let tiny = events(
        &store,
        order,
        0,
        None,
        Limits {
            scan: usize::MAX,
            room: 10,
        },
    )
    .unwrap();
    assert_eq!((tiny.items.len(), tiny.omitted, tiny.next), (0, 7, None));
}

#[test]
fn inbox_and_letters_say_what_the_part_did() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let (order, held, unseen) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut batch = store::Batch::default();
    batch.insert(format!("{INBOX}{held}").into_bytes(), b"42".to_vec());
    store.apply(batch).unwrap();
    assert_eq!(inbox(&store, &[held, unseen]).unwrap(), [Some(42), None]);

    let event = |id: Uuid, correlation: Uuid| {
        format!(r#"{{"id":"{id}","type":"X","correlation_id":"{correlation}"}}"#)
    };
    let about = store
        .record_dead_letter("t", event(held, order).as_bytes(), "wrong schema")
        .unwrap();
    store
        .record_dead_letter("t", event(held, Uuid::now_v7()).as_bytes(), "other order")
        .unwrap();
    store
        .record_dead_letter("t", b"{\"id\": nope", "malformed")
        .unwrap();
    store
        .record_dead_letter("t", &[0xff, 0], "not UTF-8")
        .unwrap();
    let page = letters(&store, order, 0, None, Limits::NONE).unwrap();
    assert_eq!(page.items.len(), 1, "{page:?}");
    let letter = &page.items[0];
    assert_eq!((letter.id, letter.event_id), (about, Some(held)));
    assert_eq!(letter.reason, "wrong schema");
    let later = letters(&store, order, about + 1, None, Limits::NONE).unwrap();
    assert!(later.items.is_empty());
}
