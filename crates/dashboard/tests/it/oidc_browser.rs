//! Single sign-on against a real OpenID Connect provider started here (node-oidc-provider,
//! OpenID Certified): in headless Chromium a person signs in with the provider's own login and
//! consent pages and lands in tokpost as the user who has their verified email; a stranger and
//! an unverified email are refused with words saying why, and nobody is created. Over plain
//! HTTP: a callback outside the browser that started the sign-in, and a replayed one, open no
//! session.

use std::sync::Arc;

use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use tokpost_api::people::oidc::{Oidc, OidcSettings};
use tokpost_testkit::oidc::{Account, OidcProvider};

use crate::support::browser::{assert_same_origin, browser, click, js, sign_out, snap, text_of};
use crate::support::http::{cookie_value, csrf_in, http};
use crate::support::{self, Server};

fn accounts() -> Vec<Account> {
    let account = |login: &str, email: &str, verified: bool| Account {
        login: login.to_owned(),
        email: email.to_owned(),
        email_verified: verified,
        name: login.to_owned(),
    };
    vec![
        // The owner the test server makes, in another letter case.
        account("olga", "Owner@Example.com", true),
        account("stranger", "stranger@example.com", true),
        account("unverified", "owner@example.com", false),
    ]
}

/// A dashboard whose sign-in page offers the provider, and the provider.
async fn start() -> (Server, OidcProvider) {
    let mut provider = None;
    let server = support::start_with(|settings| {
        let redirect = settings
            .public_base_url
            .join(tokpost_api::people::oidc::CALLBACK_PATH)
            .unwrap();
        let started = OidcProvider::start(redirect.as_str(), &accounts());
        let oidc = Oidc::new(
            OidcSettings {
                issuer: started.issuer.clone(),
                client_id: started.client_id.clone(),
                client_secret: secrecy::SecretString::from(started.client_secret.clone()),
                label: "Sign in with Acme SSO".to_owned(),
            },
            &settings.public_base_url,
        )
        .unwrap();
        assert_eq!(oidc.redirect_uri(), redirect.as_str());
        settings.oidc = Some(Arc::new(oidc));
        provider = Some(started);
    })
    .await;
    (server, provider.unwrap())
}

/// From tokpost's sign-in page through the provider's login and consent pages as `login`.
async fn sign_in_with_provider(
    client: &Client,
    server: &Server,
    provider: &OidcProvider,
    login: &str,
) {
    // A fresh provider session each time: nobody is still signed in there.
    client.goto(&provider.issuer).await.unwrap();
    client.delete_all_cookies().await.unwrap();
    client.goto(&server.url("/sign-in")).await.unwrap();
    assert_eq!(
        text_of(client, "#sign-in-oidc").await,
        "Sign in with Acme SSO"
    );
    click(client, "#sign-in-oidc").await;
    client
        .wait()
        .for_element(Locator::Css("input[name=login]"))
        .await
        .unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&provider.issuer),
        "the provider's own page"
    );
    let field = client
        .find(Locator::Css("input[name=login]"))
        .await
        .unwrap();
    field.send_keys(login).await.unwrap();
    let password = client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap();
    password
        .send_keys("whatever the provider checks")
        .await
        .unwrap();
    click(client, "button[type=submit]").await;
    // The consent page.
    client
        .wait()
        .for_element(Locator::XPath("//button[contains(., 'Continue')]"))
        .await
        .unwrap();
    click(client, "button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_with_the_organisations_provider_by_verified_email_only() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let (server, provider) = start().await;
    client.goto(&server.url("/sign-in")).await.unwrap();
    snap(client, "sign-in-sso").await;

    sign_in_with_provider(client, &server, &provider, "olga").await;
    client
        .wait()
        .for_element(Locator::XPath("//h1[.='Overview']"))
        .await
        .unwrap();
    assert_same_origin(client, &server.base).await;
    assert!(
        text_of(client, "#who-am-i")
            .await
            .contains("Olga Owner (owner)")
    );
    // The session is in the browser's own zone, as with a password.
    let zone = js(
        client,
        "return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';",
        vec![],
    )
    .await;
    assert!(
        text_of(client, "footer")
            .await
            .contains(zone.as_str().unwrap()),
        "{zone}"
    );
    client.goto(&server.url("/team")).await.unwrap();
    assert!(
        text_of(client, "#members")
            .await
            .contains("owner@example.com")
    );
    sign_out(client).await;

    // Someone the provider knows but tokpost does not: refused, and not created.
    sign_in_with_provider(client, &server, &provider, "stranger").await;
    client
        .wait()
        .for_element(Locator::Id("sign-in-error"))
        .await
        .unwrap();
    let error = text_of(client, "#sign-in-error").await;
    assert!(
        error.contains("no one in tokpost has the email stranger@example.com")
            && error.contains("invite"),
        "{error}"
    );
    snap(client, "sign-in-sso-stranger").await;
    assert!(
        server
            .store
            .user_by_email("stranger@example.com")
            .await
            .unwrap()
            .is_none(),
        "nobody is created by signing in"
    );

    // The owner's address, but the provider does not vouch for it.
    sign_in_with_provider(client, &server, &provider, "unverified").await;
    client
        .wait()
        .for_element(Locator::Id("sign-in-error"))
        .await
        .unwrap();
    let error = text_of(client, "#sign-in-error").await;
    assert!(
        error.contains("does not say that owner@example.com is verified"),
        "{error}"
    );
}

#[tokio::test]
async fn a_callback_outside_its_browser_or_replayed_opens_no_session() {
    let (server, _provider) = start().await;
    let page = http().get(server.url("/sign-in")).send().await.unwrap();
    let pre = cookie_value(&page, "tokpost_sign_in").unwrap();
    let csrf = csrf_in(&page.text().await.unwrap());
    let started = http()
        .post(server.url("/sign-in/oidc"))
        .header(COOKIE, format!("tokpost_sign_in={pre}"))
        .form(&[("csrf", csrf.as_str()), ("time_zone", "Europe/Paris")])
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let state_cookie = cookie_value(&started, "tokpost_oidc").unwrap();
    let authorize = url::Url::parse(started.headers()[LOCATION].to_str().unwrap()).unwrap();
    let query = |name: &str| {
        authorize
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {authorize}"))
    };
    assert_eq!(query("code_challenge_method"), "S256");
    assert!(!query("nonce").is_empty());
    let state = query("state");
    assert_eq!(
        state, state_cookie,
        "the browser keeps the state it was sent with"
    );

    let callback = server.url(&format!("/sign-in/oidc/callback?code=forged&state={state}"));
    // Another browser (no state cookie): refused before anything is taken.
    let (status, session, page) = call_back(&callback, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(session.is_none());
    assert!(page.contains("started in another browser"), "{page}");
    // The right browser with a code the provider never issued: the provider refuses it.
    let (status, session, page) = call_back(&callback, Some(&state_cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(session.is_none());
    assert!(
        page.contains("the sign-in provider refused the sign-in"),
        "{page}"
    );
    // And the state was taken: replaying it finds nothing.
    let (status, session, _) = call_back(&callback, Some(&state_cookie)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(session.is_none());
}

/// The provider's redirect back, from a browser holding `state_cookie`: the status, the session
/// cookie it set (if any) and the page.
async fn call_back(
    callback: &str,
    state_cookie: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut request = http().get(callback);
    if let Some(state) = state_cookie {
        request = request.header(COOKIE, format!("tokpost_oidc={state}"));
    }
    let response = request.send().await.unwrap();
    let session = cookie_value(&response, "tokpost_session");
    (response.status(), session, response.text().await.unwrap())
}
