//! Login Kit v2: the authorize page, the token endpoint (code and refresh grants) and revoke
//! (tiktok-api.md §2).
//!
//! The authorize page completes without a browser: a GET with the documented parameters
//! redirects at once to `redirect_uri` with `code`, `scopes` and `state`, for the creator named by
//! the extra parameter `sandbox_creator` (open id or username; the first creator when absent).
//! `sandbox_scopes=a,b` grants only those of the requested scopes, `sandbox_withhold=a,b` grants
//! all but those, and `sandbox_deny=1` answers `error=access_denied`. A browser (an `Accept`
//! header naming `text/html`) without `sandbox_creator` gets a small consent page instead.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use bytes::Bytes;
use jiff::Timestamp;
use rand::RngExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::{AppConfig, CreatorConfig, Rotation};
use crate::faults::FaultEndpoint;
use crate::ids;
use crate::server::{Family, with_faults};
use crate::state::{AuthCode, Grant, IssuedToken, Shared, Status};
use crate::webhooks::{self, Event, EventKind};
use crate::wire::{OAuthError, OAuthErrorKind, with_logid_header};

/// Every scope TikTok knows; anything else is `invalid_scope`.
const KNOWN_SCOPES: &[&str] = &[
    "user.info.basic",
    "user.info.profile",
    "user.info.stats",
    "video.list",
    "video.publish",
    "video.upload",
];

fn parse_pairs(raw: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

/// Whether `uri` matches one of the app's registered redirect URIs (see [`AppConfig`]).
pub(crate) fn redirect_registered(app: &AppConfig, uri: &str) -> bool {
    let Ok(candidate) = Url::parse(uri) else {
        return false;
    };
    candidate.fragment().is_none()
        && app
            .redirect_uris
            .iter()
            .any(|pattern| pattern_matches(pattern, &candidate))
}

fn pattern_matches(pattern: &str, candidate: &Url) -> bool {
    let Some((scheme, rest)) = pattern.split_once("://") else {
        return false;
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let port_matches = match port {
        Some("*") => true,
        Some(port) => port.parse::<u16>().ok() == candidate.port_or_known_default(),
        None => candidate.port().is_none(),
    };
    let path_matches = path == "/*" || (path == candidate.path() && candidate.query().is_none());
    scheme == candidate.scheme()
        && Some(host) == candidate.host_str()
        && port_matches
        && path_matches
}

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><title>TikTok sandbox</title><h1>Something went wrong</h1><p>{}</p>",
            escape(message)
        )),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    match Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            Redirect::to(url.as_str()).into_response()
        }
        Err(_) => error_page("redirect_uri is not a valid URL"),
    }
}

/// `GET /v2/auth/authorize/`.
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let raw_query = query.unwrap_or_default();
    let params = parse_pairs(raw_query.as_bytes());
    let param = |name: &str| params.get(name).map(String::as_str);
    let Some(app) = param("client_key").and_then(|key| shared.config.app(key)) else {
        return error_page("client_key is missing or unknown");
    };
    let Some(redirect_uri) = param("redirect_uri").filter(|uri| redirect_registered(app, uri))
    else {
        return error_page("redirect_uri is missing or not registered for this app");
    };
    let state = param("state").unwrap_or_default();
    let fail = |error: &str, description: &str| {
        redirect_with(
            redirect_uri,
            &[
                ("error", error),
                ("error_description", description),
                ("state", state),
            ],
        )
    };
    if param("response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be code.");
    }
    let requested: Vec<String> = param("scope")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if requested.is_empty()
        || requested
            .iter()
            .any(|s| !KNOWN_SCOPES.contains(&s.as_str()))
    {
        return fail(
            "invalid_scope",
            "The scope is invalid (scopes are comma-separated).",
        );
    }
    if param("code_challenge").is_some() && param("code_challenge_method") != Some("S256") {
        return fail(
            "invalid_request",
            "Code verifier or code challenge is invalid.",
        );
    }
    if param("sandbox_deny").is_some() {
        return fail(
            "access_denied",
            "The user denied the authorization request.",
        );
    }
    let creator: &CreatorConfig = match param("sandbox_creator") {
        Some(wanted) => match shared.creator(wanted) {
            Some(creator) => creator,
            None => return error_page("sandbox_creator names no sandbox creator"),
        },
        None if wants_html(&headers) => return consent_page(&shared, &raw_query),
        None => match shared.config.creators.first() {
            Some(creator) => creator,
            None => return error_page("the sandbox has no creators"),
        },
    };
    let only: Option<Vec<&str>> = param("sandbox_scopes").map(|s| s.split(',').collect());
    let withheld: Vec<&str> = param("sandbox_withhold")
        .map(|s| s.split(',').collect())
        .unwrap_or_default();
    let granted: Vec<String> = requested
        .into_iter()
        .filter(|s| only.as_ref().is_none_or(|only| only.contains(&s.as_str())))
        .filter(|s| !withheld.contains(&s.as_str()))
        .collect();
    if granted.is_empty() {
        return fail(
            "access_denied",
            "The user granted none of the requested scopes.",
        );
    }
    let now = shared.now();
    let code = {
        let mut world = shared.world();
        world.prune(now);
        let code = ids::auth_code(&mut world.rng);
        world.codes.insert(
            code.clone(),
            AuthCode {
                client_key: app.client_key.clone(),
                redirect_uri: redirect_uri.to_owned(),
                open_id: creator.open_id.clone(),
                scopes: granted.clone(),
                expires_at: clock::add(now, secs(shared.config.auth_code_ttl_secs)),
                code_challenge: param("code_challenge").map(str::to_ascii_lowercase),
            },
        );
        code
    };
    redirect_with(
        redirect_uri,
        &[
            ("code", &code),
            ("scopes", &granted.join(",")),
            ("state", state),
        ],
    )
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn consent_page(shared: &Shared, raw_query: &str) -> Response {
    let mut items = String::new();
    for creator in &shared.config.creators {
        let mut query = url::form_urlencoded::Serializer::new(raw_query.to_owned());
        query.append_pair("sandbox_creator", &creator.username);
        items.push_str(&format!(
            "<li><a href=\"?{}\">Continue as {} (@{})</a></li>",
            escape(&query.finish()),
            escape(&creator.nickname),
            escape(&creator.username)
        ));
    }
    let mut deny = url::form_urlencoded::Serializer::new(raw_query.to_owned());
    deny.append_pair("sandbox_deny", "1");
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>TikTok sandbox: authorize</title></head>\
         <body><h1>Authorize this app (TikTok sandbox)</h1><ul>{items}</ul>\
         <p><a href=\"?{}\">Cancel</a></p></body></html>",
        escape(&deny.finish())
    ))
    .into_response()
}

