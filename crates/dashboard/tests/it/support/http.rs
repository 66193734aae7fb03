//! The dashboard over plain HTTP, as a browser without JavaScript uses it: a client that does not
//! follow redirects, the sign-in form with its double-submit cookie, a session's cookie and CSRF
//! token, and the connect flow through the sandbox's consent page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use super::{Person, Server};

/// A client that shows every redirect instead of following it.
pub use tokpost_testkit::oauth::http;

/// The value of `name="csrf" value="…"` in a page.
pub fn csrf_in(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[start..].split('"').next().unwrap().to_owned()
}

/// The value the response sets for cookie `name`, if it sets one.
pub fn cookie_value(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v[name.len() + 1..].split(';').next().unwrap().to_owned())
}

/// Sends the sign-in form as `person` from Berlin; the answer as it comes.
pub async fn sign_in(server: &Server, person: &Person) -> reqwest::Response {
    sign_in_with(server, &person.email, &person.password).await
}

/// Sends the sign-in form with an email and a password from Berlin; the answer as it comes.
pub async fn sign_in_with(server: &Server, email: &str, password: &str) -> reqwest::Response {
    let form = http().get(server.url("/sign-in")).send().await.unwrap();
    let pre = cookie_value(&form, "tokpost_sign_in").unwrap();
    let csrf = csrf_in(&form.text().await.unwrap());
    http()
        .post(server.url("/sign-in"))
        .header(COOKIE, format!("tokpost_sign_in={pre}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
            ("time_zone", "Europe/Berlin"),
        ])
        .send()
        .await
        .unwrap()
}

/// Opens the signed-out page at `path` (an invitation, a reset link, "forgot your password")
/// and submits its form with `fields`; the answer as it comes.
pub async fn submit_signed_out(
    server: &Server,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = http().get(server.url(path)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "{path}");
    let pre = cookie_value(&page, "tokpost_sign_in").unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    http()
        .post(server.url(path))
        .header(COOKIE, format!("tokpost_sign_in={pre}"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// A signed-in browser: its session cookie header and the session's CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// Signs in as the workspace's owner (from Berlin).
pub async fn session(server: &Server) -> Session {
    session_of(server, &server.owner).await
}

/// Signs in as `person` (from Berlin).
pub async fn session_of(server: &Server, person: &Person) -> Session {
    let response = sign_in(server, person).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = format!(
        "tokpost_session={}",
        cookie_value(&response, "tokpost_session").unwrap()
    );
    let home = http()
        .get(server.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let csrf = csrf_in(&home.text().await.unwrap());
    Session { cookie, csrf }
}

/// Connects a sandbox creator (its sandbox user id) the way a browser does: the dashboard's
/// connect form, the sandbox's consent page answered for `creator`, the callback. Returns the
/// new account's id.
pub async fn connect(server: &Server, session: &Session, creator: &str) -> String {
    let before = server.store.accounts(server.workspace).await.unwrap();
    let start = http()
        .post(server.url("/accounts/connect"))
        .header(COOKIE, &session.cookie)
        .form(&[("csrf", session.csrf.as_str())])
        .send()
        .await
        .unwrap();
    let callback = tokpost_testkit::oauth::consent(
        &http(),
        start.headers()[LOCATION].to_str().unwrap(),
        creator,
    )
    .await;
    let done = http()
        .get(callback)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap()
    );
    let accounts = server.store.accounts(server.workspace).await.unwrap();
    accounts
        .iter()
        .find(|account| before.iter().all(|seen| seen.id != account.id))
        .unwrap()
        .id
        .to_string()
}
