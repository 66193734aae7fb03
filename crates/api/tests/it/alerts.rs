//! Alerts that reach someone, over HTTP: a workspace's Slack, Discord and Telegram channels get a
//! message saying what happened, who must act and where (against a local receiver); a person's
//! own alerts arrive by email through a real SMTP server (aiosmtpd) only for what concerns
//! them; the daily digest goes out at its hour on the injected clock.

use std::sync::Arc;
use std::time::Duration;

use clock::Clock as _;
use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokpost_core::Role;
use tokpost_testkit::smtp::SmtpServer;

use crate::api::{Receiver, no_messages};
use crate::support::{App, code, fixture};

fn mailer(smtp: &SmtpServer) -> tokpost_pipeline::mail::Mailer {
    tokpost_pipeline::mail::Mailer::new(&tokpost_pipeline::mail::MailSettings {
        smtp_url: SecretString::from(smtp.url()),
        from: "tokpost <tokpost@example.com>".to_owned(),
    })
    .unwrap()
}

fn sender(
    app: &App,
    messages: tokpost_pipeline::webhooks::MessageSettings,
) -> tokpost_pipeline::webhooks::Deliverer {
    tokpost_pipeline::webhooks::Deliverer::new(
        tokpost_store::WorkerId::new("alerts"),
        Arc::clone(&app.store),
        app.clock.shared(),
        tokpost_pipeline::webhooks::DeliverySettings::default(),
        app.webhook_addresses.clone(),
        messages,
    )
    .unwrap()
}

