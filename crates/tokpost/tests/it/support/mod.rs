//! A fleet of real `tokpost` processes around one store and one in-test sandbox: seeds accounts
//! and posts straight into the store, starts `tokpost worker` (and `tokpost serve`) processes
//! with the configuration a deployment would use, kills them with SIGKILL, and reads the
//! sandbox's truth at the end.

#![allow(dead_code)] // each test binary uses its own part of the fleet

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use clock::{SharedClock, SystemClock, Timestamp};
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tiktok::{AuthorizationCallback, AuthorizeRequest, Scope, TikTokClient, TikTokConfig};
use tiktok_sandbox::{AppConfig, CreatorConfig, Sandbox, SandboxConfig, SandboxHandle};
use tokio::net::TcpListener;
use tokpost_core::{
    AccountId, EventKind, OpenId, PostId, PostMode, ScheduleTime, StateKind, WorkspaceId,
};
use tokpost_pipeline::token_keeper::tokens_from_grant;
use tokpost_store::{MediaKind, NewAccount, NewMediaAsset, NewPost, Store, TokenCipher};

pub(crate) const REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";

/// Which database the fleet shares.
pub(crate) enum Database {
    Sqlite,
    Postgres(tokpost_testkit::postgres::PostgresServer),
}

/// The sandbox, the store and the environment every process of the fleet gets.
pub(crate) struct Fleet {
    pub(crate) clock: SharedClock,
    pub(crate) sandbox: SandboxHandle,
    pub(crate) app: AppConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) database_url: String,
    pub(crate) token_key: String,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) workspace: WorkspaceId,
    /// More environment for every process started from now on (overrides `env`'s).
    pub(crate) extra_env: Vec<(String, String)>,
    _database: Database,
}

impl Fleet {
    /// A sandbox with `creators` creators named `fleet.{n}` and a fresh store on `database`.
    pub(crate) async fn start(creators: usize, database: Database, sandbox: SandboxConfig) -> Self {
        let clock = SystemClock::shared();
        let sandbox_config = SandboxConfig {
            creators: (0..creators)
                .map(|n| CreatorConfig {
                    open_id: format!("-000Fleet{n:07}_OpenId_0000000000"),
                    username: format!("fleet.{n}"),
                    nickname: format!("Fleet {n}"),
                    ..CreatorConfig::default()
                })
                .collect(),
            ..sandbox
        };
        let app = sandbox_config.apps[0].clone();
        let sandbox = Sandbox::start(
            sandbox_config,
            Arc::clone(&clock),
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            None,
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let database_url = match &database {
            Database::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("tokpost.db").display()
            ),
            Database::Postgres(server) => server.fresh_database().await.unwrap(),
        };
        let token_key = TokenCipher::generate_key()
            .unwrap()
            .expose_secret()
            .to_owned();
        let store = tokpost_store::open(
            &database_url,
            TokenCipher::from_base64(&SecretString::from(token_key.clone())).unwrap(),
        )
        .await
        .unwrap();
        let workspace = store
            .create_workspace("fleet", clock.now())
            .await
            .unwrap()
            .id;
        Self {
            clock,
            sandbox,
            app,
            store,
            database_url,
            token_key,
            dir,
            workspace,
            extra_env: Vec::new(),
            _database: database,
        }
    }

    fn client(&self) -> TikTokClient {
        TikTokClient::new(
            TikTokConfig::production(
                self.app.client_key.clone(),
                SecretString::from(self.app.client_secret.expose().to_owned()),
                REDIRECT_URI,
            )
            .unwrap()
            .with_base_urls(
                self.sandbox.api_base_url(),
                self.sandbox.authorize_base_url(),
            ),
            Arc::clone(&self.clock),
        )
        .unwrap()
    }

