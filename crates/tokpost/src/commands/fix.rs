//! `tokpost fix`: the smallest change that makes a file TikTok would reject acceptable, run by
//! ffmpeg and proved by the same check as `tokpost check`.
//!
//! Exit status: 0 when the file was fixed or needed nothing (then nothing is written: a copy
//! would pass for a fix); 1 when it cannot be fixed, when the result would still be rejected,
//! or when fixing failed (ffmpeg missing, failing or too slow), with the reason.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use media::Limits;
use tokpost_fix::{
    Decision, Ffmpeg, FixOptions, Fixer, Outcome, OutputFormat, PhotoFormat, Remedy, WriteMode,
};

use crate::cli::{FixArgs, PhotoFormatArg};

/// Exit status when the file cannot be fixed or the fix would still be rejected.
const NOT_FIXED: u8 = 1;
/// The progress bar counts thousandths of the expected output.
const BAR_STEPS: u64 = 1000;

pub(crate) fn run(args: &FixArgs) -> anyhow::Result<ExitCode> {
    let ffmpeg = Ffmpeg::locate(args.ffmpeg.as_deref())?;
    let options = FixOptions {
        limits: Limits {
            creator_max_video_duration_s: args.max_duration,
        },
        trim: args.trim,
        upscale: args.upscale,
        photo_format: args.photo_format.map(|format| match format {
            PhotoFormatArg::Jpeg => PhotoFormat::Jpeg,
            PhotoFormatArg::Webp => PhotoFormat::Webp,
        }),
    };
    let write = if args.force {
        WriteMode::Overwrite
    } else {
        WriteMode::CreateNew
    };
    if write == WriteMode::CreateNew && args.output.exists() {
        bail!(
            "{} already exists; choose another path or pass --force to replace it",
            args.output.display()
        );
    }
    let fixer = Fixer::new(ffmpeg, clock::SystemClock::shared())
        .with_timeout(Duration::from_secs(args.timeout));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        let prepared = fixer.prepare(&args.file, &args.output, &options).await?;
        if let Decision::Fix(plan) = &prepared.decision {
            check_extension(&args.output, plan.output_format())?;
            if !args.json {
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "{}", prepared.input.render_human())?;
                writeln!(stdout, "plan:")?;
                for change in &plan.changes {
                    writeln!(stdout, "  {change}")?;
                }
                stdout.flush()?;
            }
        }
        let bar = progress_bar(
            args.json,
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        );
        let outcome = fixer
            .execute(prepared, write, &mut |progress| {
                bar.set_position((progress.fraction * BAR_STEPS as f64).round() as u64);
            })
            .await;
        bar.finish_and_clear();
        anyhow::Ok(outcome?)
    })?;
    report(&outcome, &args.output, args.json)?;
    Ok(match outcome {
        Outcome::Fixed(_) | Outcome::Acceptable { .. } => ExitCode::SUCCESS,
        Outcome::Unfixable { .. } | Outcome::StillRejected { .. } => ExitCode::from(NOT_FIXED),
    })
}

/// Refuses an output name whose extension says another format than the one written.
fn check_extension(output: &Path, format: OutputFormat) -> anyhow::Result<()> {
    let Some(extension) = output.extension().and_then(|extension| extension.to_str()) else {
        return Ok(());
    };
    if !format.accepts_extension(extension) {
        let what = match format {
            OutputFormat::Mp4 => "an MP4 video",
            OutputFormat::Jpeg => "a JPEG photo",
            OutputFormat::Webp => "a WebP photo",
        };
        bail!(
            "the fixed file is {what}: name the output .{} (not .{extension})",
            format.extension()
        );
    }
    Ok(())
}

fn report(outcome: &Outcome, output: &Path, json: bool) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut stdout, outcome)?;
        writeln!(stdout)?;
        stdout.flush()?;
        return Ok(());
    }
    match outcome {
        Outcome::Acceptable { input } => {
            writeln!(stdout, "{}", input.render_human())?;
            writeln!(
                stdout,
                "TikTok accepts this file as it is: nothing to fix, nothing written to {}",
                output.display()
            )?;
        }
        Outcome::Fixed(report) => {
            writeln!(stdout, "fixed: {}", report.output.render_human())?;
            writeln!(
                stdout,
                "wrote {} ({}) in {:.1} s",
                output.display(),
                media::verdict::human_bytes(report.output_bytes),
                report.elapsed_ms as f64 / 1000.0
            )?;
        }
        Outcome::Unfixable { input, reasons } => {
            writeln!(stdout, "{}", input.render_human())?;
            writeln!(stdout, "cannot be fixed; nothing written:")?;
            for reason in reasons {
                writeln!(stdout, "  {reason}")?;
                match reason.remedy {
                    Some(Remedy::AllowTrim) => {
                        writeln!(stdout, "    run again with --trim to cut it")?;
                    }
                    Some(Remedy::AllowUpscale) => {
                        writeln!(stdout, "    run again with --upscale to scale it up")?;
                    }
                    None => {}
                }
            }
        }
        Outcome::StillRejected { result, .. } => {
            writeln!(
                stdout,
                "the fixed file would still be rejected; nothing written:"
            )?;
            writeln!(stdout, "{}", result.render_human())?;
        }
    }
    stdout.flush()?;
    Ok(())
}

/// The fix's progress bar: on stderr for a person at a terminal, hidden when stderr is not a
/// terminal or the output is `--json`.
fn progress_bar(json: bool, stderr_is_terminal: bool) -> indicatif::ProgressBar {
    if json || !stderr_is_terminal {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(BAR_STEPS),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("fixing {bar:30} {percent:>3}% eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_is_hidden_for_json_and_when_stderr_is_not_a_terminal() {
        assert!(progress_bar(true, true).is_hidden());
        assert!(progress_bar(false, false).is_hidden());
    }

    #[test]
    fn an_output_named_for_another_format_is_refused_with_the_right_extension() {
        let error = check_extension(Path::new("out.webm"), OutputFormat::Mp4).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the fixed file is an MP4 video: name the output .mp4 (not .webm)"
        );
        assert!(check_extension(Path::new("out.JPG"), OutputFormat::Jpeg).is_ok());
        assert!(check_extension(Path::new("out"), OutputFormat::Webp).is_ok());
    }
}
