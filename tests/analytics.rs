//! Per-day analytics (issue 14 item 4): `GET /analytics/summary` adds the shop's days, in its
//! configured time zone, to the all-time figures.

mod common;

use common::{open_with, TestShop};
use serde_json::Value;
use time::macros::offset;
use time::{Date, OffsetDateTime};

/// A zone far from UTC (+14 all year, no daylight saving), so that its date differs from
/// UTC's for fourteen hours a day.
const ZONE: &str = "Pacific/Kiritimati";

/// The date in [`ZONE`] now.
fn kiritimati_today() -> Date {
    OffsetDateTime::now_utc().to_offset(offset!(+14)).date()
}

/// The figures a day's block shares with the all-time document.
const FIGURES: [&str; 7] = [
    "orders",
    "revenue_cents",
    "charged_cents",
    "refunded_cents",
    "drinks_by_item",
    "preparation_ms",
    "lead_time_ms",
];

fn same_figures(a: &Value, b: &Value) -> bool {
    FIGURES.iter().all(|f| a[f] == b[f])
}

/// Places three orders over HTTP (four drinks) and one the menu refuses; their totals.
async fn place_orders(t: &TestShop) -> u64 {
    let mut total = 0;
    for items in [
        r#"[{"item":"latte","qty":1}]"#,
        r#"[{"item":"espresso","qty":2}]"#,
        r#"[{"item":"mocha","qty":1}]"#,
    ] {
        let (status, body) = t
            .post(
                "/orders",
                &format!(r#"{{"items":{items},"customer":"Ana"}}"#),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let id = body["order_id"].as_str().unwrap().to_owned();
        let order = t
            .wait_json(&format!("/orders/{id}"), |o| o["status"] == "prepared")
            .await;
        total += order["total_cents"].as_u64().unwrap();
    }
    let refused = r#"{"items":[{"item":"unicorn frappe"}]}"#;
    assert_eq!(t.post("/orders", refused).await.0, 422);
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_figures_in_the_shops_zone_match_the_all_time_ones() {
    let t = open_with(|c| c.shop.timezone = ZONE.into()).await;
    let before = kiritimati_today();
    let (status, first) = t.get("/analytics/summary").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["timezone"], ZONE);
    let today = first["today"]["date"].as_str().unwrap().to_owned();
    let after = kiritimati_today();
    assert!(
        [before.to_string(), after.to_string()].contains(&today),
        "today in {ZONE} is {before} or {after}, not {today}"
    );
    assert_eq!(first["today"]["orders"]["total"], 0, "{first}");
    assert!(first["yesterday"]["date"].as_str().unwrap() < today.as_str());

    let charged = place_orders(&t).await;
    let all = t
        .wait_json("/analytics/summary", |s| {
            s["orders"]["by_status"]["prepared"] == 3
                && s["orders"]["by_status"]["rejected"] == 1
                && s["charged_cents"] == charged
                && s["lead_time_ms"]["count"] == 3
        })
        .await;
    assert_eq!(all["drinks_by_item"]["espresso"], 2, "{all}");
    // The store's reads of the all-time and the day's figures are two: wait for one answer
    // with both in. A test running over the zone's midnight compares the range instead.
    let today_matches = |s: &Value| {
        let day = &s["day"];
        let rolled_over = day["date"].as_str() != Some(today.as_str());
        rolled_over || same_figures(s, day)
    };
    let doc = t
        .wait_json("/analytics/summary?day=today", today_matches)
        .await;
    let range = format!("/analytics/summary?from={today}&to=today");
    let spanned = t.wait_json(&range, |s| same_figures(s, &s["range"])).await;
    let days = spanned["days"].as_array().unwrap();
    assert_eq!(days[0]["date"], today.as_str(), "{spanned}");
    if doc["day"]["date"] == today.as_str() {
        assert_eq!(doc["day"]["revenue_cents"], charged, "{doc}");
        assert_eq!(days.len(), 1, "{spanned}");
        let (_, by_date) = t.get(&format!("/analytics/summary?day={today}")).await;
        assert_eq!(by_date["day"], doc["day"]);
    }
    let (_, yesterday) = t.get("/analytics/summary?day=yesterday").await;
    assert_eq!(yesterday["day"]["orders"]["total"], 0, "{yesterday}");
    assert_eq!(yesterday["orders"], all["orders"], "all-time fields kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_days_and_ranges_are_refused_with_a_json_error() {
    let t = open_with(|c| c.shop.timezone = "Europe/London".into()).await;
    for query in [
        "day=2026-02-30",
        "day=tomorrow",
        "day=07%2F12%2F2026",
        "from=2026-03-02&to=2026-03-01",
        "from=2024-01-01&to=2025-01-01",
        "from=2026-03-01",
        "day=today&from=2026-03-01&to=2026-03-02",
        "week=1",
    ] {
        let (status, body) = t.get(&format!("/analytics/summary?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"].is_string(), "{query}: {body}");
    }
    let (status, body) = t
        .get("/analytics/summary?from=2024-01-01&to=2024-12-31")
        .await;
    assert_eq!(status, 200, "366 days is a range: {body}");
    assert_eq!(body["days"].as_array().unwrap().len(), 366);
    assert_eq!(body["range"]["from"], "2024-01-01");
    assert_eq!(body["timezone"], "Europe/London");
}
