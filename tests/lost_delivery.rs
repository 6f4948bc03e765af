//! One delivery lost on purpose (the part acks it without reading it, as if the broker had
//! dropped it): the consumer sees the gap in the producer's numbers, asks for the range, and
//! applies what it missed. Alone in its test binary: the hook is process-wide.

mod common;

use common::rig::Rig;
use milo_analytics::Summary;
use milo_bus::runner::{hooks, marks};
use milo_contracts::{topics, SagaMode};
use milo_testkit::{eventually, PATIENCE};
use uuid::Uuid;

const LATTE: &str = r#"[{"item":"latte"}]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_delivery_is_seen_as_a_gap_and_repaired() {
    for mode in [SagaMode::Choreography, SagaMode::Orchestration] {
        // No end-to-end re-ask within the test: a participant answering one again (the very
        // event, byte for byte) would fill the gap before analytics asks for it.
        let rig = Rig::full(mode, |c| {
            for retry in [&mut c.order.retry, &mut c.saga.retry] {
                retry.first_ms = 120_000;
                retry.max_ms = 120_000;
            }
        })
        .await;
        let asked = marks::ranges_asked();
        let first = rig.place(LATTE, None).await;
        rig.wait_status(first, "prepared").await;
        // Analytics loses the second order's orders/created and its payments/completed (the
        // events themselves, not a repeat of an earlier order's).
        let second = Uuid::now_v7();
        let needle = second.to_string();
        hooks::lose_first("analytics", topics::ORDERS_CREATED, &needle);
        hooks::lose_first("analytics", topics::PAYMENTS_COMPLETED, &needle);
        let mut ids = vec![first, rig.place(LATTE, Some(second)).await];
        for _ in 0..3 {
            ids.push(rig.place(LATTE, None).await);
        }
        for id in &ids {
            rig.wait_status(*id, "prepared").await;
        }
        // Analytics lingers for bigger groups: it may hear of the orders after they are made.
        let lost = eventually(PATIENCE, || std::future::ready(hooks::still_to_lose() == 0)).await;
        assert!(lost, "{mode:?}: the hook lost nothing");
        let n = ids.len() as u64;
        let price = rig.total(LATTE) as u64;
        let summary = || {
            rig.store("analytics")
                .get::<Summary>("summary")
                .unwrap()
                .unwrap_or_default()
        };
        let repaired = eventually(PATIENCE, || {
            let s = summary();
            std::future::ready(
                s.by_status.get("prepared") == Some(&n)
                    && s.charged_cents == n * price
                    && s.drinks_by_item.get("latte") == Some(&n),
            )
        })
        .await;
        let s = summary();
        assert!(repaired, "{mode:?}: analytics has {s:?}");
        assert_eq!(s.drinks_by_item.get("latte"), Some(&n), "{mode:?}");
        assert!(
            marks::ranges_asked() >= asked + 2,
            "{mode:?}: repaired without asking"
        );
        // Its marks say it has every orders/created with none missing.
        let created = marks::Marks::load(rig.store("analytics"))
            .unwrap()
            .snapshot()
            .into_iter()
            .find(|(_, t, _)| t == topics::ORDERS_CREATED)
            .map(|(_, _, m)| m)
            .unwrap();
        assert!(created.upto >= n && created.ahead.is_empty(), "{created:?}");
    }
}
