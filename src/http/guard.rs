//! Bearer tokens for the requests that change something (every method but GET and HEAD):
//! needed as soon as `[http.tokens]` holds one, and always on a listener beyond loopback (with
//! none configured there, such requests are all refused). Built on tower-http's
//! `ValidateRequestHeaderLayer`; tokens are compared in constant time (`subtle`), and neither
//! they nor the `Authorization` header are ever logged: the log names the token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use milo_bus::Secret;
use milo_config::HttpConfig;
use subtle::ConstantTimeEq;
use tower_http::validate_request::ValidateRequest;

/// Decides whether a request may go through; see the module docs.
#[derive(Clone)]
pub struct Guard {
    tokens: Arc<Vec<(String, Secret)>>,
    required: bool,
}

impl Guard {
    /// The rule for a listener bound on `listen`.
    pub fn new(http: &HttpConfig, listen: SocketAddr) -> Guard {
        let tokens: Vec<(String, Secret)> = http
            .tokens
            .iter()
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        let required = !tokens.is_empty() || !listen.ip().is_loopback();
        Guard {
            tokens: Arc::new(tokens),
            required,
        }
    }

    /// True if tokens are required and none is configured: nothing but reads gets through.
    pub fn locked(&self) -> bool {
        self.required && self.tokens.is_empty()
    }

    /// The name of the token `header` carries, or why there is none.
    fn name_of(&self, header: Option<&HeaderValue>) -> Result<&str, &'static str> {
        let header = header.ok_or("no Authorization header")?;
        let (scheme, presented) = header
            .to_str()
            .ok()
            .and_then(|h| h.split_once(' '))
            .ok_or("not a bearer token")?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err("not a bearer token");
        }
        let presented = presented.trim().as_bytes();
        // Every token is compared, each in constant time: the time taken says nothing of
        // which one (if any) matched.
        let mut found = None;
        for (name, token) in self.tokens.iter() {
            if bool::from(token.expose().as_bytes().ct_eq(presented)) {
                found = Some(name.as_str());
            }
        }
        found.ok_or("unknown token")
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tokens.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Guard")
            .field("tokens", &names)
            .field("required", &self.required)
            .finish()
    }
}

impl ValidateRequest<Body> for Guard {
    type ResponseBody = Body;

    fn validate(&mut self, req: &mut Request<Body>) -> Result<(), Response> {
        if !self.required || matches!(*req.method(), Method::GET | Method::HEAD) {
            return Ok(());
        }
        match self.name_of(req.headers().get(AUTHORIZATION)) {
            Ok(name) => {
                tracing::Span::current().record("token", name);
                Ok(())
            }
            Err(reason) => {
                let peer = req.extensions().get::<ConnectInfo<SocketAddr>>();
                tracing::warn!(
                    peer = %peer.map_or("-".to_owned(), |p| p.0.to_string()),
                    method = %req.method(),
                    path = %req.uri().path(),
                    reason,
                    "HTTP request refused: no valid token."
                );
                Err(unauthorized(reason))
            }
        }
    }
}

/// 401 with a JSON body and `WWW-Authenticate: Bearer`.
fn unauthorized(reason: &str) -> Response {
    let message = format!(
        "{reason}: this request needs `Authorization: Bearer <token>` with a token of \
         [http.tokens]"
    );
    let mut response = super::error(StatusCode::UNAUTHORIZED, message);
    let challenge = HeaderValue::from_static("Bearer realm=\"milo\"");
    response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
    response
}