    /// Connects every sandbox creator through the real OAuth flow, tokens stored encrypted.
    pub(crate) async fn connect_all(&self) -> Vec<AccountId> {
        let client = self.client();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let creators = self.sandbox.creators();
        futures_util::stream::iter(creators)
            .map(|creator| {
                let (client, http, store) = (client.clone(), http.clone(), Arc::clone(&self.store));
                let (clock, workspace) = (Arc::clone(&self.clock), self.workspace);
                async move {
                    let mut url = client
                        .authorize_url(&AuthorizeRequest {
                            scopes: &[Scope::UserInfoBasic, Scope::VideoPublish],
                            state: "fleet",
                            disable_auto_auth: None,
                            pkce: None,
                        })
                        .unwrap();
                    url.query_pairs_mut()
                        .append_pair("sandbox_creator", &creator.username);
                    let answer = http.get(url).send().await.unwrap();
                    let location =
                        url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
                    let callback =
                        AuthorizationCallback::from_query(location.query().unwrap()).unwrap();
                    let grant = client.exchange_code(&callback.code, None).await.unwrap();
                    let now = clock.now();
                    store
                        .connect_account(
                            NewAccount {
                                workspace_id: workspace,
                                open_id: OpenId::new(grant.open_id.as_str()).unwrap(),
                                display_name: creator.username.clone(),
                                avatar_url: None,
                                scopes: grant
                                    .scopes
                                    .iter()
                                    .map(|s| tokpost_core::Scope::new(s.as_str()).unwrap())
                                    .collect::<BTreeSet<_>>(),
                                tokens: tokens_from_grant(&grant, now),
                            },
                            now,
                        )
                        .await
                        .unwrap()
                        .id
                }
            })
            .buffer_unordered(16)
            .collect()
            .await
    }

    /// Schedules one FILE_UPLOAD video post per entry of `accounts` at `due`, captioned
    /// `{tag} {n}` so that the sandbox's records can be matched back to posts.
    pub(crate) async fn schedule_videos(
        &self,
        accounts: &[AccountId],
        due: Timestamp,
        tag: &str,
    ) -> BTreeMap<String, PostId> {
        let video = self.dir.path().join("clip.mp4");
        std::fs::copy(fixture("ok_720x1280_30fps_4s.mp4"), &video).unwrap();
        let media = self
            .store
            .add_media(
                NewMediaAsset {
                    workspace_id: self.workspace,
                    kind: MediaKind::Video,
                    content_hash: media::hash_file(&video).unwrap().to_hex(),
                    size_bytes: std::fs::metadata(&video).unwrap().len(),
                    location: video.display().to_string(),
                    probe: serde_json::json!({ "container": "mp4" }),
                },
                self.clock.now(),
            )
            .await
            .unwrap()
            .into_inner()
            .id;
        let mut posts = BTreeMap::new();
        for (n, account) in accounts.iter().enumerate() {
            let caption = format!("{tag} {n}");
            let post = self
                .store
                .create_post(
                    self.video_post(*account, media, due, &caption),
                    self.clock.now(),
                )
                .await
                .unwrap()
                .into_inner();
            posts.insert(caption, post.id);
        }
        posts
    }

    /// A private video post of `media` for `account` at `due`, written by tokpost itself.
    pub(crate) fn video_post(
        &self,
        account: AccountId,
        media: tokpost_core::MediaId,
        due: Timestamp,
        caption: &str,
    ) -> NewPost {
        NewPost {
            workspace_id: self.workspace,
            account_id: account,
            spec: tokpost_testkit::posts::video_spec(media, caption, PostMode::Direct),
            scheduled_at: ScheduleTime::new(due, self.clock.now()).unwrap(),
            idempotency_key: None,
            created_by: tokpost_core::Principal::Service,
        }
    }

