//! The audit page's checklist, pure: what tokpost knows about its configuration and its
//! connected accounts in, one verdict per line out. The page gathers the facts; nothing here
//! does IO, so every line's colour is tested as a table.

use url::{Host, Url};

use crate::views::{AppAudit, Level};

/// The path of the OAuth callback under the public base URL (the API's route).
const CALLBACK_PATH: &str = "v1/oauth/tiktok/callback";

/// The host of TikTok's own Content Posting API.
const TIKTOK_API_HOST: &str = "open.tiktokapis.com";

/// What the page knows about one connected account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountFacts {
    pub(crate) id: String,
    pub(crate) nickname: String,
    pub(crate) username: String,
    pub(crate) connected: bool,
    /// From the latest creator info: `Some(true)` when it lacks `PUBLIC_TO_EVERYONE`; `None`
    /// before tokpost ever asked TikTok.
    pub(crate) private: Option<bool>,
}

impl AccountFacts {
    /// "Nickname (@username)", as the composer's header names the creator.
    pub(crate) fn name(&self) -> String {
        if self.username.is_empty() {
            self.nickname.clone()
        } else {
            format!("{} (@{})", self.nickname, self.username)
        }
    }
}

/// Everything the checklist is computed from.
#[derive(Debug, Clone)]
pub(crate) struct AuditFacts {
    /// `http.public_base_url`, as the API uses it.
    pub(crate) public_base_url: Url,
    /// The redirect URI the client sends to TikTok (`tiktok.redirect_uri` or derived).
    pub(crate) redirect_uri: String,
    /// Where the client calls TikTok (or what stands in for it).
    pub(crate) api_base_url: Url,
    pub(crate) client_key: String,
    /// `tiktok.verified_url_prefixes` (with the loopback pull prefix of an in-process sandbox).
    pub(crate) verified_url_prefixes: Vec<String>,
    /// The prefix of signed pull URLs of uploads (`media.pull_base_url`), when pulls are used.
    pub(crate) pull_base: Option<Url>,
    pub(crate) audit: AppAudit,
    pub(crate) accounts: Vec<AccountFacts>,
}

/// One line of the checklist: a colour with its word, what tokpost saw, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditCheck {
    /// A stable name (the line's `data-check`).
    pub(crate) id: &'static str,
    pub(crate) label: &'static str,
    pub(crate) level: Level,
    pub(crate) detail: String,
    /// The next step, when there is one.
    pub(crate) next: Option<String>,
}

impl AuditCheck {
    fn new(id: &'static str, label: &'static str, level: Level, detail: String) -> Self {
        Self {
            id,
            label,
            level,
            detail,
            next: None,
        }
    }

    fn then(mut self, next: impl Into<String>) -> Self {
        self.next = Some(next.into());
        self
    }
}

/// The checklist, in the order a self-hoster works through it.
pub(crate) fn checks(facts: &AuditFacts) -> Vec<AuditCheck> {
    vec![
        tiktok_app(facts),
        public_base_url(facts),
        redirect_uri(facts),
        verified_prefixes(facts),
        audit(facts),
        private_account(facts),
    ]
}

/// The first private, connected account: the one to record the demo with.
pub(crate) fn demo_account(facts: &AuditFacts) -> Option<&AccountFacts> {
    facts
        .accounts
        .iter()
        .find(|account| account.connected && account.private == Some(true))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => true,
    }
}

/// Red, except on the built-in sandbox where a rehearsal still works (amber).
fn blocks_the_audit(facts: &AuditFacts) -> Level {
    if facts.audit.builtin_sandbox {
        Level::Amber
    } else {
        Level::Red
    }
}

