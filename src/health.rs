//! `GET /healthz` and `GET /readyz`: the process answers, and whether it is ready, by the very
//! checks that drive systemd's watchdog (`systemd::Check`: each part's MQTT links up and
//! subscribed and its store not stalled, the embedded broker's watchdog getting answers).
//!
//! `/healthz` answers 200 `{"alive":true}` whenever the process serves HTTP. `/readyz`
//! answers 200 with every check when all pass, else 503 with `error` saying what is wrong and
//! each check's own verdict, for a load balancer, a probe or a person with `curl`.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::systemd::Check;

/// The checks a process answers `/readyz` with.
pub struct Health {
    checks: Vec<Check>,
    /// Per check: ready at least once (for the words "connecting" or "lost").
    seen: Mutex<Vec<bool>>,
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// A part's name, or `broker`.
    pub name: String,
    /// True when it passes.
    pub ready: bool,
    /// Why it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The answer of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// True when every check passes.
    pub ready: bool,
    /// What is wrong, when something is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every check.
    pub checks: Vec<Verdict>,
}

impl Health {
    /// Health over `checks`.
    pub fn new(checks: Vec<Check>) -> Arc<Health> {
        let seen = Mutex::new(vec![false; checks.len()]);
        Arc::new(Health { checks, seen })
    }

    /// Every check's verdict now.
    pub fn readiness(&self) -> Readiness {
        // A poisoned lock only means a request panicked mid-way; the flags stay meaningful.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let checks: Vec<Verdict> = self
            .checks
            .iter()
            .zip(seen.iter_mut())
            .map(|(c, seen)| {
                let why = c.verdict(seen);
                Verdict {
                    name: c.name().to_owned(),
                    ready: why.is_none(),
                    why,
                }
            })
            .collect();
        let wrong: Vec<String> = checks
            .iter()
            .filter_map(|v| Some(format!("{}: {}", v.name, v.why.as_deref()?)))
            .collect();
        Readiness {
            ready: wrong.is_empty(),
            error: (!wrong.is_empty()).then(|| format!("not ready: {}", wrong.join("; "))),
            checks,
        }
    }
}

/// The two routes.
pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({ "alive": true })) }),
        )
        .route(
            "/readyz",
            get(move || {
                let health = health.clone();
                async move { readyz(&health) }
            }),
        )
}

fn readyz(health: &Health) -> Response {
    let r = health.readiness();
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(r)).into_response()
}
