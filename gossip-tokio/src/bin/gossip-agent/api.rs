//! The agent's HTTP API (`--http ADDR`): JSON over axum, Prometheus text on `/metrics`, a
//! newline-delimited JSON stream on `/v1/events` and the dashboard on `/`.
//!
//! Every request is checked first: with `--http-token T`, it must carry
//! `Authorization: Bearer T` (compared in constant time), else 401 and nothing runs. The
//! dashboard page, which a browser opens without headers, may carry `?token=T` instead; its
//! script then sends the header. A bad request gets a 4xx with `{"error": "..."}` and changes
//! nothing: every input is checked before the node is asked to act.

use crate::objects;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gossip_tokio::{Cluster, ClusterError};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// The largest request body taken (values and broadcasts are far smaller; the node refuses
/// what is above its own limits).
const MAX_BODY: usize = 1 << 20;

/// The longest `?ttl=` a key may be given (a day; longer-lived keys need no TTL).
const MAX_TTL: Duration = Duration::from_secs(86_400);

const DASHBOARD: &str = include_str!("dashboard.html");

/// Refuses to serve on anything but loopback without a token: the API can make the node
/// leave and rewrite its keys.
pub fn check_bind(addr: SocketAddr, token: Option<&str>) -> Result<(), String> {
    match token {
        Some("") => Err("--http-token must not be empty".into()),
        Some(_) => Ok(()),
        None if addr.ip().is_loopback() => Ok(()),
        None => Err(format!(
            "refusing to serve the HTTP API on {addr}, which is not a loopback address, without --http-token"
        )),
    }
}

/// Installs the Prometheus recorder as the process's `metrics` recorder, and keeps its
/// upkeep running. Call it inside the runtime, before the node starts.
pub fn install_metrics() -> PrometheusHandle {
    let handle = PrometheusBuilder::new().install_recorder().expect("the only metrics recorder of the process");
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    handle
}

/// What every handler shares.
pub struct State {
    cluster: Cluster,
    name: String,
    token: Option<String>,
    metrics: PrometheusHandle,
    /// Tells the agent's main loop that the node has left (after `POST /v1/leave`).
    left: mpsc::Sender<()>,
}

type Shared = Arc<State>;

impl State {
    pub fn new(
        cluster: Cluster,
        name: String,
        token: Option<String>,
        metrics: PrometheusHandle,
        left: mpsc::Sender<()>,
    ) -> Shared {
        Arc::new(State { cluster, name, token, metrics, left })
    }
}

/// Serves the API on `listener` until `stop` fires, then finishes the requests in flight.
pub async fn serve(listener: TcpListener, state: Shared, stop: oneshot::Receiver<()>) {
    let app = router(state);
    let shutdown = async move {
        let _ = stop.await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %e, "the HTTP server stopped");
    }
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/v1/members", get(members))
        // GET names a node, PUT and DELETE one of this node's keys: one route, one
        // parameter name.
        .route("/v1/kv/{name}", get(keys).put(set).delete(delete))
        .route("/v1/kv/{node}/{key}", get(value))
        .route("/v1/broadcast", post(broadcast))
        .route("/v1/leave", post(leave))
        .route("/v1/events", get(events))
        .route("/v1/stats", get(stats))
        .route("/metrics", get(metrics))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async { error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here") })
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// A JSON error answer.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// Why the node could not do what was asked, as an answer.
fn refused(e: ClusterError) -> Response {
    match e {
        ClusterError::Closed => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        _ => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn authorize(
    axum::extract::State(state): axum::extract::State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.token.as_deref() else { return next.run(request).await };
    let header = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let offered = match header.and_then(|h| h.strip_prefix("Bearer ")) {
        Some(t) => Some(t.trim().to_owned()),
        // The dashboard page alone may carry the token in its address (a browser opens it
        // without headers).
        None if request.uri().path() == "/" => query_param(request.uri().query(), "token"),
        None => None,
    };
    // Constant time in the token's bytes: the comparison does not stop at the first
    // difference (a length mismatch is not hidden, and says nothing about the bytes).
    let good = offered.is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())));
    if good {
        return next.run(request).await;
    }
    let mut answer = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    answer.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    answer
}

/// The value of `name` in a query string (no percent-decoding: tokens and TTLs need none).
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).map(str::to_owned)
}

async fn dashboard(axum::extract::State(state): axum::extract::State<Shared>) -> Response {
    let name = state.name.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    Html(DASHBOARD.replace("{{NODE}}", &name)).into_response()
}

async fn members(axum::extract::State(state): axum::extract::State<Shared>) -> Response {
    match state.cluster.members().await {
        Ok(members) => Json(Value::Array(members.iter().map(objects::member).collect())).into_response(),
        Err(e) => refused(e),
    }
}