fn tiktok_app(facts: &AuditFacts) -> AuditCheck {
    const ID: &str = "tiktok_app";
    const LABEL: &str = "TikTok app";
    if facts.audit.builtin_sandbox {
        return AuditCheck::new(
            ID,
            LABEL,
            Level::Amber,
            "tokpost's built-in sandbox stands in for TikTok (serve --sandbox, or no \
             tiktok.client_key): rehearse every step here, but its consent page is not TikTok's"
                .to_owned(),
        )
        .then(
            "Record the demo against your own TikTok app: set tiktok.client_key and \
             tiktok.client_secret to its Sandbox keys (developer portal, Sandbox) or to the \
             unaudited app's keys, and restart without --sandbox.",
        );
    }
    if facts.api_base_url.host_str() == Some(TIKTOK_API_HOST) {
        return AuditCheck::new(
            ID,
            LABEL,
            Level::Green,
            format!(
                "TikTok's API ({}) as the app with client key {}",
                facts.api_base_url, facts.client_key
            ),
        );
    }
    AuditCheck::new(
        ID,
        LABEL,
        Level::Amber,
        format!(
            "{} is not TikTok's API ({TIKTOK_API_HOST}): a TikTok-compatible server",
            facts.api_base_url
        ),
    )
    .then("Reviewers must see your app talking to TikTok: empty tiktok.api_base_url and tiktok.authorize_base_url for TikTok's own.")
}

fn public_base_url(facts: &AuditFacts) -> AuditCheck {
    const ID: &str = "public_base_url";
    const LABEL: &str = "Public base URL";
    let url = &facts.public_base_url;
    let fix = "Set http.public_base_url to the https address of your tokpost (behind a TLS \
               proxy, see docs/DEPLOYMENT.md), on the domain of the Website URL you give TikTok.";
    if url.scheme() != "https" {
        return AuditCheck::new(
            ID,
            LABEL,
            blocks_the_audit(facts),
            format!(
                "{url} is not https: TikTok requires an https redirect URI for a web app, and \
                 the demo must show your public website{}",
                rehearsal_only(facts)
            ),
        )
        .then(fix);
    }
    if is_loopback(url) {
        return AuditCheck::new(
            ID,
            LABEL,
            blocks_the_audit(facts),
            format!(
                "{url} is this machine only: TikTok's consent page cannot send creators back to it{}",
                rehearsal_only(facts)
            ),
        )
        .then(fix);
    }
    AuditCheck::new(ID, LABEL, Level::Green, format!("{url} is https")).then(format!(
        "Record the demo on {} and give TikTok a Website URL on the same domain.",
        url.host_str().unwrap_or_default()
    ))
}

fn rehearsal_only(facts: &AuditFacts) -> &'static str {
    if facts.audit.builtin_sandbox {
        " (fine for a rehearsal on the built-in sandbox, not for the audit)"
    } else {
        ""
    }
}

fn redirect_uri(facts: &AuditFacts) -> AuditCheck {
    const ID: &str = "redirect_uri";
    const LABEL: &str = "OAuth redirect URI";
    let uri = &facts.redirect_uri;
    let register = format!(
        "Register exactly {uri} as the redirect URI of Login Kit in TikTok's developer portal."
    );
    let parsed = match Url::parse(uri) {
        Ok(parsed) => parsed,
        Err(error) => {
            return AuditCheck::new(
                ID,
                LABEL,
                Level::Red,
                format!("`{uri}` is not a URL ({error})"),
            )
            .then("Fix tiktok.redirect_uri, or empty it to derive it from http.public_base_url.");
        }
    };
    if parsed.scheme() != "https" || is_loopback(&parsed) {
        return AuditCheck::new(
            ID,
            LABEL,
            blocks_the_audit(facts),
            format!(
                "{uri} is not an https address TikTok can send creators back to{}",
                rehearsal_only(facts)
            ),
        )
        .then(
            "It follows http.public_base_url (<public_base_url>v1/oauth/tiktok/callback) unless \
             tiktok.redirect_uri is set: make that https first.",
        );
    }
    let expected = format!("{}{CALLBACK_PATH}", facts.public_base_url);
    if *uri != expected {
        return AuditCheck::new(
            ID,
            LABEL,
            Level::Amber,
            format!(
                "{uri} (tiktok.redirect_uri) is not tokpost's own callback {expected}: it works \
                 only if whatever answers it hands the query to that callback"
            ),
        )
        .then(register);
    }
    AuditCheck::new(ID, LABEL, Level::Green, format!("{uri} is https")).then(register)
}

