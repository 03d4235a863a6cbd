use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::header,
    middleware::Next,
    response::Response,
};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::cases::people::{Principal, Role};

/// A configured API token (`[[auth.tokens]]`): its name, role and the SHA-256 (hex) of the secret.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct ApiToken {
    /// Who holds the token (shown in logs and audit records).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Hex SHA-256 of the token; the token itself is never stored.
    pub sha256: String,
    /// The department (`[[departments]]` id) the token acts for: a handler token bound to one reports
    /// in for it only.
    pub department: Option<String>,
}

/// Requests per token: each token gets its own bucket.
type TokenLimiter = governor::DefaultKeyedRateLimiter<Arc<str>>;

/// Checks bearer tokens against the configured digests, each token's request rate, and how often each
/// client address presents an unknown token.
#[derive(Debug, Default)]
pub struct Authenticator {
    by_digest: HashMap<[u8; 32], Principal>,
    limiter: Option<TokenLimiter>,
    failures: Option<FailedLogins>,
}

/// How long a client address that presented too many unknown tokens is refused.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered before the expired ones are swept out.
const FAILURE_ADDRESSES: usize = 10_000;

/// Unknown tokens per client address, counted in windows of [`FAILURE_WINDOW`] from the first
/// failure: an address at `per_window` failures is refused (429) until its window ends, before its
/// token is even checked, so guessing goes no faster than `per_window` a minute.
///
/// Written here rather than with `governor` (which limits each token's rate): a guess must be
/// refused before it is checked, and a governor limiter cannot be asked whether a key is limited
/// without spending from it.
#[derive(Debug)]
struct FailedLogins {
    per_window: u32,
    by_address: Mutex<HashMap<IpAddr, Strikes>>,
}

#[derive(Clone, Copy, Debug)]
struct Strikes {
    since: Instant,
    count: u32,
}

impl FailedLogins {
    /// How long `address` is still refused at `now`, if it is.
    fn refused_for(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let by_address = self.by_address.lock().expect("the failure counts are never poisoned");
        let strikes = by_address.get(&address)?;
        let ends = strikes.since + FAILURE_WINDOW;
        (strikes.count >= self.per_window && now < ends).then(|| ends - now)
    }

    /// Counts one unknown token from `address` at `now`.
    fn strike(&self, address: IpAddr, now: Instant) {
        let mut by_address = self.by_address.lock().expect("the failure counts are never poisoned");
        if by_address.len() >= FAILURE_ADDRESSES {
            by_address.retain(|_, strikes| now < strikes.since + FAILURE_WINDOW);
        }
        let strikes = by_address.entry(address).or_insert(Strikes { since: now, count: 0 });
        if now >= strikes.since + FAILURE_WINDOW {
            *strikes = Strikes { since: now, count: 0 };
        }
        strikes.count += 1;
        if strikes.count == self.per_window {
            tracing::warn!(%address, failures = strikes.count, "too many unknown tokens from one address: refused for a minute");
        }
    }
}

impl Authenticator {
    /// An authenticator for `tokens` (entries whose digest is not 64 hex digits are skipped; the
    /// configuration check reports them).
    pub fn new(tokens: &[ApiToken]) -> Self {
        let by_digest = tokens
            .iter()
            .filter_map(|token| {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(token.sha256.to_ascii_lowercase(), &mut digest).ok()?;
                let department = token.department.as_deref().map(Arc::from);
                Some((digest, Principal { name: token.name.as_str().into(), role: token.role, department }))
            })
            .collect();
        Self { by_digest, limiter: None, failures: None }
    }

    /// Refuses (429) a client address for the rest of a minute once it has presented `per_minute`
    /// unknown tokens within it.
    pub fn with_failed_login_limit(mut self, per_minute: u32) -> Self {
        self.failures = Some(FailedLogins { per_window: per_minute.max(1), by_address: Mutex::default() });
        self
    }

    /// Limits each token to `per_second` requests on average, `burst` at once; beyond it the API
    /// answers 429 with `Retry-After`.
    pub fn with_rate_limit(mut self, per_second: u32, burst: u32) -> Self {
        let quota = governor::Quota::per_second(std::num::NonZeroU32::new(per_second.max(1)).expect("at least 1"))
            .allow_burst(std::num::NonZeroU32::new(burst.max(1)).expect("at least 1"));
        self.limiter = Some(governor::RateLimiter::keyed(quota));
        self
    }

    /// The role of the configured token of this name, if there is one (the people a case can be
    /// handed to).
    pub fn role_of(&self, name: &str) -> Option<Role> {
        self.by_digest.values().find(|principal| &*principal.name == name).map(|principal| principal.role)
    }

    /// The holder of `token`, if it is one of the configured ones.
    pub fn authenticate(&self, token: &str) -> Option<&Principal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_digest.get(&digest)
    }
}

/// Refuses anyone but an admin to `what` (403 naming the role).
pub(super) fn admin_only(who: &Principal, what: &str) -> Result<(), ApiError> {
    if who.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("{} may not {what} (admin only)", who.role.as_str())))
    }
}

