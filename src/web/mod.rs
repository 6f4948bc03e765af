//! The shop's web screens, served by Milo itself with no internet: the customer pickup board
//! (`/board`), the bar's tablet (`/bar/<station>`) and the manager's dashboard (`/`).
//!
//! Pages, styles and scripts are embedded in the binary ([`assets`]). Each page opens an
//! event stream (SSE) that sends the screen's whole state as one JSON `snapshot` on connect
//! and again whenever it changes ([`views`] builds it from the parts' stores and the retained
//! state [`live`] keeps); the browser's `EventSource` reconnects by itself after a restart,
//! and the first snapshot then shows the truth again.
//!
//! Bump and recall (`POST /bar/<station>/bump|recall`) publish the very command
//! `milo barista bump|recall` publishes, as the operator, and answer once the broker has it.
//! Like every request but GET and HEAD they pass the HTTP guard: off loopback (or with
//! `[http.tokens]`) they need `Authorization: Bearer <token>`, which the tablet's page sends
//! when it was opened once with `?token=...` (kept in the tab's `sessionStorage`).
//! Errors answer 4xx/5xx with a JSON body `{"error": ...}`.

mod assets;
mod live;
mod views;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::Stream;
use milo_bus::{MqttConfig, Shutdown, Store, StoreError};
use milo_config::MiloConfig;
use milo_contracts::bar::DeviceCommand;
use milo_contracts::dead_letters::OPERATOR;
use milo_contracts::policy::Role;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::http::error;
use crate::shop::Part;
use live::Live;

/// How long a bump or recall waits for the broker (as `milo barista`).
const SEND_LIMIT: Duration = Duration::from_secs(10);
/// Changes closer together than this go out as one snapshot: the board and the bar at once
/// (the board must follow `orders/prepared` within a second), the dashboard, which reads the
/// day's orders for its charts, at most once a second.
const SETTLE: Duration = Duration::from_millis(100);
const SETTLE_DASHBOARD: Duration = Duration::from_secs(1);

/// The parts' stores a screen reads (those running in this process).
#[derive(Default)]
pub struct Sources {
    order: Option<Store>,
    barista: Option<Store>,
    payment: Option<Store>,
    analytics: Option<(Store, milo_analytics::Zone)>,
    /// Station → its device's store.
    devices: BTreeMap<String, Store>,
    /// Every part's store (dead letters).
    all: Vec<Store>,
}

impl Sources {
    fn of(config: &MiloConfig, parts: &[Part]) -> Sources {
        let mut s = Sources::default();
        for p in parts {
            s.all.push(p.store.clone());
            match p.name.as_str() {
                "order" => s.order = Some(p.store.clone()),
                "barista" => s.barista = Some(p.store.clone()),
                "payment" => s.payment = Some(p.store.clone()),
                "analytics" => s.analytics = config.zone().ok().map(|z| (p.store.clone(), z)),
                name => {
                    if let Some(st) = name.strip_prefix("barista-device-") {
                        s.devices.insert(st.to_owned(), p.store.clone());
                    }
                }
            }
        }
        s
    }
}

/// Everything the screens' handlers share.
#[derive(Clone)]
pub struct Web {
    sources: Arc<Sources>,
    live: Live,
    /// The operator's broker connection (bump, recall), if it has a credential.
    operator: Option<Arc<MqttConfig>>,
    warn_secs: u64,
    late_secs: u64,
}

