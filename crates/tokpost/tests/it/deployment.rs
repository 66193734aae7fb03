//! The deployment files name things that exist: the binary the container builds is the one the
//! unit and the entrypoint start, the subcommands they run exist, every `TOKPOST_…` variable
//! they set is a configuration key that takes effect, and the health check's path is served.
//! (No Docker or systemd here: these are the mistakes that can be caught without them.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const INSTALLED_BINARY: &str = "/usr/local/bin/tokpost";

fn repository_file(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A systemd unit's `[section] key=value` lines (comments and blanks skipped; repeated keys
/// kept in order).
fn unit_entries(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut section = String::new();
    let mut entries: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a unit line: {line}"));
        entries
            .entry(format!("{section}.{key}"))
            .or_default()
            .push(value.to_owned());
    }
    entries
}

/// `tokpost config print` with `vars` set: the merged configuration, or the refusal.
fn config_print(vars: &[(String, String)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokpost"));
    command
        .args(["config", "print"])
        .current_dir(dir.path())
        .env("TOKPOST_LOG", "warn");
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn the_unit_starts_the_installed_binary_with_existing_subcommands_and_hardening() {
    let unit = unit_entries(&repository_file("deploy/tokpost.service"));
    let exec = &unit["Service.ExecStart"][0];
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some(INSTALLED_BINARY));
    let args: Vec<&str> = words.collect();
    assert_eq!(args.first(), Some(&"serve"));
    // The same arguments, with the configuration file replaced by one that exists here.
    let config = tempfile::NamedTempFile::new().unwrap();
    let local_args: Vec<&str> = args
        .iter()
        .map(|a| {
            if a.starts_with("/etc/tokpost/") {
                config.path().to_str().unwrap()
            } else {
                a
            }
        })
        .collect();
    let help = Command::new(env!("CARGO_BIN_EXE_tokpost"))
        .args(&local_args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        help.status.success(),
        "`tokpost {args:?}` is not a command line tokpost takes"
    );
    assert!(unit["Service.EnvironmentFile"][0].starts_with("/etc/tokpost/"));
    for (key, value) in [
        ("Service.User", "tokpost"),
        ("Service.NoNewPrivileges", "yes"),
        ("Service.ProtectSystem", "strict"),
        ("Service.StateDirectory", "tokpost"),
        ("Install.WantedBy", "multi-user.target"),
    ] {
        assert_eq!(unit[key], vec![value.to_owned()], "{key}");
    }
    let data_dir = unit["Service.Environment"]
        .iter()
        .find_map(|e| e.strip_prefix("TOKPOST_DATA_DIR="))
        .expect("the unit names the data directory");
    assert_eq!(
        data_dir,
        format!("/var/lib/{}", unit["Service.StateDirectory"][0])
    );
}

#[test]
fn the_container_builds_and_starts_the_binary_the_crate_ships() {
    let dockerfile = repository_file("Dockerfile");
    let built = Path::new(env!("CARGO_BIN_EXE_tokpost"))
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(dockerfile.contains(&format!("cargo build --release --locked --bin {built}")));
    assert!(dockerfile.contains(&format!("target/release/{built} /out/{built}")));
    assert!(dockerfile.contains(&format!(
        "COPY --from=build /out/{built} {INSTALLED_BINARY}"
    )));
    assert!(dockerfile.contains(&format!("\"{INSTALLED_BINARY}\"]")));
    assert!(dockerfile.contains("CMD [\"serve\"]"));
    assert!(
        dockerfile.contains("USER tokpost"),
        "runs as a non-root user"
    );
    assert!(dockerfile.contains("VOLUME [\"/var/lib/tokpost\"]"));
    // The health check asks a route the API serves without a key.
    let health = dockerfile
        .lines()
        .find(|line| line.contains("http://127.0.0.1:8080/"))
        .expect("a health check");
    assert!(health.contains("/healthz"), "{health}");
    let routes = repository_file("crates/api/src/routes/mod.rs");
    assert!(routes.contains(".route(\"/healthz\""));
}

#[test]
fn every_variable_the_deployment_files_set_is_a_configuration_key_that_takes_effect() {
    let mut vars = Vec::new();
    for text in [
        repository_file("Dockerfile"),
        repository_file("deploy/tokpost.service"),
    ] {
        for word in text.split(|c: char| c.is_whitespace() || c == '\\') {
            let word = word.trim_start_matches("Environment=");
            if let Some((name, value)) = word.split_once('=')
                && name.starts_with("TOKPOST_")
                && name != "TOKPOST_LOG"
            {
                vars.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    assert!(vars.len() >= 2, "{vars:?}");
    let (ok, printed) = config_print(&vars);
    assert!(ok, "{printed}");
    assert!(
        printed.contains("data_dir = \"/var/lib/tokpost\""),
        "{printed}"
    );
    assert!(printed.contains("listen = \"0.0.0.0:8080\""), "{printed}");
}
