//! ffmpeg's `-progress` output: blocks of `key=value` lines, each ended by `progress=continue`
//! or, for the last, `progress=end`.

use std::time::Duration;

use serde::Serialize;

/// How far an ffmpeg run is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Progress {
    /// Share of the expected output written, 0.0 to 1.0 (1.0 once ffmpeg says it has ended; a
    /// photo jumps from 0.0 to 1.0).
    pub fraction: f64,
    /// Media time written so far.
    pub out_time: Duration,
    /// Bytes the muxer has written so far.
    pub output_bytes: u64,
    /// ffmpeg's last block (`progress=end`).
    pub done: bool,
}

/// Reads `-progress` lines one at a time and yields a [`Progress`] at the end of each block.
#[derive(Debug, Clone)]
pub struct ProgressParser {
    expected: Option<Duration>,
    out_time: Duration,
    output_bytes: u64,
}

impl ProgressParser {
    /// `expected`: how long the output will play, `None` when unknown (a photo).
    pub fn new(expected: Option<Duration>) -> Self {
        Self {
            expected: expected.filter(|expected| !expected.is_zero()),
            out_time: Duration::ZERO,
            output_bytes: 0,
        }
    }

    /// Takes one line; returns the progress when the line ends a block. Lines it does not know,
    /// and values ffmpeg has not measured yet (`N/A`), are ignored.
    pub fn line(&mut self, line: &str) -> Option<Progress> {
        let (key, value) = line.trim().split_once('=')?;
        let value = value.trim();
        match key {
            // `out_time_ms` is in microseconds too (an old ffmpeg misnomer kept for
            // compatibility); `out_time_us` is preferred where both are present, and they agree.
            "out_time_us" | "out_time_ms" => {
                if let Ok(micros) = value.parse::<u64>() {
                    self.out_time = Duration::from_micros(micros);
                }
                None
            }
            "total_size" => {
                if let Ok(bytes) = value.parse::<u64>() {
                    self.output_bytes = bytes;
                }
                None
            }
            "progress" => {
                let done = value == "end";
                Some(Progress {
                    fraction: self.fraction(done),
                    out_time: self.out_time,
                    output_bytes: self.output_bytes,
                    done,
                })
            }
            _ => None,
        }
    }

    fn fraction(&self, done: bool) -> f64 {
        if done {
            return 1.0;
        }
        match self.expected {
            Some(expected) => {
                (self.out_time.as_secs_f64() / expected.as_secs_f64()).clamp(0.0, 1.0)
            }
            None => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(parser: &mut ProgressParser, text: &str) -> Vec<Progress> {
        text.lines().filter_map(|line| parser.line(line)).collect()
    }

    #[test]
    fn a_block_reports_the_share_of_the_expected_duration_written() {
        let mut parser = ProgressParser::new(Some(Duration::from_secs(4)));
        let reports = feed(
            &mut parser,
            "frame=30\nfps=0.00\ntotal_size=48\nout_time_us=1000000\nout_time_ms=1000000\nout_time=00:00:01.000000\nprogress=continue\n",
        );
        assert_eq!(reports.len(), 1);
        assert!((reports[0].fraction - 0.25).abs() < 1e-9);
        assert_eq!(reports[0].out_time, Duration::from_secs(1));
        assert_eq!(reports[0].output_bytes, 48);
        assert!(!reports[0].done);
    }

    #[test]
    fn the_end_block_is_done_and_complete_even_when_the_output_is_shorter() {
        let mut parser = ProgressParser::new(Some(Duration::from_secs(10)));
        let reports = feed(&mut parser, "out_time_us=3000000\nprogress=end\n");
        assert_eq!(reports[0].fraction, 1.0);
        assert!(reports[0].done);
    }

    #[test]
    fn unmeasured_values_and_unknown_keys_are_ignored_and_the_fraction_never_passes_one() {
        let mut parser = ProgressParser::new(Some(Duration::from_secs(1)));
        let reports = feed(
            &mut parser,
            "out_time_us=N/A\nspeed=N/A\ngarbage\nprogress=continue\nout_time_us=5000000\nprogress=continue\n",
        );
        assert_eq!(reports[0].fraction, 0.0);
        assert_eq!(reports[1].fraction, 1.0);
    }

    #[test]
    fn without_an_expected_duration_only_the_end_counts() {
        let mut parser = ProgressParser::new(None);
        let reports = feed(
            &mut parser,
            "out_time_us=40000\nprogress=continue\nprogress=end\n",
        );
        assert_eq!(reports[0].fraction, 0.0);
        assert_eq!(reports[1].fraction, 1.0);
    }
}