fn verified_prefixes(facts: &AuditFacts) -> AuditCheck {
    const ID: &str = "verified_url_prefixes";
    const LABEL: &str = "Verified URL prefixes";
    let prefixes = &facts.verified_url_prefixes;
    let listed = if prefixes.is_empty() {
        "none configured".to_owned()
    } else {
        prefixes.join(", ")
    };
    let photos = "Uploaded photos go to TikTok only by PULL_FROM_URL: verify an https prefix in \
                  the developer portal (URL properties), list it in tiktok.verified_url_prefixes \
                  and set media.pull_base_url under it (tokpost answers at /media/pull/).";
    let Some(base) = &facts.pull_base else {
        if prefixes.is_empty() {
            return AuditCheck::new(
                ID,
                LABEL,
                Level::Amber,
                "none configured: uploaded videos go to TikTok by FILE_UPLOAD, but no photo \
                 post can be published (TikTok only pulls photos, from a verified prefix)"
                    .to_owned(),
            )
            .then(photos);
        }
        return AuditCheck::new(
            ID,
            LABEL,
            Level::Green,
            format!(
                "{listed}: media from URLs under these go by PULL_FROM_URL, uploaded videos by \
                 FILE_UPLOAD"
            ),
        )
        .then(photos);
    };
    let Some(prefix) = prefixes
        .iter()
        .find(|prefix| base.as_str().starts_with(prefix.as_str()))
    else {
        return AuditCheck::new(
            ID,
            LABEL,
            Level::Red,
            format!(
                "media.pull_base_url {base} lies under none of tiktok.verified_url_prefixes \
                 ({listed}): TikTok refuses to pull from it"
            ),
        )
        .then("Verify a prefix covering media.pull_base_url in the developer portal and list it in tiktok.verified_url_prefixes.");
    };
    if base.scheme() != "https" || is_loopback(base) {
        return AuditCheck::new(
            ID,
            LABEL,
            blocks_the_audit(facts),
            format!(
                "uploads are pulled from {base} under {prefix}, which only this machine reaches{}",
                rehearsal_only(facts)
            ),
        )
        .then(
            "For TikTok, set media.pull_base_url under an https prefix you verified, or leave \
             it empty to send uploads by FILE_UPLOAD.",
        );
    }
    AuditCheck::new(
        ID,
        LABEL,
        Level::Green,
        format!("media.pull_base_url {base} lies under the verified prefix {prefix}"),
    )
    .then(format!(
        "Verify {prefix} in the developer portal (URL properties) too: tokpost cannot see the portal."
    ))
}

fn audit(facts: &AuditFacts) -> AuditCheck {
    let check = facts.audit.check();
    let next = match (facts.audit.builtin_sandbox, facts.audit.audited) {
        (true, _) => None,
        (false, true) => Some(
            "Nothing to rehearse unless you add a product or a scope: TikTok reviews the app again then.",
        ),
        (false, false) => Some(
            "Expected before the audit (tiktok.audited = false): TikTok accepts only SELF_ONLY \
             posts to private accounts, for at most 5 creators a day. Record the demo with a \
             private test account; set tiktok.audited = true once TikTok approves the app.",
        ),
    };
    AuditCheck {
        id: "audit",
        label: "App audit",
        level: check.level,
        detail: check.detail,
        next: next.map(str::to_owned),
    }
}

