//! `GET /analytics/summary`: the all-time figures (their fields unchanged), the shop's time
//! zone and its days. Errors answer with a JSON body `{"error": ...}`.
//!
//! - no query: `today` and `yesterday`;
//! - `?day=today|yesterday|YYYY-MM-DD`: that `day`;
//! - `?from=YYYY-MM-DD&to=YYYY-MM-DD` (inclusive, at most [`MAX_RANGE_DAYS`] days): `days`, each
//!   day, and `range`, their total.
//!
//! Each day's block has the all-time document's fields plus its `date`; its `revenue_cents`
//! may be negative (a refund counts on the day it is made).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jiff::civil::Date;
use milo_bus::{Store, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::day::{day_key, days, ymd, Pick, Zone, MAX_RANGE_DAYS};
use crate::service::SUMMARY_KEY;
use crate::summary::Summary;

#[derive(Clone)]
struct Analytics {
    store: Store,
    zone: Zone,
}

/// Routes of the analytics service; days are dates in the shop's time zone `zone`.
pub fn router(store: Store, zone: Zone) -> Router {
    Router::new()
        .route("/analytics/summary", get(summary))
        .with_state(Analytics { store, zone })
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryQuery {
    day: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn summary(
    State(a): State<Analytics>,
    query: Result<Query<SummaryQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let today = a.zone.today();
    let (day, from, to) = (q.day.as_deref(), q.from.as_deref(), q.to.as_deref());
    let pick = match Pick::parse(day, from, to, today) {
        Ok(pick) => pick,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    match document(&a.store, &a.zone, pick, today) {
        Ok(doc) => Json(doc).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The all-time document with the zone and the days of `pick` added.
fn document(store: &Store, zone: &Zone, pick: Pick, today: Date) -> Result<Value, StoreError> {
    let all = store.get::<Summary>(SUMMARY_KEY)?.unwrap_or_default();
    let mut doc = all.to_json();
    let mut extra = vec![("timezone", json!(zone.name()))];
    match pick {
        Pick::Default => {
            extra.push(("today", day_block(store, today)?));
            if let Ok(yesterday) = today.yesterday() {
                extra.push(("yesterday", day_block(store, yesterday)?));
            }
        }
        Pick::Day(d) => extra.push(("day", day_block(store, d)?)),
        Pick::Range(from, to) => {
            let mut total = Summary::default();
            let mut each = Vec::with_capacity(MAX_RANGE_DAYS);
            for d in days(from, to) {
                let figures = figures_of(store, d)?;
                total.merge(&figures);
                each.push(with(figures.day_json(), json!({ "date": ymd(d) })));
            }
            let dates = json!({ "from": ymd(from), "to": ymd(to) });
            extra.push(("days", Value::Array(each)));
            extra.push(("range", with(total.day_json(), dates)));
        }
    }
    if let Value::Object(doc) = &mut doc {
        doc.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    }
    Ok(doc)
}

fn figures_of(store: &Store, date: Date) -> Result<Summary, StoreError> {
    Ok(store.get::<Summary>(&day_key(date))?.unwrap_or_default())
}

fn day_block(store: &Store, date: Date) -> Result<Value, StoreError> {
    let figures = figures_of(store, date)?;
    Ok(with(figures.day_json(), json!({ "date": ymd(date) })))
}

/// `doc` with the fields of `more` added.
fn with(doc: Value, more: Value) -> Value {
    match (more, doc) {
        (Value::Object(mut out), Value::Object(doc)) => {
            out.extend(doc);
            Value::Object(out)
        }
        (_, doc) => doc,
    }
}
