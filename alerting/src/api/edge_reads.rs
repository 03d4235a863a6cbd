//! On a center, what only the edges hold — a camera's latest frame and detections, a zone preview on
//! its recent frames, the cameras' live status — is read from the edge that runs the camera (found
//! in [`EdgeDirectory`], from the edges' own announcements). The center forwards the request with
//! the caller's `Authorization` header: each edge checks it against the same `[auth]` tokens and
//! decides by the same roles, so a token never reaches further through a center than it would
//! directly. The edge's answer comes back as it was (status, type, body); an edge that does not
//! answer is a 502 naming it and its address. Tokens go only to addresses the relay key vouches for:
//! without `cluster.relay_secret_env` anyone who may publish to the broker could announce an edge, so
//! a center then forwards nothing and says why (409).

use std::time::Duration;

use axum::{
    body::Bytes,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::cluster::{EdgeDirectory, KnownEdge};

/// How long a center waits for an edge's answer (a preview replays up to 150 frames).
const EDGE_ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// How long a center waits to connect to an edge.
const EDGE_CONNECT_WITHIN: Duration = Duration::from_secs(3);
/// The headers of an edge's answer that go back to the caller.
const PASSED_HEADERS: [header::HeaderName; 2] = [header::CONTENT_TYPE, header::CACHE_CONTROL];

/// Why a center without the relay key forwards nothing.
const UNSIGNED_CARDS: &str = "a center forwards camera reads, with the caller's token, only to edges whose announcements \
    the relay key signs: set cluster.relay_secret_env on the centers and the edges";

/// A center's way to the edges' reads.
#[derive(Clone)]
pub struct EdgeReads {
    directory: EdgeDirectory,
    client: reqwest::Client,
    signed: bool,
}

impl EdgeReads {
    /// Reads from the edges `directory` knows; `signed`: their cards are checked against the relay
    /// key (without it nothing is forwarded).
    pub fn new(directory: EdgeDirectory, signed: bool) -> Self {
        let client = reqwest::Client::builder()
            .timeout(EDGE_ANSWER_WITHIN)
            .connect_timeout(EDGE_CONNECT_WITHIN)
            .build()
            .expect("an HTTP client builds");
        Self { directory, client, signed }
    }

    /// `method` `/api/v1/cameras/{camera}/{path...}` (with `body`, JSON) as the edge running `camera`
    /// answers it; 404 when no edge runs it.
    pub(super) async fn camera(
        &self,
        camera: &str,
        path: &[&str],
        method: Method,
        headers: &HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Response, ApiError> {
        if !self.signed {
            return Err(ApiError::Conflict(UNSIGNED_CARDS.into()));
        }
        let edge = self.directory.edge_of(camera).ok_or_else(|| {
            ApiError::NotFound(format!(
                "no camera '{camera}': no edge node runs it (an edge announces its cameras once it reaches the broker)"
            ))
        })?;
        let mut segments = vec!["api", "v1", "cameras", camera];
        segments.extend_from_slice(path);
        let answer = self.send(&edge, &segments, method, headers, body).await?;
        let mut response = (answer.status, answer.body).into_response();
        for (name, value) in answer.headers {
            response.headers_mut().insert(name, value);
        }
        Ok(response)
    }

    /// Every edge's cameras as `GET /api/v1/cameras` answers there, each with its edge's `node`; the
    /// cameras of an edge that does not answer (or, without the relay key, of every edge) are listed
    /// with state `unreachable` and the reason.
    pub(super) async fn cameras(&self, headers: &HeaderMap) -> Vec<Value> {
        let edges = self.directory.edges();
        let answers: Vec<Result<EdgeAnswer, ApiError>> = if self.signed {
            let asked = edges.iter().map(|edge| self.send(edge, &["api", "v1", "cameras"], Method::GET, headers, None));
            futures_util::future::join_all(asked).await
        } else {
            edges.iter().map(|_| Err(ApiError::Conflict(UNSIGNED_CARDS.into()))).collect()
        };
        let mut cameras = Vec::new();
        for (edge, answer) in edges.iter().zip(answers) {
            let listed = answer.and_then(|answer| match answer.status {
                StatusCode::OK => serde_json::from_slice::<Vec<Value>>(&answer.body).map_err(|error| {
                    ApiError::EdgeUnreachable(format!("edge '{}': its camera list does not read: {error}", edge.node))
                }),
                status => Err(ApiError::EdgeUnreachable(format!("edge '{}' answered {status}", edge.node))),
            });
            match listed {
                Ok(listed) => cameras.extend(listed.into_iter().map(|mut camera| {
                    camera["node"] = json!(edge.node);
                    camera
                })),
                Err(error) => cameras.extend(edge.card.cameras.iter().map(|id| {
                    json!({ "id": id, "node": edge.node, "state": "unreachable", "last_error": error.to_string() })
                })),
            }
        }
        cameras
    }

    async fn send(
        &self,
        edge: &KnownEdge,
        segments: &[&str],
        method: Method,
        headers: &HeaderMap,
        body: Option<Bytes>,
    ) -> Result<EdgeAnswer, ApiError> {
        let (node, api) = (&edge.node, &edge.card.api);
        let mut url = reqwest::Url::parse(api).map_err(|error| {
            ApiError::EdgeUnreachable(format!(
                "edge '{node}' announced an API address '{api}' that does not read: {error}"
            ))
        })?;
        url.path_segments_mut()
            .map_err(|()| ApiError::EdgeUnreachable(format!("edge '{node}' announced '{api}', which is no base URL")))?
            .pop_if_empty()
            .extend(segments);
        let mut request = self.client.request(method, url);
        if let Some(authorization) = headers.get(header::AUTHORIZATION) {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        if let Some(body) = body {
            request = request.header(header::CONTENT_TYPE, "application/json").body(body);
        }
        let unreachable = |error: reqwest::Error| {
            ApiError::EdgeUnreachable(format!("edge '{node}' at {api} did not answer: {error}"))
        };
        let answer = request.send().await.map_err(unreachable)?;
        let status = answer.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(ApiError::EdgeUnreachable(format!(
                "edge '{node}' does not take this token: give the edges the centers' [auth] tokens"
            )));
        }
        let headers: Vec<_> = PASSED_HEADERS
            .iter()
            .filter_map(|name| answer.headers().get(name).map(|value| (name.clone(), value.clone())))
            .collect();
        let body = answer.bytes().await.map_err(unreachable)?;
        Ok(EdgeAnswer { status, headers, body })
    }
}

/// What an edge answered.
struct EdgeAnswer {
    status: StatusCode,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    body: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::EdgeCard;

    #[tokio::test]
    async fn a_camera_no_edge_runs_is_404_and_an_edge_that_does_not_answer_is_named_in_a_502() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let api = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let directory = EdgeDirectory::default();
        directory.set("edge-7", Some(EdgeCard { api: api.clone(), cameras: vec!["cam-1".into()] }));
        let unsigned = EdgeReads::new(directory.clone(), false);
        let refused = unsigned.camera("cam-1", &["view"], Method::GET, &HeaderMap::new(), None).await.unwrap_err();
        assert!(matches!(&refused, ApiError::Conflict(message) if message.contains("relay_secret_env")), "{refused}");
        assert_eq!(unsigned.cameras(&HeaderMap::new()).await[0]["state"], "unreachable");
        let reads = EdgeReads::new(directory, true);
        let headers = HeaderMap::new();
        let unknown = reads.camera("cam-2", &["view"], Method::GET, &headers, None).await.unwrap_err();
        assert!(
            matches!(&unknown, ApiError::NotFound(message) if message.contains("no edge node runs it")),
            "{unknown}"
        );
        let down = reads.camera("cam-1", &["view"], Method::GET, &headers, None).await.unwrap_err();
        assert!(
            matches!(&down, ApiError::EdgeUnreachable(message) if message.contains("edge 'edge-7'") && message.contains(&api)),
            "{down}"
        );
        assert_eq!(down.into_response().status(), StatusCode::BAD_GATEWAY);
        let listed = reads.cameras(&headers).await;
        assert_eq!(listed.len(), 1);
        assert_eq!((&listed[0]["id"], &listed[0]["state"]), (&json!("cam-1"), &json!("unreachable")), "{listed:?}");
    }
}