fn secs(seconds: u64) -> std::time::Duration {
    std::time::Duration::from_secs(seconds)
}

fn remaining_secs(until: Timestamp, now: Timestamp) -> i64 {
    until.duration_since(now).as_secs().max(0)
}

/// Checks client key and secret of a form-encoded OAuth call.
fn authenticate_client<'a>(
    shared: &'a Shared,
    form: &HashMap<String, String>,
) -> Result<&'a AppConfig, OAuthError> {
    let Some(client_key) = form.get("client_key") else {
        return Err(OAuthError::new(
            OAuthErrorKind::InvalidRequest,
            "The request parameters are malformed.",
        ));
    };
    let Some(app) = shared.config.app(client_key) else {
        return Err(OAuthError::new(
            OAuthErrorKind::InvalidClient,
            "Client key is invalid.",
        ));
    };
    match form.get("client_secret") {
        None => Err(OAuthError::new(
            OAuthErrorKind::InvalidRequest,
            "Client secret is missed in request.",
        )),
        Some(secret) if secret == app.client_secret.expose() => Ok(app),
        Some(_) => Err(OAuthError::new(
            OAuthErrorKind::InvalidClient,
            "Client secret is invalid.",
        )),
    }
}

/// `POST /v2/oauth/token/`.
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = parse_pairs(&body);
    let open_id = {
        let world = shared.world();
        form.get("code")
            .and_then(|code| world.codes.get(code).map(|c| c.open_id.clone()))
            .or_else(|| {
                form.get("refresh_token")
                    .and_then(|t| world.refresh_tokens.get(t))
                    .and_then(|t| world.grants.get(&t.grant))
                    .map(|g| g.open_id.clone())
            })
    };
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let worker = Arc::clone(&shared);
    with_faults(
        &shared,
        FaultEndpoint::Token,
        open_id.as_deref(),
        Family::OAuth,
        move |_| async move {
            let log_id = worker.log_id();
            let result = if form_encoded {
                token_grant(&worker, &form)
            } else {
                Err(OAuthError::new(
                    OAuthErrorKind::InvalidRequest,
                    "The request parameters are malformed.",
                ))
            };
            match result {
                Ok(body) => with_logid_header(axum::Json(body).into_response(), &log_id),
                Err(error) => error.render(worker.config.oauth_error_status, &log_id),
            }
        },
    )
    .await
}

fn token_grant(shared: &Shared, form: &HashMap<String, String>) -> Result<Value, OAuthError> {
    let app = authenticate_client(shared, form)?;
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(shared, app, form),
        Some("refresh_token") => refresh(shared, app, form),
        Some("client_credentials") => {
            let token = format!("clt.{}", ids::upload_token(&mut shared.world().rng));
            Ok(json!({ "access_token": token, "expires_in": 7200, "token_type": "Bearer" }))
        }
        Some(_) => Err(OAuthError::new(
            OAuthErrorKind::UnsupportedGrantType,
            "The grant type is not supported.",
        )),
        None => Err(OAuthError::new(
            OAuthErrorKind::InvalidRequest,
            "The request parameters are malformed.",
        )),
    }
}

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(OAuthErrorKind::InvalidGrant, description)
}

