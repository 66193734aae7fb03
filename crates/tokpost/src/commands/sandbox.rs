//! `tokpost sandbox`: the built-in TikTok sandbox on its own, for demos and for rehearsing
//! failure handling.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Format, Toml};
use tiktok_sandbox::{Sandbox, SandboxConfig};
use tokio::net::TcpListener;

use crate::cli::SandboxArgs;

pub(crate) fn run(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => Figment::from(Toml::file_exact(path))
            .extract::<SandboxConfig>()
            .with_context(|| format!("reading the sandbox configuration {}", path.display()))?,
        None => SandboxConfig::default(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args, config))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: SandboxArgs, config: SandboxConfig) -> anyhow::Result<()> {
    let api = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let upload_addr = match args.upload_listen {
        Some(addr) => addr,
        None => {
            // Port 0 asks the system for any free port, for both listeners.
            let mut addr = args.listen;
            addr.set_port(match args.listen.port() {
                0 => 0,
                port => port
                    .checked_add(1)
                    .context("the API port is the last one; give --upload-listen")?,
            });
            addr
        }
    };
    let upload = TcpListener::bind(upload_addr)
        .await
        .with_context(|| format!("listening for uploads on {upload_addr}"))?;
    let handle = if args.manual_clock {
        // Starts at the real "now" so that dates look right, then moves only on request.
        let start = clock::SystemClock::shared().now();
        Sandbox::start_with_manual_clock(config, clock::ManualClock::new(start), api, Some(upload))
            .await
    } else {
        Sandbox::start(config, clock::SystemClock::shared(), api, Some(upload)).await
    }
    .context("starting the sandbox")?;
    let mut stdout = std::io::stdout();
    write!(stdout, "{}", handle.banner())?;
    writeln!(stdout, "Press Ctrl-C to stop.")?;
    stdout.flush()?;
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}