/// The screens' routes for the parts running in this process; their live link runs until
/// `shutdown`.
pub fn router(config: &MiloConfig, parts: &[Part], shutdown: &Shutdown) -> Router {
    let operator = match config.mqtt_as(OPERATOR, Role::Operator) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(error = %e, "Web screens: no operator credential, so no live data.");
            None
        }
    };
    let live = Live::start(operator.clone(), shutdown.clone());
    let web = Web {
        sources: Arc::new(Sources::of(config, parts)),
        live,
        operator: operator.map(Arc::new),
        warn_secs: config.barista.warn_secs,
        late_secs: config.barista.late_secs,
    };
    Router::new()
        .route("/", get(|| async { assets::page(assets::DASHBOARD) }))
        .route("/events", get(dashboard_events))
        .route("/board", get(|| async { assets::page(assets::BOARD) }))
        .route("/board/events", get(board_events))
        .route("/bar/{station}", get(bar_page))
        .route("/bar/{station}/events", get(bar_events))
        .route("/bar/{station}/bump", post(bump))
        .route("/bar/{station}/recall", post(recall))
        .route("/web/{file}", get(assets::file))
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        })
        .with_state(web)
}

/// A 404 for a station this shop does not know; none for one it knows.
fn unknown(web: &Web, station: &str) -> Option<Response> {
    let valid = station.len() <= 64
        && station
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let known = valid && views::stations(web).iter().any(|s| s == station);
    (!known).then(|| error(StatusCode::NOT_FOUND, format!("no station {station:?}")))
}

async fn bar_page(State(web): State<Web>, Path(station): Path<String>) -> Response {
    unknown(&web, &station).unwrap_or_else(|| assets::page(assets::BAR))
}

type Snapshot = fn(&Web, &str) -> Result<Value, StoreError>;

async fn board_events(State(web): State<Web>) -> Response {
    events(web, String::new(), |w, _| Ok(views::board(w)), SETTLE)
}

async fn dashboard_events(State(web): State<Web>) -> Response {
    events(
        web,
        String::new(),
        |w, _| views::dashboard(w),
        SETTLE_DASHBOARD,
    )
}

async fn bar_events(State(web): State<Web>, Path(station): Path<String>) -> Response {
    if let Some(r) = unknown(&web, &station) {
        return r;
    }
    events(web, station, views::bar, SETTLE)
}

/// The event stream of one screen: a snapshot at once, then each time it changes.
fn events(web: Web, arg: String, view: Snapshot, settle: Duration) -> Response {
    let changes = web.live.changes();
    Sse::new(snapshots(web, arg, view, changes, settle))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn snapshots(
    web: Web,
    arg: String,
    view: Snapshot,
    changes: watch::Receiver<u64>,
    settle: Duration,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let start = (web, arg, changes, None::<String>);
    futures_util::stream::unfold(start, move |(web, arg, mut changes, last)| async move {
        loop {
            if last.is_some() {
                changes.changed().await.ok()?;
                tokio::time::sleep(settle).await;
                changes.borrow_and_update();
            }
            let doc = match view(&web, &arg) {
                Ok(doc) => doc,
                Err(e) => json!({ "error": e.to_string() }),
            };
            let text = doc.to_string();
            if last.as_deref() == Some(text.as_str()) {
                continue;
            }
            let event = Event::default()
                .event("snapshot")
                .retry(Duration::from_secs(1))
                .data(text.clone());
            return Some((Ok(event), (web, arg, changes, Some(text))));
        }
    })
}

async fn bump(State(web): State<Web>, Path(station): Path<String>) -> Response {
    command(web, station, DeviceCommand::Bump).await
}

async fn recall(State(web): State<Web>, Path(station): Path<String>) -> Response {
    command(web, station, DeviceCommand::Recall).await
}

/// Publishes `cmd` to `station` exactly as `milo barista` does.
async fn command(web: Web, station: String, cmd: DeviceCommand) -> Response {
    if let Some(r) = unknown(&web, &station) {
        return r;
    }
    let Some(mqtt) = &web.operator else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no operator credential");
    };
    let name = format!("{cmd:?}").to_lowercase();
    match milo_barista_device::remote::send(mqtt, &station, cmd, SEND_LIMIT).await {
        Ok(id) => {
            tracing::info!(%station, command = %name, event = %id, "Station command from the web.");
            (
                StatusCode::ACCEPTED,
                Json(json!({ "sent": name, "event": id })),
            )
                .into_response()
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