/// The bearer token of the request's `Authorization` header.
fn bearer_token(request: &Request) -> Result<String, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing Authorization: Bearer token"))?;
    // The scheme's name is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` are `Bearer`.
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .ok_or(ApiError::Unauthorized("Authorization must be 'Bearer <token>'"))?;
    Ok(token.trim().to_owned())
}

/// Middleware: refuses requests without a valid `Authorization: Bearer` token with 401.
pub async fn require_token(
    State(auth): State<Arc<Authenticator>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer_token(&request)?;
    admit(&auth, &token, request, next).await
}

/// Open311's `api_key` in a query string, if one is there.
pub fn api_key_in_query(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == "api_key")
        .map(|(_, value)| value.into_owned())
}

/// The token a request presents: its bearer header, or else Open311's `api_key` query parameter;
/// `None` when it presents neither (a malformed `Authorization` header is an error).
pub fn presented_token(request: &Request) -> Result<Option<String>, ApiError> {
    if request.headers().contains_key(header::AUTHORIZATION) {
        return bearer_token(request).map(Some);
    }
    Ok(api_key_in_query(request.uri().query()))
}

/// The address a request came from, when the server recorded it.
pub fn peer_of(request: &Request) -> Option<IpAddr> {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip())
}

/// Lets the request on as the token's holder, within the token's rate.
async fn admit(auth: &Authenticator, token: &str, mut request: Request, next: Next) -> Result<Response, ApiError> {
    let principal = auth.admit(token, peer_of(&request))?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

impl Authenticator {
    /// The holder of `token`, within the token's rate; an address that presented too many unknown
    /// tokens is refused before its token is checked.
    pub fn admit(&self, token: &str, address: Option<IpAddr>) -> Result<Principal, ApiError> {
        let failures = self.failures.as_ref().zip(address);
        if let Some((failures, address)) = failures
            && let Some(wait) = failures.refused_for(address, Instant::now())
        {
            return Err(ApiError::TooManyRequests(wait.as_secs_f64().ceil().max(1.0) as u64));
        }
        let Some(principal) = self.authenticate(token).cloned() else {
            if let Some((failures, address)) = failures {
                failures.strike(address, Instant::now());
            }
            return Err(ApiError::Unauthorized("unknown token"));
        };
        if let Some(limiter) = &self.limiter
            && let Err(not_until) = limiter.check_key(&principal.name)
        {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            return Err(ApiError::TooManyRequests(wait.as_secs_f64().ceil().max(1.0) as u64));
        }
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_failures_until_the_window_ends() {
        let failures = FailedLogins { per_window: 3, by_address: Mutex::default() };
        let (guesser, other): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let start = Instant::now();
        for n in 0..3 {
            assert_eq!(failures.refused_for(guesser, start), None, "{n} failures are allowed");
            failures.strike(guesser, start + Duration::from_secs(n));
        }
        assert_eq!(failures.refused_for(guesser, start + Duration::from_secs(10)), Some(Duration::from_secs(50)));
        assert_eq!(failures.refused_for(other, start + Duration::from_secs(10)), None, "another address goes on");
        assert_eq!(failures.refused_for(guesser, start + FAILURE_WINDOW), None, "the window ended");
        failures.strike(guesser, start + FAILURE_WINDOW);
        assert_eq!(failures.refused_for(guesser, start + FAILURE_WINDOW), None, "a new window counts from one");
    }

    #[test]
    fn tokens_are_matched_by_digest_only() {
        let digest = hex::encode(Sha256::digest(b"s3cret"));
        let auth = Authenticator::new(&[
            ApiToken { name: "desk".into(), role: Role::Operator, sha256: digest.to_uppercase(), department: None },
            ApiToken { name: "broken".into(), role: Role::Admin, sha256: "xyz".into(), department: None },
        ]);
        assert_eq!(auth.authenticate("s3cret").map(|p| p.role), Some(Role::Operator));
        assert!(auth.authenticate("S3cret").is_none());
        assert!(auth.authenticate(&digest).is_none(), "the digest itself is not a token");
    }

    #[tokio::test]
    async fn a_token_over_its_rate_gets_429_with_retry_after_and_others_go_on() {
        use axum::{Router, body::Body, http::Request, middleware, routing::get};
        use tower::ServiceExt;
        let token = |name: &str, secret: &str| ApiToken {
            name: name.into(),
            role: Role::Viewer,
            sha256: hex::encode(Sha256::digest(secret.as_bytes())),
            department: None,
        };
        let auth = Arc::new(Authenticator::new(&[token("a", "ta"), token("b", "tb")]).with_rate_limit(1, 3));
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .route_layer(middleware::from_fn_with_state(auth, require_token));
        let call = |secret: &'static str| {
            let app = app.clone();
            async move {
                let request = Request::get("/").header("authorization", format!("Bearer {secret}")).body(Body::empty());
                app.oneshot(request.unwrap()).await.unwrap()
            }
        };
        for _ in 0..3 {
            assert_eq!(call("ta").await.status(), 200);
        }
        let refused = call("ta").await;
        assert_eq!(refused.status(), 429, "the burst of 3 is used up");
        assert_eq!(refused.headers()["retry-after"], "1");
        assert_eq!(call("tb").await.status(), 200, "another token has its own bucket");
    }
}
