//! The command line: one binary whose subcommands are tokpost's roles and tools.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// tokpost: publish to TikTok and do not break.
#[derive(Debug, Parser)]
#[command(name = "tokpost", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check media files against TikTok's rules before TikTok rejects them.
    Check(CheckArgs),
    /// Fix a media file TikTok would reject with the smallest change (ffmpeg), then check the
    /// result; says what it changed and why, or why the file cannot be fixed.
    Fix(FixArgs),
    /// The catalog of TikTok failures: what each means, who must act, what tokpost does.
    Errors {
        #[command(subcommand)]
        command: ErrorsCommand,
    },
    /// Run the built-in TikTok sandbox: a local TikTok speaking the real wire format.
    Sandbox(SandboxArgs),
    /// Create the database if needed and apply every pending migration, then exit.
    Migrate(ConfigArgs),
    /// Run the publishing workers only (no API), to share the work across processes and
    /// machines on one PostgreSQL database.
    Worker(ConfigArgs),
    /// Run the HTTP API and the publishing workers (and, without a TikTok app or with
    /// `--sandbox`, the built-in TikTok sandbox).
    Serve(ServeArgs),
    /// API keys: create, list, revoke.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// People who sign in to the dashboard: create (the first owner needs no email), list,
    /// disable, enable, and a password-reset link.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// The key that encrypts TikTok tokens at rest: status, rotate.
    TokenKey {
        #[command(subcommand)]
        command: TokenKeyCommand,
    },
    /// Connected TikTok accounts (talks to a running tokpost).
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Counts over time of a post or a creator (talks to a running tokpost).
    Stats {
        #[command(subcommand)]
        command: StatsCommand,
    },
    /// Create a post (talks to a running tokpost).
    Post {
        #[command(subcommand)]
        command: PostCommand,
    },
    /// Scheduled and past posts (talks to a running tokpost).
    Posts {
        #[command(subcommand)]
        command: PostsCommand,
    },
    /// The service's configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the merged configuration (defaults, file, environment, flags), secrets redacted.
    Print(ConfigArgs),
}

/// Where the service's configuration comes from, beside defaults and `TOKPOST_…` variables.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// A TOML configuration file (`tokpost.example.toml` lists every key).
    #[arg(long = "config", value_name = "FILE", env = "TOKPOST_CONFIG")]
    pub file: Option<PathBuf>,
    /// Overrides `data_dir`.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Overrides `database_url`.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