fn exchange_code(
    shared: &Shared,
    app: &AppConfig,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthError> {
    let (Some(code), Some(redirect_uri)) = (form.get("code"), form.get("redirect_uri")) else {
        return Err(OAuthError::new(
            OAuthErrorKind::InvalidRequest,
            "The request parameters are malformed.",
        ));
    };
    let now = shared.now();
    let mut world = shared.world();
    let Some(pending) = world.codes.get(code).cloned() else {
        return Err(invalid_grant("Authorization code is invalid."));
    };
    if pending.client_key != app.client_key {
        return Err(invalid_grant("Authorization code is invalid."));
    }
    if pending.expires_at <= now {
        world.codes.remove(code);
        return Err(invalid_grant("Authorization code is expired."));
    }
    if &pending.redirect_uri != redirect_uri {
        return Err(OAuthError::new(
            OAuthErrorKind::InvalidRequest,
            "Redirect_uri is not matched with the uri when requesting code.",
        ));
    }
    if let Some(challenge) = &pending.code_challenge {
        // TikTok's desktop PKCE: lowercase hex of SHA-256, not RFC 7636's base64url.
        let verified = form
            .get("code_verifier")
            .is_some_and(|verifier| &hex::encode(Sha256::digest(verifier.as_bytes())) == challenge);
        if !verified {
            return Err(invalid_grant("Code verifier or code challenge is invalid."));
        }
    }
    world.codes.remove(code);
    let policy = &shared.config.tokens;
    let refresh_expires_at = clock::add(now, secs(policy.refresh_token_ttl_secs));
    let grant = world.new_grant(Grant {
        client_key: app.client_key.clone(),
        open_id: pending.open_id.clone(),
        scopes: pending.scopes.clone(),
        revoked: false,
    });
    let refresh_token = ids::refresh_token(&mut world.rng);
    world.refresh_tokens.insert(
        refresh_token.clone(),
        IssuedToken {
            grant,
            expires_at: refresh_expires_at,
        },
    );
    let access_token = ids::access_token(&mut world.rng);
    let access_expires_at = clock::add(now, secs(policy.access_token_ttl_secs));
    world.access_tokens.insert(
        access_token.clone(),
        IssuedToken {
            grant,
            expires_at: access_expires_at,
        },
    );
    Ok(token_body(
        &access_token,
        remaining_secs(access_expires_at, now),
        &pending.open_id,
        &refresh_token,
        remaining_secs(refresh_expires_at, now),
        &pending.scopes,
    ))
}

fn token_body(
    access_token: &str,
    expires_in: i64,
    open_id: &str,
    refresh_token: &str,
    refresh_expires_in: i64,
    scopes: &[String],
) -> Value {
    json!({
        "access_token": access_token,
        "expires_in": expires_in,
        "open_id": open_id,
        "refresh_expires_in": refresh_expires_in,
        "refresh_token": refresh_token,
        "scope": scopes.join(","),
        "token_type": "Bearer",
    })
}

fn refresh(
    shared: &Shared,
    app: &AppConfig,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthError> {
    let Some(presented) = form.get("refresh_token") else {
        return Err(OAuthError::new(
            OAuthErrorKind::InvalidRequest,
            "The request parameters are malformed.",
        ));
    };
    let now = shared.now();
    let mut world = shared.world();
    world.prune(now);
    let refused = || invalid_grant("Refresh token is invalid or expired.");
    let Some(issued) = world.refresh_tokens.get(presented).cloned() else {
        return Err(refused());
    };
    let Some(grant) = world.grants.get(&issued.grant).cloned() else {
        return Err(refused());
    };
    if grant.revoked || grant.client_key != app.client_key || issued.expires_at <= now {
        return Err(refused());
    }
    let rotate = match shared.config.tokens.rotation {
        Rotation::Never => false,
        Rotation::Always => true,
        Rotation::Sometimes { probability } => world.rng.random::<f64>() < probability,
    };
    let refresh_token = if rotate {
        world.refresh_tokens.remove(presented);
        let fresh = ids::refresh_token(&mut world.rng);
        world.refresh_tokens.insert(fresh.clone(), issued.clone());
        fresh
    } else {
        presented.clone()
    };
    let access_token = ids::access_token(&mut world.rng);
    let access_expires_at = clock::add(now, secs(shared.config.tokens.access_token_ttl_secs));
    world.access_tokens.insert(
        access_token.clone(),
        IssuedToken {
            grant: issued.grant,
            expires_at: access_expires_at,
        },
    );
    Ok(token_body(
        &access_token,
        remaining_secs(access_expires_at, now),
        &grant.open_id,
        &refresh_token,
        remaining_secs(issued.expires_at, now),
        &grant.scopes,
    ))
}

/// `POST /v2/oauth/revoke/`: ends the grant behind an access token. Publishes still in flight
/// for it fail with `auth_removed`, and an `authorization.removed` webhook (reason 5, developer
/// revoked) follows. Revoking an unknown or already revoked token answers `{}` as well.
pub(crate) async fn revoke(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form = parse_pairs(&body);
    let open_id = {
        let world = shared.world();
        form.get("token")
            .and_then(|t| world.access_tokens.get(t))
            .and_then(|t| world.grants.get(&t.grant))
            .map(|g| g.open_id.clone())
    };
    let worker = Arc::clone(&shared);
    with_faults(
        &shared,
        FaultEndpoint::Revoke,
        open_id.as_deref(),
        Family::OAuth,
        move |_| async move {
            let log_id = worker.log_id();
            match revoke_grant(&worker, &form) {
                Ok(events) => {
                    webhooks::schedule(&worker, events);
                    with_logid_header(axum::Json(json!({})).into_response(), &log_id)
                }
                Err(error) => error.render(worker.config.oauth_error_status, &log_id),
            }
        },
    )
    .await
}

fn revoke_grant(shared: &Shared, form: &HashMap<String, String>) -> Result<Vec<Event>, OAuthError> {
    let app = authenticate_client(shared, form)?;
    let Some(token) = form.get("token") else {
        return Err(OAuthError::new(
            OAuthErrorKind::InvalidRequest,
            "The request parameters are malformed.",
        ));
    };
    let now = shared.now();
    let mut world = shared.world();
    let Some(grant_id) = world.access_tokens.get(token).map(|t| t.grant) else {
        return Ok(Vec::new());
    };
    let Some(grant) = world.grants.get_mut(&grant_id) else {
        return Ok(Vec::new());
    };
    if grant.client_key != app.client_key || grant.revoked {
        return Ok(Vec::new());
    }
    grant.revoked = true;
    let open_id = grant.open_id.clone();
    world.access_tokens.retain(|_, t| t.grant != grant_id);
    world.refresh_tokens.retain(|_, t| t.grant != grant_id);
    let mut events = vec![Event {
        at: now,
        client_key: app.client_key.clone(),
        open_id: open_id.clone(),
        publish_type: "",
        kind: EventKind::AuthorizationRemoved { reason: 5 },
    }];
    for publish in world.publishes.values_mut() {
        let in_flight = publish.grant == grant_id
            && matches!(
                publish.status_at(now),
                Status::ProcessingUpload | Status::ProcessingDownload
            );
        if in_flight {
            crate::publish::abort_pull(publish);
            publish.phase = crate::state::Phase::Failed {
                reason: "auth_removed".to_owned(),
            };
            events.push(Event {
                at: now,
                client_key: app.client_key.clone(),
                open_id: open_id.clone(),
                publish_type: publish.mode.publish_type(),
                kind: EventKind::PublishFailed {
                    publish_id: publish.id.clone(),
                    reason: "auth_removed".to_owned(),
                },
            });
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn app_with(patterns: &[&str]) -> AppConfig {
        AppConfig {
            redirect_uris: patterns.iter().map(|p| (*p).to_owned()).collect(),
            ..AppConfig::default()
        }
    }

    #[rstest]
    #[case("https://app.example.com/cb", "https://app.example.com/cb", true)]
    #[case("https://app.example.com/cb", "https://app.example.com/cb?x=1", false)]
    #[case("https://app.example.com/cb", "https://app.example.com/other", false)]
    #[case("https://app.example.com/cb", "http://app.example.com/cb", false)]
    #[case(
        "http://127.0.0.1:*/callback/",
        "http://127.0.0.1:49152/callback/",
        true
    )]
    #[case(
        "http://127.0.0.1:8080/callback/",
        "http://127.0.0.1:49152/callback/",
        false
    )]
    #[case(
        "http://127.0.0.1:*/*",
        "http://127.0.0.1:3000/auth/tiktok/callback",
        true
    )]
    #[case("http://127.0.0.1:*/*", "http://localhost:3000/auth", false)]
    #[case("https://app.example.com/cb", "https://app.example.com/cb#frag", false)]
    fn redirect_uris_must_match_a_registered_pattern(
        #[case] pattern: &str,
        #[case] uri: &str,
        #[case] expected: bool,
    ) {
        assert_eq!(redirect_registered(&app_with(&[pattern]), uri), expected);
    }
}