async fn keys(
    axum::extract::State(state): axum::extract::State<Shared>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let node = match path {
        Ok(Path(node)) => node,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    match state.cluster.keys(node).await {
        Ok(keys) => {
            let map: serde_json::Map<String, Value> =
                keys.iter().map(|(k, v)| (objects::text(k), Value::String(objects::text(v)))).collect();
            Json(Value::Object(map)).into_response()
        }
        Err(e) => refused(e),
    }
}

async fn value(
    axum::extract::State(state): axum::extract::State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let (node, key) = match path {
        Ok(Path(p)) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    match state.cluster.get(&node, &key).await {
        Ok(Some(value)) => ([(header::CONTENT_TYPE, "application/octet-stream")], value).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("{node} has no key {key:?} (as far as this node knows)")),
        Err(e) => refused(e),
    }
}

async fn set(
    axum::extract::State(state): axum::extract::State<Shared>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let key = match path {
        Ok(Path(key)) => key,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => return error(e.status(), e.body_text()),
    };
    let mut ttl = None;
    for pair in query.as_deref().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("ttl", text)) => match parse_ttl(text) {
                Ok(t) => ttl = Some(t),
                Err(e) => return error(StatusCode::BAD_REQUEST, e),
            },
            _ => return error(StatusCode::BAD_REQUEST, format!("unknown query parameter {pair:?} (only ttl)")),
        }
    }
    let done = match ttl {
        Some(ttl) => state.cluster.set_with_ttl(key, body, ttl).await,
        None => state.cluster.set(key, body).await,
    };
    match done {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refused(e),
    }
}

/// `30s`, `500ms`, `5m`, `2h`: a positive [`duration`](crate::duration), at most [`MAX_TTL`].
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let bad = || format!("ttl={text}: expected a duration such as 500ms, 30s, 5m or 2h, up to 24h");
    let ttl = crate::duration(text).map_err(|_| bad())?;
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(bad());
    }
    Ok(ttl)
}

async fn delete(
    axum::extract::State(state): axum::extract::State<Shared>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let key = match path {
        Ok(Path(key)) => key,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    match state.cluster.delete(key).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refused(e),
    }
}

async fn broadcast(
    axum::extract::State(state): axum::extract::State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let payload = match body {
        Ok(body) if body.is_empty() => {
            return error(StatusCode::BAD_REQUEST, "the body is the payload, and it is empty");
        }
        Ok(body) => body,
        Err(e) => return error(e.status(), e.body_text()),
    };
    match state.cluster.broadcast(payload).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refused(e),
    }
}

async fn leave(axum::extract::State(state): axum::extract::State<Shared>) -> Response {
    match state.cluster.leave().await {
        Ok(()) => {
            let _ = state.left.try_send(());
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => refused(e),
    }
}

/// Every event from now on, one JSON object per line, as the agent prints them.
async fn events(axum::extract::State(state): axum::extract::State<Shared>) -> Response {
    let receiver = state.cluster.events();
    let name = state.name.clone();
    let lines = futures_util::stream::unfold((receiver, name), |(mut receiver, name)| async move {
        let event = receiver.recv().await?;
        let mut line = objects::stamped(objects::event(&name, &event)).to_string();
        line.push('\n');
        Some((Ok::<_, Infallible>(Bytes::from(line)), (receiver, name)))
    });
    ([(header::CONTENT_TYPE, "application/x-ndjson"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(lines))
        .into_response()
}

async fn stats(axum::extract::State(state): axum::extract::State<Shared>) -> Response {
    match state.cluster.stats().await {
        Ok((core, transport)) => Json(objects::stats(&core, &transport)).into_response(),
        Err(e) => refused(e),
    }
}

async fn metrics(axum::extract::State(state): axum::extract::State<Shared>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_with_a_unit_and_within_bounds() {
        assert_eq!(parse_ttl("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_ttl("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_ttl("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_ttl("24h"), Ok(MAX_TTL));
        for bad in ["", "30", "s", "0s", "25h", "-1s", "1.5s", "99999999999999999999s", "3d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_loopback_is_served_without_a_token() {
        assert!(check_bind("127.0.0.1:7373".parse().unwrap(), None).is_ok());
        assert!(check_bind("[::1]:7373".parse().unwrap(), None).is_ok());
        assert!(check_bind("0.0.0.0:7373".parse().unwrap(), None).is_err());
        assert!(check_bind("0.0.0.0:7373".parse().unwrap(), Some("t")).is_ok());
        assert!(check_bind("127.0.0.1:7373".parse().unwrap(), Some("")).is_err());
    }

    #[test]
    fn query_params_are_found_by_exact_name() {
        assert_eq!(query_param(Some("a=1&token=xyz"), "token"), Some("xyz".into()));
        assert_eq!(query_param(Some("tokens=1"), "token"), None);
        assert_eq!(query_param(None, "token"), None);
    }
}