fn private_account(facts: &AuditFacts) -> AuditCheck {
    const ID: &str = "private_account";
    const LABEL: &str = "Private test account";
    let make_private = "In TikTok's app on the test account: Settings and privacy, Privacy, \
                        Private account; then reconnect it on the Accounts page.";
    if let Some(account) = demo_account(facts) {
        return AuditCheck::new(
            ID,
            LABEL,
            Level::Green,
            format!(
                "{} is connected and private (its privacy options lack PUBLIC_TO_EVERYONE)",
                account.name()
            ),
        );
    }
    let connected: Vec<&AccountFacts> = facts.accounts.iter().filter(|a| a.connected).collect();
    if connected.is_empty() {
        return AuditCheck::new(ID, LABEL, Level::Red, "no connected account".to_owned()).then(
            format!("Connect a private TikTok test account on the Accounts page. {make_private}"),
        );
    }
    let unknown: Vec<String> = connected
        .iter()
        .filter(|a| a.private.is_none())
        .map(|a| a.name())
        .collect();
    let public: Vec<String> = connected
        .iter()
        .filter(|a| a.private == Some(false))
        .map(|a| a.name())
        .collect();
    let mut seen = Vec::new();
    if !public.is_empty() {
        seen.push(format!("public: {}", public.join(", ")));
    }
    if !unknown.is_empty() {
        seen.push(format!(
            "not asked yet (open it in Compose): {}",
            unknown.join(", ")
        ));
    }
    let (level, why) = if facts.audit.audited {
        (
            Level::Amber,
            "this audited app may post to them, but the demo of a new app needs a private one",
        )
    } else {
        (
            Level::Red,
            "this unaudited app cannot post to a public account \
             (unaudited_client_can_only_post_to_private_accounts)",
        )
    };
    AuditCheck::new(
        ID,
        LABEL,
        level,
        format!(
            "no connected account is known to be private ({}): {why}",
            seen.join("; ")
        ),
    )
    .then(make_private)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    /// A self-hoster's production setup, ready for the audit.
    fn ready() -> AuditFacts {
        AuditFacts {
            public_base_url: url("https://post.example.com/"),
            redirect_uri: "https://post.example.com/v1/oauth/tiktok/callback".to_owned(),
            api_base_url: url("https://open.tiktokapis.com/"),
            client_key: "aw123".to_owned(),
            verified_url_prefixes: vec!["https://media.example.com/".to_owned()],
            pull_base: Some(url("https://media.example.com/tokpost/")),
            audit: AppAudit {
                audited: false,
                builtin_sandbox: false,
            },
            accounts: vec![account("bo", true, Some(true))],
        }
    }

    fn account(id: &str, connected: bool, private: Option<bool>) -> AccountFacts {
        AccountFacts {
            id: id.to_owned(),
            nickname: id.to_uppercase(),
            username: id.to_owned(),
            connected,
            private,
        }
    }

    fn level_of(facts: &AuditFacts, id: &str) -> (Level, String) {
        let check = checks(facts).into_iter().find(|c| c.id == id).unwrap();
        (check.level, check.detail)
    }

    #[test]
    fn a_ready_production_setup_is_green_throughout_but_for_the_expected_missing_audit() {
        let facts = ready();
        for check in checks(&facts) {
            let expected = if check.id == "audit" {
                Level::Amber
            } else {
                Level::Green
            };
            assert_eq!(check.level, expected, "{check:?}");
        }
        assert_eq!(demo_account(&facts).unwrap().id, "bo");
    }

    #[rstest]
    #[case::http("http://post.example.com/", false, Level::Red, "is not https")]
    #[case::http_on_the_sandbox("http://127.0.0.1:8080/", true, Level::Amber, "rehearsal")]
    #[case::loopback("https://localhost/", false, Level::Red, "this machine only")]
    #[case::https("https://post.example.com/", false, Level::Green, "is https")]
    fn the_public_base_url_must_be_public_https(
        #[case] base: &str,
        #[case] builtin_sandbox: bool,
        #[case] level: Level,
        #[case] says: &str,
    ) {
        let mut facts = ready();
        facts.public_base_url = url(base);
        facts.audit.builtin_sandbox = builtin_sandbox;
        let (seen, detail) = level_of(&facts, "public_base_url");
        assert_eq!(seen, level, "{detail}");
        assert!(detail.contains(says), "{detail}");
    }

    #[rstest]
    #[case::derived("https://post.example.com/v1/oauth/tiktok/callback", Level::Green)]
    #[case::elsewhere("https://auth.example.com/tiktok", Level::Amber)]
    #[case::http("http://post.example.com/v1/oauth/tiktok/callback", Level::Red)]
    #[case::not_a_url("callback", Level::Red)]
    fn the_redirect_uri_must_be_https_and_reach_tokpost(#[case] uri: &str, #[case] level: Level) {
        let mut facts = ready();
        facts.redirect_uri = uri.to_owned();
        let (seen, detail) = level_of(&facts, "redirect_uri");
        assert_eq!(seen, level, "{detail}");
    }

    #[rstest]
    #[case::covered(&["https://media.example.com/"], Some("https://media.example.com/tokpost/"), false, Level::Green)]
    #[case::uncovered(&["https://cdn.example.org/"], Some("https://media.example.com/tokpost/"), false, Level::Red)]
    #[case::none_configured(&[], Some("https://media.example.com/tokpost/"), false, Level::Red)]
    #[case::no_pulls_no_prefix(&[], None, false, Level::Amber)]
    #[case::no_pulls_prefixes_for_urls(&["https://cdn.example.org/"], None, false, Level::Green)]
    #[case::sandbox_loopback(&["http://127.0.0.1:8080/media/pull/"], Some("http://127.0.0.1:8080/media/pull/"), true, Level::Amber)]
    fn verified_prefixes_must_cover_the_pull_base_when_uploads_are_pulled(
        #[case] prefixes: &[&str],
        #[case] pull_base: Option<&str>,
        #[case] builtin_sandbox: bool,
        #[case] level: Level,
    ) {
        let mut facts = ready();
        facts.verified_url_prefixes = prefixes.iter().map(|p| (*p).to_owned()).collect();
        facts.pull_base = pull_base.map(url);
        facts.audit.builtin_sandbox = builtin_sandbox;
        let (seen, detail) = level_of(&facts, "verified_url_prefixes");
        assert_eq!(seen, level, "{detail}");
    }

    #[rstest]
    #[case::private_connected(vec![account("ada", true, Some(false)), account("bo", true, Some(true))], false, Level::Green, "BO (@bo)")]
    #[case::private_disconnected(vec![account("bo", false, Some(true))], false, Level::Red, "no connected account")]
    #[case::none(vec![], false, Level::Red, "no connected account")]
    #[case::public_unaudited(vec![account("ada", true, Some(false))], false, Level::Red, "unaudited_client_can_only_post_to_private_accounts")]
    #[case::public_audited(vec![account("ada", true, Some(false))], true, Level::Amber, "public: ADA (@ada)")]
    #[case::never_asked(vec![account("cy", true, None)], false, Level::Red, "not asked yet")]
    fn a_private_test_account_must_be_connected(
        #[case] accounts: Vec<AccountFacts>,
        #[case] audited: bool,
        #[case] level: Level,
        #[case] says: &str,
    ) {
        let mut facts = ready();
        facts.accounts = accounts;
        facts.audit.audited = audited;
        let (seen, detail) = level_of(&facts, "private_account");
        assert_eq!(seen, level, "{detail}");
        assert!(detail.contains(says), "{detail}");
    }

    #[rstest]
    #[case::builtin_sandbox(true, "http://127.0.0.1:1/", Level::Amber, "built-in sandbox")]
    #[case::tiktok(false, "https://open.tiktokapis.com/", Level::Green, "aw123")]
    #[case::compatible(false, "http://127.0.0.1:9/", Level::Amber, "not TikTok's API")]
    fn the_app_must_be_a_tiktok_app_to_record_the_demo(
        #[case] builtin_sandbox: bool,
        #[case] api: &str,
        #[case] level: Level,
        #[case] says: &str,
    ) {
        let mut facts = ready();
        facts.audit.builtin_sandbox = builtin_sandbox;
        facts.api_base_url = url(api);
        let (seen, detail) = level_of(&facts, "tiktok_app");
        assert_eq!(seen, level, "{detail}");
        assert!(detail.contains(says), "{detail}");
    }

    #[rstest]
    #[case(true, true, Level::Green, "the built-in sandbox's app is audited")]
    #[case(true, false, Level::Amber, "the built-in sandbox's app is not audited")]
    #[case(false, true, Level::Green, "the app is audited")]
    #[case(false, false, Level::Amber, "the app is not audited")]
    fn the_audit_line_says_whose_app_it_describes(
        #[case] builtin_sandbox: bool,
        #[case] audited: bool,
        #[case] level: Level,
        #[case] says: &str,
    ) {
        let mut facts = ready();
        facts.audit = AppAudit {
            audited,
            builtin_sandbox,
        };
        let (seen, detail) = level_of(&facts, "audit");
        assert_eq!(seen, level, "{detail}");
        assert!(detail.starts_with(says), "{detail}");
    }
}