    /// The environment of a `tokpost` process of this fleet: the shared database and token
    /// key, the sandbox's app as the TikTok app, short leases so that a killed worker's jobs
    /// come back within seconds.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        [
            ("TOKPOST_DATABASE_URL", self.database_url.clone()),
            ("TOKPOST_TOKEN_KEY", self.token_key.clone()),
            ("TOKPOST_TIKTOK__CLIENT_KEY", self.app.client_key.clone()),
            (
                "TOKPOST_TIKTOK__CLIENT_SECRET",
                self.app.client_secret.expose().to_owned(),
            ),
            (
                "TOKPOST_TIKTOK__API_BASE_URL",
                self.sandbox.api_base_url().to_string(),
            ),
            (
                "TOKPOST_TIKTOK__AUTHORIZE_BASE_URL",
                self.sandbox.authorize_base_url().to_string(),
            ),
            ("TOKPOST_TIKTOK__AUDITED", "true".to_owned()),
            ("TOKPOST_TIKTOK__REQUEST_TIMEOUT_SECS", "10".to_owned()),
            ("TOKPOST_WORKERS__LEASE_SECS", "3".to_owned()),
            ("TOKPOST_WORKERS__HEARTBEAT_SECS", "1".to_owned()),
            ("TOKPOST_WORKERS__RETRY_FIRST_BACKOFF_SECS", "1".to_owned()),
            ("TOKPOST_WORKERS__RETRY_MAX_BACKOFF_SECS", "4".to_owned()),
            // TikTok (the sandbox) takes a second; polls need not thin out to minutes.
            (
                "TOKPOST_PUBLISHING__STATUS_CHECK_FIRST_SECS",
                "2".to_owned(),
            ),
            ("TOKPOST_PUBLISHING__STATUS_CHECK_MAX_SECS", "6".to_owned()),
            // One directory for every process: the API writes uploads, the workers read them.
            (
                "TOKPOST_MEDIA__DIR",
                self.dir.path().join("media").display().to_string(),
            ),
            (
                "TOKPOST_LOG",
                std::env::var("FLEET_LOG").unwrap_or_else(|_| "info".to_owned()),
            ),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .chain(self.extra_env.iter().cloned())
        .collect()
    }

    /// Starts `tokpost worker` number `n` (its output appended to `worker-{n}.log`).
    pub(crate) fn spawn_worker(&self, n: usize) -> Child {
        let log_path = self.log_path(&format!("worker-{n}"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let data_dir = self.dir.path().join(format!("worker-{n}"));
        Command::new(env!("CARGO_BIN_EXE_tokpost"))
            .arg("worker")
            .envs(self.env())
            .env("TOKPOST_DATA_DIR", &data_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// Starts `tokpost serve --no-workers` on a free loopback port; returns it and the API's
    /// base URL once it listens.
    pub(crate) fn spawn_api(&self) -> (Child, String) {
        self.spawn_serve(false)
    }

    /// Starts `tokpost serve` (with its workers when `workers`) on a free loopback port;
    /// returns it and the API's base URL once it listens.
    pub(crate) fn spawn_serve(&self, workers: bool) -> (Child, String) {
        let log = std::fs::File::create(self.log_path("api")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokpost"))
            .arg("serve")
            .args(if workers {
                &[][..]
            } else {
                &["--no-workers"][..]
            })
            .args(["--listen", "127.0.0.1:0"])
            .envs(self.env())
            .env("TOKPOST_DATA_DIR", self.dir.path().join("api"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let base = loop {
            let line = lines
                .next()
                .expect("tokpost serve ended before it listened")
                .unwrap();
            if let Some(rest) = line.strip_prefix("tokpost API on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        (child, base)
    }

    pub(crate) fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// The last lines of every process log, for a failure message.
    /// The rows `query` returns, through `psql` on the fleet's PostgreSQL (for a failing run's
    /// report: a failure to ask is reported in the text, never a panic).
    pub(crate) fn sql(&self, query: &str) -> String {
        if !self.database_url.starts_with("postgres") {
            return "    (only on PostgreSQL)\n".to_owned();
        }
        match Command::new("psql")
            .args(["-X", "-A", "-t", "-d", &self.database_url, "-c", query])
            .output()
        {
            Ok(output) => {
                let text = String::from_utf8_lossy(&output.stdout).into_owned()
                    + &String::from_utf8_lossy(&output.stderr);
                text.lines()
                    .map(|line| format!("    {line}\n"))
                    .collect::<String>()
            }
            Err(error) => format!("    (psql: {error})\n"),
        }
    }

    /// Every line of the processes' logs that names one of `names`.
    pub(crate) fn log_lines_naming(&self, names: &[String]) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return out;
        };
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            for line in text
                .lines()
                .filter(|line| names.iter().any(|wanted| line.contains(wanted.as_str())))
            {
                out.push_str(&format!("    {name}: {line}\n"));
            }
        }
        out
    }

    pub(crate) fn log_tails(&self) -> String {
        let mut out = String::new();
        let mut entries: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
            .collect();
        entries.sort();
        for path in entries {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines.len().saturating_sub(
                std::env::var("FLEET_LOG_LINES")
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(15),
            );
            out.push_str(&format!("--- {} ---\n", path.display()));
            for line in &lines[tail..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tiktok-sandbox/tests/fixtures")
        .join(name)
}

/// Resident memory of process `pid` from `/proc/{pid}/status` in KiB: `(now, peak)`
/// (`VmRSS`, `VmHWM`). `None` once the process is gone (or off Linux).
pub(crate) fn resident_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A small deterministic random source (xorshift), seeded per run and printed, so that a
/// failing schedule of kills can be replayed.
pub(crate) struct Chaos(u64);

impl Chaos {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

/// What the sandbox's truth says about a run's posts.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) published: usize,
    /// Posts tokpost gave up on (each checked to have no publish on TikTok).
    pub(crate) failed: usize,
    /// Inits whose answer was lost, so a second init followed; none of them received a byte.
    pub(crate) abandoned_inits: usize,
    /// Why posts failed: the last event of each (the first few).
    pub(crate) failures: Vec<String>,
}

/// Checks every post of `posts` (caption → id) against the sandbox: each is final; a published
/// post has exactly one publish on TikTok and it is the one tokpost stored; a failed one has
/// none; every other init TikTok saw for it never received a byte (its answer was lost, so
/// nobody knew its upload URL); tokpost recorded every init before sending it; and TikTok got
/// nothing nobody scheduled.
pub(crate) async fn verify_exactly_once(
    fleet: &Fleet,
    posts: &BTreeMap<String, PostId>,
) -> Outcome {
    let mut inits_by_caption: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for record in fleet.sandbox.published() {
        inits_by_caption
            .entry(record.title.clone().unwrap_or_default())
            .or_default()
            .push(record);
    }
    let strangers: Vec<_> = inits_by_caption
        .keys()
        .filter(|caption| !posts.contains_key(*caption))
        .collect();
    assert!(
        strangers.is_empty(),
        "TikTok got posts nobody scheduled: {strangers:?}"
    );
    let mut outcome = Outcome::default();
    for (caption, id) in posts {
        let post = fleet.store.post(*id).await.unwrap().unwrap();
        assert!(
            post.state.is_final(),
            "{caption:?} is not final: {:?}",
            post.state
        );
        let inits = inits_by_caption.get(caption).map_or(&[][..], Vec::as_slice);
        let (published, unused): (Vec<_>, Vec<_>) = inits
            .iter()
            .partition(|record| record.status == "PUBLISH_COMPLETE");
        if post.state.kind() == StateKind::Published {
            outcome.published += 1;
            assert_eq!(
                published.len(),
                1,
                "{caption:?} was published {} times on TikTok",
                published.len()
            );
            assert_eq!(
                post.progress.publish_id.as_ref().map(ToString::to_string),
                Some(published[0].publish_id.clone()),
                "{caption:?}: tokpost's publish id is not the one TikTok published"
            );
        } else {
            outcome.failed += 1;
            if outcome.failures.len() < 5 {
                let events = fleet.store.post_events(*id).await.unwrap();
                let last = events.last().map(|event| event.message.clone());
                outcome.failures.push(format!("{caption}: {last:?}"));
            }
            assert!(
                published.is_empty(),
                "{caption:?} is {:?} in tokpost but published on TikTok",
                post.state
            );
        }
        for record in &unused {
            // A publish that failed on TikTok's side (a fail_reason) may have received bytes;
            // one merely abandoned never did.
            if record.status != "FAILED" {
                assert_eq!(
                    record.transferred_bytes, 0,
                    "{caption:?}: an abandoned publish {} received bytes ({})",
                    record.publish_id, record.status
                );
            }
        }
        let recorded = fleet
            .store
            .post_events(*id)
            .await
            .unwrap()
            .iter()
            .filter(|event| event.kind == EventKind::InitRequested)
            .count();
        assert!(
            inits.len() <= recorded,
            "{caption:?}: TikTok saw {} inits, tokpost recorded only {recorded}",
            inits.len()
        );
        outcome.abandoned_inits += unused.len();
    }
    outcome
}

/// The event history of every post not yet final, for a failure message.
pub(crate) async fn unfinished_histories(
    fleet: &Fleet,
    posts: &BTreeMap<String, tokpost_core::PostId>,
) -> String {
    let mut out = String::new();
    for (caption, id) in posts {
        let post = fleet.store.post(*id).await.unwrap().unwrap();
        if post.state.is_final() {
            continue;
        }
        out.push_str(&format!("{caption:?} is {:?}:\n", post.state));
        for event in fleet.store.post_events(*id).await.unwrap() {
            out.push_str(&format!(
                "  {} {:?} -> {:?}: {}\n",
                event.at, event.kind, event.state, event.message
            ));
        }
        // What the queue holds for it, read behind the store's back (a stuck post's job may be
        // gone, leased by a live worker, or due much later), and every log line naming the
        // post or its jobs.
        let jobs = fleet.sql(&format!(
            "SELECT id, kind, run_at_ms, attempts, locked_by, locked_until_ms, last_error FROM jobs WHERE post_id = '{id}'"
        ));
        out.push_str(&format!("  jobs:\n{jobs}"));
        out.push_str(&format!(
            "  account leases:\n{}",
            fleet.sql(&format!(
                "SELECT l.job_id, l.locked_by, l.locked_until_ms FROM account_leases l WHERE l.account_id = '{}'",
                post.account_id
            ))
        ));
        let mut names = vec![id.to_string()];
        names.extend(
            jobs.lines()
                .filter_map(|line| line.split('|').next())
                .filter(|first| first.len() == 36)
                .map(str::to_owned),
        );
        out.push_str(&format!("  log lines:\n{}", fleet.log_lines_naming(&names)));
    }
    out
}

/// How to kill workers while they publish.
pub(crate) struct KillSchedule {
    /// Environment variable that replays a run's seed (printed at the start).
    pub(crate) seed_variable: &'static str,
    /// Each pause between looks (and kills) is `pause_min_ms` plus up to `pause_spread_ms`.
    pub(crate) pause_min_ms: u64,
    pub(crate) pause_spread_ms: u64,
    /// Kills stop after this many; the restarted workers then finish the work.
    pub(crate) max_kills: u32,
    /// A run still unfinished after this long fails with the posts' histories and the logs.
    pub(crate) give_up_after: std::time::Duration,
}

impl Fleet {
    /// Counts of posts by state, and how many of them are final.
    pub(crate) async fn final_posts(&self) -> (Vec<(tokpost_core::StateKind, u64)>, u64) {
        let (counts, _) = self.store.post_state_counts().await.unwrap();
        let finished = counts
            .iter()
            .filter(|(kind, _)| kind.is_final())
            .map(|(_, n)| n)
            .sum();
        (counts, finished)
    }

    /// Starts `processes` workers and SIGKILLs a random one after each pause (restarting it at
    /// once) until every post of `posts` is final; then stops every worker. `bystanders` (an
    /// API process) are killed too if the run gives up. Returns the number of kills.
    pub(crate) async fn publish_while_killing(
        &self,
        posts: &BTreeMap<String, PostId>,
        processes: usize,
        schedule: &KillSchedule,
        bystanders: &mut [Child],
    ) -> u32 {
        let seed = std::env::var(schedule.seed_variable)
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| self.clock.now().as_nanosecond().unsigned_abs() as u64);
        println!("kill schedule seed: {}={seed}", schedule.seed_variable);
        let mut chaos = Chaos::new(seed);
        let started = self.clock.now();
        let mut workers: Vec<Child> = (0..processes).map(|n| self.spawn_worker(n)).collect();
        let mut kills = 0;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(
                schedule.pause_min_ms + chaos.below(schedule.pause_spread_ms),
            ))
            .await;
            let (counts, finished) = self.final_posts().await;
            println!(
                "{:>5.1} s, {kills} kills: {counts:?}",
                self.clock.now().duration_since(started).as_secs_f64()
            );
            if finished >= posts.len() as u64 {
                break;
            }
            if self.clock.now().duration_since(started) > schedule.give_up_after.try_into().unwrap()
            {
                for process in workers.iter_mut().chain(bystanders.iter_mut()) {
                    let _ = process.kill();
                }
                panic!(
                    "after {kills} kills only {finished} of {} posts are final: {counts:?}\n{}\n{}",
                    posts.len(),
                    unfinished_histories(self, posts).await,
                    self.log_tails()
                );
            }
            if kills < schedule.max_kills {
                let victim = usize::try_from(chaos.below(processes as u64)).unwrap();
                workers[victim].kill().unwrap();
                workers[victim].wait().unwrap();
                kills += 1;
                workers[victim] = self.spawn_worker(victim);
            }
        }
        for worker in &mut workers {
            worker.kill().unwrap();
            worker.wait().unwrap();
        }
        println!(
            "{} posts final after {kills} kills in {:.1} s",
            posts.len(),
            self.clock.now().duration_since(started).as_secs_f64()
        );
        kills
    }
}