impl ConfigArgs {
    /// The configuration layers these arguments name.
    #[must_use]
    pub fn sources(&self) -> crate::config::Sources {
        let mut flags = Vec::new();
        if let Some(dir) = &self.data_dir {
            flags.push(("data_dir", dir.display().to_string()));
        }
        if let Some(url) = &self.database_url {
            flags.push(("database_url", url.clone()));
        }
        crate::config::Sources {
            file: self.file.clone(),
            flags,
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// One JSON object per line instead of a human report.
    #[arg(long)]
    pub json: bool,
    /// The creator's longest allowed video in seconds (`max_video_post_duration_sec`);
    /// TikTok's API maximum of 600 s when not given.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub max_duration: Option<u32>,
    /// Media files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FixArgs {
    /// The media file to fix.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where the fixed file goes; written only when it passes the check (videos: .mp4; photos:
    /// .jpg or .webp).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// The creator's longest allowed video in seconds (`max_video_post_duration_sec`);
    /// TikTok's API maximum of 600 s when not given.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub max_duration: Option<u32>,
    /// Cut a video longer than the maximum (the end is dropped); without it such a video is
    /// refused.
    #[arg(long)]
    pub trim: bool,
    /// Scale a video with a side under 360 px up to 360 px; without it such a video is refused.
    #[arg(long)]
    pub upscale: bool,
    /// The format photos are written in; a JPEG or WebP keeps its format, others become JPEG.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub photo_format: Option<PhotoFormatArg>,
    /// The longest one ffmpeg run may take; ffmpeg and its children are killed then.
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// The ffmpeg executable; `ffmpeg` on PATH when not given.
    #[arg(long, value_name = "PATH")]
    pub ffmpeg: Option<PathBuf>,
    /// Replace OUT when it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the outcome as one JSON object instead of a human report.
    #[arg(long)]
    pub json: bool,
}

/// `--photo-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PhotoFormatArg {
    Jpeg,
    Webp,
}

#[derive(Debug, Subcommand)]
pub enum ErrorsCommand {
    /// Every failure tokpost recognises.
    List {
        /// One JSON array with every entry.
        #[arg(long)]
        json: bool,
    },
    /// One failure in plain words.
    Explain {
        /// The code as TikTok sends it (for example `spam_risk_too_many_posts`).
        code: String,
        /// The entry as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address of the API, authorize page and admin endpoints.
    #[arg(long, default_value = "127.0.0.1:8700", env = "TOKPOST_SANDBOX_LISTEN")]
    pub listen: SocketAddr,
    /// Address of the upload listener (upload URLs point here); the API port plus one when not given.
    #[arg(long, env = "TOKPOST_SANDBOX_UPLOAD_LISTEN")]
    pub upload_listen: Option<SocketAddr>,
    /// A TOML file with the sandbox's configuration (creators, token lifetimes, faults, …).
    #[arg(long, value_name = "FILE", env = "TOKPOST_SANDBOX_CONFIG")]
    pub config: Option<PathBuf>,
    /// Run on a clock that starts now and moves only when told (`POST /sandbox/admin/clock/advance`
    /// with `{"seconds": N}`), to rehearse expiring tokens, upload windows and daily caps.
    #[arg(long)]
    pub manual_clock: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Overrides `http.listen` (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Start the built-in TikTok sandbox in-process and talk to it instead of TikTok.
    #[arg(long)]
    pub sandbox: bool,
    /// Serve the API and the dashboard only; `tokpost worker` processes do the publishing
    /// (and send the outbound webhooks).
    #[arg(long, conflicts_with = "sandbox")]
    pub no_workers: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a key (printed once).
    Create {
        #[command(flatten)]
        config: ConfigArgs,
        /// A name to tell keys apart.
        #[arg(long, default_value = "cli")]
        name: String,
        /// What the key may do: `owner`, `editor` or `reviewer`.
        #[arg(long, default_value = "owner")]
        role: String,
        /// The workspace; the first one when not given.
        #[arg(long, value_name = "ID")]
        workspace: Option<String>,
        /// The key and its record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every key (never the secrets).
    List {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id.
    Revoke {
        #[command(flatten)]
        config: ConfigArgs,
        /// The key's id (`tokpost keys list`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user with a password read from standard input (one line; asked for without
    /// echo on a terminal) and add them to a workspace.
    Create {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// No password: the person signs in only through the organisation's OpenID Connect
        /// provider (`[oidc]`), by this email once the provider says it is verified.
        #[arg(long)]
        sso_only: bool,
        /// `owner`, `editor` or `reviewer`.
        #[arg(long, default_value = "owner")]
        role: String,
        /// The workspace; the first one when not given.
        #[arg(long, value_name = "ID")]
        workspace: Option<String>,
    },
    /// Every user with their workspaces and roles (never a password).
    List {
        #[command(flatten)]
        config: ConfigArgs,
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: every session ends at once and signing in is refused.
    Disable {
        #[command(flatten)]
        config: ConfigArgs,
        email: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[command(flatten)]
        config: ConfigArgs,
        email: String,
    },
    /// Print a single-use password-reset link for a user (valid one hour).
    ResetPassword {
        #[command(flatten)]
        config: ConfigArgs,
        email: String,
    },
}

impl UsersCommand {
    /// Where the configuration comes from.
    #[must_use]
    pub fn config(&self) -> &ConfigArgs {
        match self {
            Self::Create { config, .. }
            | Self::List { config, .. }
            | Self::Disable { config, .. }
            | Self::Enable { config, .. }
            | Self::ResetPassword { config, .. } => config,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenKeyCommand {
    /// The current key's id and how many secrets are still sealed with another key.
    Status(ConfigArgs),
    /// Re-encrypts every stored secret under a new key, in place, batch by batch; run it again
    /// to resume an interrupted rotation. With the generated key file, the new key is made
    /// (`token.key.next`) and replaces `token.key` at the end; with a configured key, set
    /// `token_key` to the new key and `token_key_previous` to the old one first.
    Rotate {
        #[command(flatten)]
        config: ConfigArgs,
        /// Rows re-encrypted per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
        /// Stop after this many batches, leaving the rotation in progress (it resumes on the
        /// next run); for rotating a large database in parts.
        #[arg(long, value_name = "N")]
        max_batches: Option<u32>,
    },
}

impl TokenKeyCommand {
    /// Where the configuration comes from.
    #[must_use]
    pub fn config(&self) -> &ConfigArgs {
        match self {
            Self::Status(config) | Self::Rotate { config, .. } => config,
        }
    }
}

impl KeysCommand {
    /// Where the configuration comes from.
    #[must_use]
    pub fn config(&self) -> &ConfigArgs {
        match self {
            Self::Create { config, .. }
            | Self::List { config, .. }
            | Self::Revoke { config, .. } => config,
        }
    }
}

/// Where the running tokpost is and the key to use.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The tokpost API's base URL.
    #[arg(
        long = "api",
        value_name = "URL",
        env = "TOKPOST_API_URL",
        default_value = "http://127.0.0.1:8080/"
    )]
    pub api: String,
    /// An API key (`tokpost keys create`).
    #[arg(
        long = "key",
        value_name = "KEY",
        env = "TOKPOST_API_KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Print the TikTok consent link that connects an account (valid for 10 minutes, once).
    Connect {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        json: bool,
    },
    /// Every account of the workspace.
    List {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        json: bool,
    },
    /// One account with its health checklist.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        /// The account id.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// The health checklist of every account, with what to do next.
    Doctor {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// A post's views, likes, comments and shares at each snapshot, and where following it
    /// stands.
    Post {
        #[command(flatten)]
        client: ClientArgs,
        /// The post id.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// A creator's followers, likes and videos at each daily snapshot.
    Account {
        #[command(flatten)]
        client: ClientArgs,
        /// The account id.
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PostCommand {
    /// Upload the media and schedule the post.
    Create(PostCreateArgs),
}

#[derive(Debug, Args)]
pub struct PostCreateArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The account id.
    #[arg(long)]
    pub account: String,
    /// A video file to upload.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "photos",
        required_unless_present = "photos"
    )]
    pub video: Option<PathBuf>,
    /// A photo URL on a verified prefix (repeat for a carousel).
    #[arg(long = "photo", value_name = "URL")]
    pub photos: Vec<String>,
    /// The caption (videos) or description (photos).
    #[arg(long)]
    pub caption: Option<String>,
    /// PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, FOLLOWER_OF_CREATOR or SELF_ONLY (no default).
    #[arg(long)]
    pub privacy: String,
    /// When, RFC 3339 with an offset; now when not given.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// A draft in the creator's TikTok inbox instead of a direct post.
    #[arg(long)]
    pub inbox: bool,
    /// Follow the post to its final state (exit 1 when it fails).
    #[arg(long)]
    pub wait: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PostsCommand {
    /// Posts by schedule time.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Only posts in this state.
        #[arg(long)]
        state: Option<String>,
        /// Only this account's posts.
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One post with its history.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a post TikTok does not hold yet.
    Cancel {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Schedule a failed post again (after fixing its cause).
    Retry {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve a post awaiting approval (owners and reviewers): it goes out at its time.
    Approve {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        /// The revision you reviewed (`posts show`); refused if the post was edited since.
        #[arg(long)]
        revision: Option<u32>,
        /// A new time (RFC 3339 with an offset), needed when its time passed more than the
        /// late grace ago.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// A note for the author, kept in the post's history.
        #[arg(long)]
        comment: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Reject a post awaiting approval, saying what should change: back to its author.
    Reject {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        /// What should change (required).
        #[arg(long)]
        comment: String,
        /// The revision you reviewed.
        #[arg(long)]
        revision: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Schedule many posts from a CSV or JSON file: every row is judged like one post, the
    /// valid ones are created (importing the same file again creates nothing new); exit 1 when
    /// any row is invalid.
    Import(PostsImportArgs),
}

#[derive(Debug, Args)]
pub struct PostsImportArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// A `.csv` (header row: account, media_id or media_url, caption, privacy_level,
    /// scheduled_at, …) or `.json` file (an array of rows); another name is read by its content.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Judge every row and create nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The IANA zone of local times (`2026-12-01 18:00`) in rows without a time_zone column.
    #[arg(long, value_name = "ZONE")]
    pub time_zone: Option<String>,
    #[arg(long)]
    pub json: bool,
}

impl PostsCommand {
    /// The connection and whether JSON was asked for.
    #[must_use]
    pub fn client(&self) -> (&ClientArgs, bool) {
        match self {
            Self::List { client, json, .. }
            | Self::Show { client, json, .. }
            | Self::Cancel { client, json, .. }
            | Self::Retry { client, json, .. }
            | Self::Approve { client, json, .. }
            | Self::Reject { client, json, .. } => (client, *json),
            Self::Import(args) => (&args.client, args.json),
        }
    }
}
