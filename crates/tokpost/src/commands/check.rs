//! `tokpost check`: TikTok's media rules on local files, before TikTok can reject them.

use std::io::Write;
use std::process::ExitCode;

use media::{Limits, Verdict};

use crate::cli::CheckArgs;

/// Exit status when any file would be rejected (0: all ok or only warned; 2: usage errors,
/// which clap reports before we get here).
const REJECTED: u8 = 1;

pub(crate) fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let limits = Limits {
        creator_max_video_duration_s: args.max_duration,
    };
    let mut stdout = std::io::stdout().lock();
    let mut any_rejected = false;
    for file in &args.files {
        let verdict = media::preflight_file(file, &limits);
        any_rejected |= verdict.verdict == Verdict::Rejected;
        if args.json {
            serde_json::to_writer(&mut stdout, &verdict)?;
            writeln!(stdout)?;
        } else {
            writeln!(stdout, "{}", verdict.render_human())?;
        }
    }
    stdout.flush()?;
    Ok(if any_rejected {
        ExitCode::from(REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}
