use super::*;

/// Loads with `vars` set and `file` written, inside a figment jail: a private working
/// directory and environment, so tests cannot see each other's variables.
fn load_in_jail(
    file: Option<&str>,
    vars: &[(&str, &str)],
    flags: Vec<(&'static str, String)>,
) -> Result<Config, ConfigError> {
    let mut loaded = None;
    #[allow(clippy::result_large_err)] // figment's own signature
    figment::Jail::expect_with(|jail| {
        for (name, value) in vars {
            jail.set_env(name, value);
        }
        let file = match file {
            Some(text) => {
                jail.create_file("custom.toml", text)?;
                Some(PathBuf::from("custom.toml"))
            }
            None => None,
        };
        loaded = Some(Config::load(&Sources { file, flags }));
        Ok(())
    });
    loaded.expect("the jail ran")
}

fn load_with(file: Option<&str>, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    load_in_jail(file, vars, Vec::new())
}

#[test]
fn defaults_run_on_sqlite_in_the_data_dir_against_the_sandbox() {
    let config = load_with(None, &[]).expect("defaults load");
    assert!(config.uses_sandbox());
    assert_eq!(
        config.database_url(),
        "sqlite://.tokpost/tokpost.db?mode=rwc"
    );
    assert_eq!(
        config.redirect_uri().expect("derived"),
        "http://127.0.0.1:8080/v1/oauth/tiktok/callback"
    );
    assert_eq!(config.publishing.late_grace_secs, 3600);
    assert_eq!(config.tiktok.daily_post_cap, 15);
    assert!(!config.tiktok.audited);
}

#[test]
fn environment_overrides_the_file_and_nested_keys_use_double_underscores() {
    let config = load_with(
        Some("[tiktok]\ndaily_post_cap = 12\naudited = true\n"),
        &[
            ("TOKPOST_TIKTOK__DAILY_POST_CAP", "9"),
            ("TOKPOST_PUBLISHING__LATE_GRACE_SECS", "60"),
            ("TOKPOST_LOG", "debug"),
        ],
    )
    .expect("loads");
    assert_eq!(config.tiktok.daily_post_cap, 9, "env beats file");
    assert!(config.tiktok.audited, "file beats defaults");
    assert_eq!(config.publishing.late_grace_secs, 60);
}

#[test]
fn the_in_process_sandbox_app_decides_the_audit_whatever_tiktok_audited_says() {
    let unaudited = load_with(None, &[]).unwrap();
    let audited = load_with(Some("[tiktok]\naudited = true\n"), &[]).unwrap();
    let sandbox = tiktok_sandbox::SandboxConfig::default();
    assert!(
        sandbox.apps[0].audited,
        "the built-in sandbox's app is audited"
    );
    let mut unaudited_sandbox = tiktok_sandbox::SandboxConfig::default();
    unaudited_sandbox.apps[0].audited = false;
    let no_apps = tiktok_sandbox::SandboxConfig {
        apps: Vec::new(),
        ..tiktok_sandbox::SandboxConfig::default()
    };
    for (config, in_process, expected) in [
        (&unaudited, Some(&sandbox), true),
        (&audited, Some(&unaudited_sandbox), false),
        (&audited, Some(&no_apps), false),
        (&unaudited, None, false),
        (&audited, None, true),
    ] {
        let decided = config.app_audited(in_process);
        assert_eq!(decided, expected, "{:?}", in_process.map(|s| &s.apps));
        let policy = config.publish_policy_for(decided);
        assert_eq!(policy.audited, expected);
        assert_eq!(
            policy.active_creator_cap,
            (!expected).then_some(5),
            "an unaudited app serves at most 5 creators a day"
        );
    }
    assert_eq!(
        unaudited.publish_policy(),
        unaudited.publish_policy_for(false)
    );
    assert_eq!(audited.publish_policy(), audited.publish_policy_for(true));
}

#[test]
fn status_checks_are_configurable_and_the_maximum_cannot_undercut_the_first() {
    let policy = load_with(
        None,
        &[
            ("TOKPOST_PUBLISHING__STATUS_CHECK_FIRST_SECS", "2"),
            ("TOKPOST_PUBLISHING__STATUS_CHECK_MAX_SECS", "10"),
        ],
    )
    .unwrap()
    .publish_policy();
    assert_eq!(
        policy.status_polling.first,
        std::time::Duration::from_secs(2)
    );
    assert_eq!(
        policy.status_polling.max,
        std::time::Duration::from_secs(10)
    );
    let error = load_with(None, &[("TOKPOST_PUBLISHING__STATUS_CHECK_MAX_SECS", "1")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("publishing.status_check_max_secs") && error.contains("measured 1 s"),
        "{error}"
    );
}

#[test]
fn posts_are_prepared_five_minutes_ahead_unless_configured_and_never_over_an_hour() {
    let default = load_with(None, &[]).unwrap().publish_policy();
    assert_eq!(default.prepare_ahead, std::time::Duration::from_secs(300));
    let off = load_with(None, &[("TOKPOST_PUBLISHING__PREPARE_AHEAD_SECS", "0")])
        .unwrap()
        .publish_policy();
    assert!(off.prepare_ahead.is_zero());
    let error = load_with(None, &[("TOKPOST_PUBLISHING__PREPARE_AHEAD_SECS", "7200")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("publishing.prepare_ahead_secs")
            && error.contains("at most 3600 s")
            && error.contains("measured 7200 s"),
        "{error}"
    );
}

#[test]
fn insights_keep_two_years_by_the_token_limit_unless_configured_and_never_under_90_days() {
    let default = load_with(None, &[]).unwrap();
    let pipeline = default.pipeline_config(default.publish_policy()).unwrap();
    assert_eq!(
        pipeline.retention.stats,
        std::time::Duration::from_secs(730 * 86_400)
    );
    assert!(!pipeline.insights.limit_per_app);
    let configured = load_with(
        Some("[insights]\nretention_days = 400\nrate_limit = \"app\"\n"),
        &[],
    )
    .unwrap();
    let pipeline = configured
        .pipeline_config(configured.publish_policy())
        .unwrap();
    assert_eq!(
        pipeline.retention.stats,
        std::time::Duration::from_secs(400 * 86_400)
    );
    assert!(pipeline.insights.limit_per_app);
    let error = load_with(None, &[("TOKPOST_INSIGHTS__RETENTION_DAYS", "30")])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("insights.retention_days")
            && error.contains("30 days")
            && error.contains("at least 90"),
        "{error}"
    );
    let error = load_with(None, &[("TOKPOST_INSIGHTS__RATE_LIMIT", "workspace")])
        .unwrap_err()
        .to_string()
        .to_lowercase();
    assert!(
        error.contains("insights.rate_limit") && error.contains("workspace"),
        "{error}"
    );
}

#[test]
fn fixes_use_ffmpeg_on_path_one_at_a_time_for_half_an_hour_unless_configured() {
    let default = load_with(None, &[]).unwrap();
    let fix = default
        .pipeline_config(default.publish_policy())
        .unwrap()
        .fix;
    assert_eq!(fix.ffmpeg, None, "ffmpeg on PATH");
    assert_eq!(fix.timeout, std::time::Duration::from_secs(1_800));
    assert_eq!(fix.max_running, 1);
    assert_eq!(fix.max_output_bytes, default.http.max_upload_bytes);
    assert_eq!(fix.work_dir, Some(default.data_dir.join("fix")));
    let configured = load_with(
        Some("[fix]\nffmpeg = \"/opt/ffmpeg/bin/ffmpeg\"\ntimeout_secs = 600\n"),
        &[("TOKPOST_FIX__MAX_RUNNING", "2")],
    )
    .unwrap();
    let fix = configured
        .pipeline_config(configured.publish_policy())
        .unwrap()
        .fix;
    assert_eq!(
        fix.ffmpeg,
        Some(std::path::PathBuf::from("/opt/ffmpeg/bin/ffmpeg"))
    );
    assert_eq!(fix.timeout, std::time::Duration::from_secs(600));
    assert_eq!(fix.max_running, 2);
    for (var, field) in [
        ("TOKPOST_FIX__TIMEOUT_SECS", "fix.timeout_secs"),
        ("TOKPOST_FIX__MAX_RUNNING", "fix.max_running"),
    ] {
        let error = load_with(None, &[(var, "0")]).unwrap_err().to_string();
        assert!(error.contains(field), "{error}");
    }
}

#[test]
fn flags_override_everything() {
    let config = load_in_jail(
        None,
        &[("TOKPOST_DATA_DIR", "/from/env")],
        vec![("data_dir", "/from/flag".to_owned())],
    )
    .expect("loads");
    assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
}

#[test]
fn an_unknown_key_in_the_file_is_named_in_the_error() {
    let error = load_with(Some("[tiktok]\nclient_kee = \"x\"\n"), &[]).expect_err("typo refused");
    assert!(error.to_string().contains("client_kee"), "{error}");
}

#[test]
fn a_wrongly_typed_value_names_its_key() {
    let error =
        load_with(None, &[("TOKPOST_TIKTOK__DAILY_POST_CAP", "many")]).expect_err("refused");
    let message = error.to_string().to_lowercase();
    assert!(message.contains("tiktok.daily_post_cap"), "{error}");
    assert!(message.contains("environment"), "names the layer: {error}");
    assert!(message.contains("\"many\""), "names the value: {error}");
}

#[test]
fn a_client_key_without_a_secret_is_refused_naming_the_missing_one() {
    let error = load_with(None, &[("TOKPOST_TIKTOK__CLIENT_KEY", "aw123")]).expect_err("refused");
    assert!(
        error.to_string().contains("tiktok.client_secret"),
        "{error}"
    );
}

#[test]
fn pull_prefixes_must_be_https() {
    let error = load_with(
        Some("[tiktok]\nverified_url_prefixes = [\"http://media.example.com/v/\"]\n"),
        &[],
    )
    .expect_err("refused");
    assert!(error.to_string().contains("must be https"), "{error}");
}

#[test]
fn a_named_file_that_does_not_exist_is_an_error_not_a_silent_default() {
    let error = Config::load(&Sources {
        file: Some(PathBuf::from("/nonexistent/tokpost.toml")),
        flags: Vec::new(),
    })
    .expect_err("refused");
    assert!(matches!(error, ConfigError::MissingFile(_)));
}

#[test]
fn the_smtp_url_is_a_secret_and_a_bad_one_is_refused_at_load() {
    let config = load_with(
        None,
        &[
            (
                "TOKPOST_EMAIL__SMTP_URL",
                "smtps://tokpost:hunter2-mail@smtp.example.com:465",
            ),
            ("TOKPOST_EMAIL__FROM", "tokpost <tokpost@example.com>"),
        ],
    )
    .expect("loads");
    let printed = config.to_redacted_toml().expect("renders");
    let debug = format!("{config:?}");
    assert!(!printed.contains("hunter2-mail"), "{printed}");
    assert!(!debug.contains("hunter2-mail"), "{debug}");
    assert!(printed.contains("smtp_url = \"<redacted>\""), "{printed}");
    assert!(config.email.mailer().expect("usable").is_some());
    assert!(
        load_with(None, &[])
            .expect("loads")
            .email
            .mailer()
            .unwrap()
            .is_none()
    );
    let error = load_with(
        None,
        &[
            ("TOKPOST_EMAIL__SMTP_URL", "smtp://127.0.0.1:2525"),
            ("TOKPOST_EMAIL__FROM", "not an address"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("email.from is not an email address"),
        "{error}"
    );
}

#[test]
fn the_sign_in_provider_is_read_from_the_environment_its_secret_redacted_and_checked_whole() {
    let config = load_with(
        None,
        &[
            (
                "TOKPOST_OIDC__ISSUER",
                "https://login.example.com/realms/acme",
            ),
            ("TOKPOST_OIDC__CLIENT_ID", "tokpost"),
            ("TOKPOST_OIDC__CLIENT_SECRET", "hunter2-oidc"),
            ("TOKPOST_OIDC__LABEL", "Sign in with Acme"),
            ("TOKPOST_WEBHOOKS__DIGEST_TIME_ZONE", "Europe/Berlin"),
        ],
    )
    .expect("loads");
    let printed = config.to_redacted_toml().expect("renders");
    assert!(!printed.contains("hunter2-oidc"), "{printed}");
    assert!(!format!("{config:?}").contains("hunter2-oidc"));
    let provider = config
        .oidc
        .provider(&config.public_base_url().unwrap())
        .expect("usable")
        .expect("configured");
    assert_eq!(provider.label(), "Sign in with Acme");
    assert_eq!(
        provider.redirect_uri(),
        "http://127.0.0.1:8080/sign-in/oidc/callback"
    );
    assert!(!format!("{provider:?}").contains("hunter2-oidc"));
    assert_eq!(config.webhooks.digest().unwrap().hour, 8);
    let half = load_with(
        None,
        &[("TOKPOST_OIDC__ISSUER", "https://login.example.com")],
    )
    .unwrap_err()
    .to_string();
    assert!(half.contains("oidc.client_secret"), "{half}");
    let zone = load_with(
        None,
        &[("TOKPOST_WEBHOOKS__DIGEST_TIME_ZONE", "Mars/Olympus")],
    )
    .unwrap_err()
    .to_string();
    assert!(zone.contains("webhooks.digest_time_zone"), "{zone}");
    let hour = load_with(None, &[("TOKPOST_WEBHOOKS__DIGEST_HOUR", "24")])
        .unwrap_err()
        .to_string();
    assert!(hour.contains("from 0 to 23 (measured 24)"), "{hour}");
}

#[test]
fn secrets_never_show_in_debug_or_in_the_printed_configuration() {
    let config = load_with(
        None,
        &[
            ("TOKPOST_TIKTOK__CLIENT_KEY", "aw-client-key"),
            ("TOKPOST_TIKTOK__CLIENT_SECRET", "s3cr3t-client-secret"),
            ("TOKPOST_TOKEN_KEY", "c2VjcmV0LXRva2VuLWtleQ=="),
        ],
    )
    .expect("loads");
    let printed = config.to_redacted_toml().expect("renders");
    let debug = format!("{config:?}");
    for secret in ["s3cr3t-client-secret", "c2VjcmV0LXRva2VuLWtleQ=="] {
        assert!(!printed.contains(secret), "{printed}");
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(
        printed.contains("client_secret = \"<redacted>\""),
        "{printed}"
    );
    assert!(
        printed.contains("client_key = \"aw-client-key\""),
        "{printed}"
    );
    assert_eq!(
        config
            .tiktok
            .client_secret
            .get()
            .map(|s| s.expose_secret().to_owned()),
        Some("s3cr3t-client-secret".to_owned())
    );
}

#[test]
fn the_printed_configuration_loads_back_to_the_same_values() {
    let config =
        load_with(Some("[tiktok]\naudited = true\ndaily_post_cap = 7\n"), &[]).expect("loads");
    let printed = config.to_redacted_toml().expect("renders");
    let reloaded = load_with(Some(&printed), &[]).expect("printed config loads");
    assert_eq!(reloaded.to_redacted_toml().expect("renders"), printed);
}

#[test]
fn the_s3_backend_names_the_first_missing_setting() {
    let error = load_with(
        None,
        &[
            ("TOKPOST_MEDIA__BACKEND", "s3"),
            (
                "TOKPOST_MEDIA__S3__ENDPOINT",
                "https://s3.eu-central-1.amazonaws.com",
            ),
            ("TOKPOST_MEDIA__S3__BUCKET", "tokpost-media"),
            ("TOKPOST_MEDIA__S3__REGION", "eu-central-1"),
            ("TOKPOST_MEDIA__S3__ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ],
    )
    .expect_err("no secret");
    assert!(
        error.to_string().contains("media.s3.secret_access_key"),
        "{error}"
    );
}

#[test]
fn an_s3_secret_from_the_environment_is_used_and_never_printed() {
    let config = load_with(
        None,
        &[
            ("TOKPOST_MEDIA__BACKEND", "s3"),
            (
                "TOKPOST_MEDIA__S3__ENDPOINT",
                "https://s3.eu-central-1.amazonaws.com",
            ),
            ("TOKPOST_MEDIA__S3__BUCKET", "tokpost-media"),
            ("TOKPOST_MEDIA__S3__REGION", "eu-central-1"),
            ("TOKPOST_MEDIA__S3__PREFIX", "prod/media"),
            ("TOKPOST_MEDIA__S3__ACCESS_KEY_ID", "AKIAEXAMPLE"),
            (
                "TOKPOST_MEDIA__S3__SECRET_ACCESS_KEY",
                "s3-secret-from-env-0123",
            ),
            ("TOKPOST_WORKERS__COUNT", "7"),
        ],
    )
    .expect("loads");
    assert_eq!(config.workers.count, 7, "workers__ variables are read");
    let tokpost_media_store::MediaStoreConfig::S3(s3) = config.media_store_config() else {
        panic!("the s3 backend was configured");
    };
    assert_eq!(s3.prefix, "prod/media");
    assert_eq!(
        s3.secret_access_key.expose_secret(),
        "s3-secret-from-env-0123"
    );
    let printed = config.to_redacted_toml().expect("renders");
    assert!(!printed.contains("s3-secret-from-env-0123"), "{printed}");
    assert!(!format!("{config:?}").contains("s3-secret-from-env-0123"));
}

#[rstest::rstest]
#[case::not_https("http://media.example.com/tokpost/", "https")]
#[case::outside_the_verified_prefix("https://other.example.com/tokpost/", "verified_url_prefixes")]
#[case::no_trailing_slash("https://media.example.com/tokpost", "end with '/'")]
fn the_pull_base_must_be_a_verified_https_prefix(#[case] base: &str, #[case] why: &str) {
    let error = load_with(
        Some(&format!(
            "[tiktok]\nclient_key = \"aw1\"\nclient_secret = \"s\"\nverified_url_prefixes = [\"https://media.example.com/\"]\n[media]\npull_base_url = \"{base}\"\n"
        )),
        &[],
    )
    .expect_err("refused");
    let message = error.to_string();
    assert!(message.contains("media.pull_base_url"), "{message}");
    assert!(message.contains(why), "{message}");
}

#[test]
fn a_pull_base_under_a_verified_prefix_is_accepted() {
    let config = load_with(
        Some("[tiktok]\nclient_key = \"aw1\"\nclient_secret = \"s\"\nverified_url_prefixes = [\"https://media.example.com/\"]\n[media]\npull_base_url = \"https://media.example.com/tokpost/\"\n"),
        &[],
    )
    .expect("loads");
    assert_eq!(
        config.pull_base_url().unwrap().unwrap().as_url().as_str(),
        "https://media.example.com/tokpost/"
    );
}

#[test]
fn the_generated_signing_key_is_private_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    let first = config.media_signing_key().unwrap();
    let second = config.media_signing_key().unwrap();
    assert_eq!(first.expose_secret(), second.expose_secret());
    assert!(first.expose_secret().len() >= 32);
    let path = dir.path().join(MEDIA_SIGNING_KEY_FILE);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    assert!(
        config.media_signing_key().is_err(),
        "a readable key is refused"
    );
}

/// Every key of the configuration appears in `tokpost.example.toml` with its environment
/// variable, so the example cannot fall behind the code.
#[test]
fn the_example_file_lists_every_key_with_its_variable() {
    let example = include_str!("../../../../tokpost.example.toml");
    let printed = Config::default().to_redacted_toml().expect("renders");
    let mut section = String::new();
    for line in printed.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            assert!(
                example.contains(line),
                "section {line} missing from the example"
            );
            continue;
        }
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        let dotted = if section.is_empty() {
            key.to_owned()
        } else {
            format!("{section}.{key}")
        };
        let variable = format!("{ENV_PREFIX}{}", dotted.replace('.', "__").to_uppercase());
        assert!(
            example.contains(&format!("{key} = ")) && example.contains(&variable),
            "{dotted} (variable {variable}) missing from tokpost.example.toml"
        );
    }
    let from_example = load_with(Some(example), &[]).expect("the example loads as is");
    assert_eq!(
        from_example.to_redacted_toml().expect("renders"),
        printed,
        "the example's values are the defaults"
    );
}