/// The default workspace requires approval; an account and a video to post.
async fn studio(app: &App) -> (String, String) {
    let account = app.connect(&app.key, "ada.public").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, media) = app.upload(&app.key, fixture("tiny_faststart.mp4")).await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/approval-settings",
            Some(&app.key),
            Some(json!({"required": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (account, media["id"].as_str().unwrap().to_owned())
}

async fn create_post(app: &App, who: &str, account: &str, media: &str, caption: &str) -> String {
    let at = app.clock.now() + SignedDuration::from_hours(3);
    let (status, post) = app
        .call(
            Method::POST,
            "/v1/posts",
            Some(who),
            Some(json!({
                "account_id": account,
                "video": {"media_id": media, "caption": caption},
                "privacy_level": "SELF_ONLY",
                "scheduled_at": at.to_string(),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    assert_eq!(post["state"], "awaiting_approval");
    post["id"].as_str().unwrap().to_owned()
}

async fn channel(app: &App, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/v1/webhook-endpoints",
        Some(&app.key),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn chat_channels_say_what_happened_who_must_act_and_where() {
    let app = App::start().await;
    let receiver = Receiver::start(&[]).await;
    let (account, media) = studio(&app).await;
    let events = ["post.awaiting_approval", "digest.daily"];

    // What a channel needs is checked when it is added, with the field and what was expected.
    for (body, field, expected) in [
        (
            json!({"format": "telegram", "url": format!("{}/bot1:x/sendMessage", receiver.url), "events": events}),
            "chat_id",
            "required",
        ),
        (
            json!({"format": "telegram", "url": format!("{}/hook", receiver.url), "chat_id": "-1001", "events": events}),
            "url",
            "invalid_url",
        ),
        (
            json!({"format": "slack", "url": receiver.url, "chat_id": "-1001", "events": events}),
            "chat_id",
            "not_allowed",
        ),
        (
            json!({"format": "email", "url": "mailto:team@example.com", "events": events}),
            "format",
            "email_not_configured",
        ),
        (
            json!({"format": "carrier-pigeon", "url": receiver.url, "events": events}),
            "format",
            "unknown_format",
        ),
    ] {
        let (status, refused) = channel(&app, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(code(&refused), expected, "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }

    for body in [
        json!({"format": "slack", "url": format!("{}/services/T0/B0/xyz", receiver.url), "events": events}),
        json!({"format": "discord", "url": format!("{}/api/webhooks/1/abc", receiver.url), "events": events}),
        json!({"format": "telegram", "url": format!("{}/bot123:ABC/sendMessage", receiver.url), "chat_id": "-1001234567890", "events": events}),
    ] {
        let (status, created) = channel(&app, body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    let (_, list) = app
        .call(Method::GET, "/v1/webhook-endpoints", Some(&app.key), None)
        .await;
    let mut formats: Vec<&str> = list["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|endpoint| endpoint["format"].as_str().unwrap())
        .collect();
    formats.sort_unstable();
    assert_eq!(formats, ["discord", "slack", "telegram"]);
    let telegram = list["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|endpoint| endpoint["format"] == "telegram")
        .unwrap();
    assert_eq!(telegram["chat_id"], "-1001234567890");
    assert!(
        !list.to_string().contains("bot123:ABC"),
        "a bot's token is never shown again: {list}"
    );

    let post = create_post(&app, &app.key, &account, &media, "Launch <@everyone> day").await;
    let sender = sender(&app, no_messages());
    assert_eq!(sender.run_once().await.unwrap(), 3);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    // Each chat's body has its own shape: Slack's `text`, Discord's `content`, Telegram's
    // `chat_id` and `text`.
    let bodies: Vec<Value> = requests
        .iter()
        .map(|(_, _, body)| serde_json::from_slice(body).unwrap())
        .collect();
    let body = |chat: &str| -> Value {
        bodies
            .iter()
            .find(|body| match chat {
                "slack" => body.get("text").is_some() && body.get("chat_id").is_none(),
                "discord" => body.get("content").is_some(),
                _ => body.get("chat_id").is_some(),
            })
            .unwrap()
            .clone()
    };
    let link = format!("http://tokpost.test/posts/{post}");
    let slack = body("slack")["text"].as_str().unwrap().to_owned();
    assert!(
        slack.starts_with("*Awaiting approval: “Launch &lt;@everyone&gt; day” for Ada"),
        "{slack}"
    );
    assert!(
        slack.contains("*Who must act:* A reviewer or an owner: approve or reject it."),
        "{slack}"
    );
    assert!(
        slack.contains(&format!("<{link}|Review the post>")),
        "{slack}"
    );
    let discord = body("discord");
    let content = discord["content"].as_str().unwrap();
    assert!(content.contains(r"\<\@everyone\>"), "{content}");
    assert!(content.contains(&format!("(<{link}>)")), "{content}");
    assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
    let telegram = body("telegram");
    assert_eq!(telegram["chat_id"], "-1001234567890");
    assert!(
        telegram["text"]
            .as_str()
            .unwrap()
            .contains(&format!("Review the post: {link}")),
        "{telegram}"
    );

    // The digest of the day goes out at 08:00 UTC the next day, once.
    let now = app.clock.now();
    let next = tokpost_pipeline::webhooks::digest::DigestSettings::default()
        .next_after(now)
        .unwrap();
    app.clock.advance(Duration::from_secs(
        u64::try_from(next.as_second() - now.as_second()).unwrap(),
    ));
    sender.queue_digest().await;
    sender.queue_digest().await;
    assert_eq!(
        sender.run_once().await.unwrap(),
        3,
        "one digest per channel"
    );
    let digest: Value = serde_json::from_slice(&receiver.requests()[3].2).unwrap();
    let text = digest
        .get("text")
        .or_else(|| digest.get("content"))
        .unwrap()
        .as_str()
        .unwrap();
    assert!(text.contains("daily digest"), "{text}");
    assert!(text.contains("1 awaiting approval now"), "{text}");
}

#[tokio::test]
async fn a_persons_alerts_are_emailed_only_for_what_concerns_them() {
    let smtp = SmtpServer::start().await;
    let mail = mailer(&smtp);
    let app = App::start_with({
        let mail = mail.clone();
        move |settings| settings.mailer = Some(mail)
    })
    .await;
    let (account, media) = studio(&app).await;
    let editor = app.person(Role::Editor, "eddie@example.com").await;
    let reviewer = app.person(Role::Reviewer, "rita@example.com").await;

    // An API key has no inbox.
    let (status, refused) = app
        .call(Method::GET, "/v1/me/alerts", Some(&app.key), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(code(&refused), "people_only");

    // An editor is never asked to approve, so cannot choose it.
    let (status, mine) = app
        .call(Method::GET, "/v1/me/alerts", Some(&editor), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["status"], "off");
    assert_eq!(mine["email"], "eddie@example.com");
    assert_eq!(mine["email_configured"], true);
    let offered: Vec<&str> = mine["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|choice| choice["event"].as_str().unwrap())
        .collect();
    assert!(offered.contains(&"post.rejected"), "{mine}");
    assert!(!offered.contains(&"post.awaiting_approval"), "{mine}");
    let (status, refused) = app
        .call(
            Method::PUT,
            "/v1/me/alerts",
            Some(&editor),
            Some(json!({"events": ["post.rejected", "post.awaiting_approval"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(code(&refused), "not_for_your_role");
    assert_eq!(refused["error"]["field"], "events[1]");
    let (status, saved) = app
        .call(
            Method::PUT,
            "/v1/me/alerts",
            Some(&editor),
            Some(json!({"events": ["post.rejected", "post.failed"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["status"], "active");
    let (status, saved) = app
        .call(
            Method::PUT,
            "/v1/me/alerts",
            Some(&reviewer),
            Some(json!({"events": ["post.awaiting_approval", "post.failed"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    // A person's alerts are not among the workspace's channels.
    let (_, list) = app
        .call(Method::GET, "/v1/webhook-endpoints", Some(&app.key), None)
        .await;
    assert_eq!(list["endpoints"], json!([]));

    let messages = tokpost_pipeline::webhooks::MessageSettings {
        mailer: Some(mail),
        ..no_messages()
    };
    let sender = sender(&app, messages);
    let post = create_post(&app, &editor, &account, &media, "Behind the scenes").await;
    assert_eq!(sender.run_once().await.unwrap(), 1, "the reviewer alone");
    let received = smtp.wait_for(1).await;
    assert_eq!(received[0].to, "rita@example.com");
    assert!(
        received[0]
            .subject
            .starts_with("[tokpost] Awaiting approval: “Behind the scenes” for Ada"),
        "{received:?}"
    );
    let body = &received[0].body;
    assert!(
        body.contains("Who must act: A reviewer or an owner: approve or reject it."),
        "{body}"
    );
    assert!(
        body.contains(&format!("http://tokpost.test/posts/{post}")),
        "{body}"
    );
    assert!(body.contains("http://tokpost.test/me"), "{body}");

    // The reviewer rejects: the author hears, with the comment; the reviewer does not.
    let (status, rejected) = app
        .call(
            Method::POST,
            &format!("/v1/posts/{post}/reject"),
            Some(&reviewer),
            Some(json!({"comment": "Show the product in the first second"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(sender.run_once().await.unwrap(), 1);
    let received = smtp.wait_for(2).await;
    let to_author = received
        .iter()
        .find(|message| message.to == "eddie@example.com")
        .unwrap();
    assert!(to_author.subject.contains("Rejected"), "{to_author:?}");
    assert!(
        to_author
            .body
            .contains("Show the product in the first second"),
        "{to_author:?}"
    );
    assert!(
        to_author
            .body
            .contains(&format!("http://tokpost.test/posts/{post}/edit")),
        "{to_author:?}"
    );
    let (_, mine) = app
        .call(Method::GET, "/v1/me/alerts", Some(&editor), None)
        .await;
    assert_eq!(mine["recent"][0]["event"], "post.rejected");
    assert_eq!(mine["recent"][0]["status"], "delivered");

    // Turning every alert off.
    let (status, off) = app
        .call(
            Method::PUT,
            "/v1/me/alerts",
            Some(&editor),
            Some(json!({"events": []})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{off}");
    assert_eq!(off["status"], "off");
}

#[tokio::test]
async fn without_an_smtp_server_email_alerts_are_refused_with_what_to_set() {
    let app = App::start().await;
    let owner = app.person(Role::Owner, "olga@example.com").await;
    let (status, refused) = app
        .call(
            Method::PUT,
            "/v1/me/alerts",
            Some(&owner),
            Some(json!({"events": ["post.failed"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(code(&refused), "email_not_configured");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email.smtp_url"),
        "{refused}"
    );
}
