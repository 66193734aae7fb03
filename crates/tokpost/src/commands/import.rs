//! `tokpost posts import FILE`: sends a CSV or JSON file to `POST /v1/posts/batch` and prints
//! every row's verdict (the row, its status, the column at fault and why); exit status 1 when
//! any row is invalid, so a script notices.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::client::{Api, at, print_json, runtime, text};
use crate::cli::PostsImportArgs;

/// The content type a file is sent as: by its extension, else `None` (the API reads the
/// content).
fn content_type(path: &std::path::Path) -> Option<&'static str> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => Some("text/csv"),
        Some("json") => Some("application/json"),
        _ => None,
    }
}

pub(crate) fn run(args: &PostsImportArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let report = runtime()?.block_on(async {
        let api = Api::new(&args.client)?;
        let mut url = api.url("v1/posts/batch")?;
        {
            let mut query = url.query_pairs_mut();
            if args.dry_run {
                query.append_pair("dry_run", "true");
            }
            if let Some(zone) = &args.time_zone {
                query.append_pair("time_zone", zone);
            }
        }
        let mut request = api.http.post(url).body(bytes);
        if let Some(content_type) = content_type(&args.file) {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        api.send(request).await
    })?;
    if args.json {
        print_json(&report)?;
    } else {
        write_report(&report)?;
    }
    let invalid = at(&report, "invalid").as_u64().unwrap_or(0);
    Ok(if invalid > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One line per row and per further problem, then the totals.
fn write_report(report: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:>4}  {:>4}  {:<8}  {:<22}  DETAIL",
        "ROW", "LINE", "STATUS", "FIELD"
    )?;
    for row in at(report, "rows").as_array().into_iter().flatten() {
        let status = text(at(row, "status"));
        let errors: Vec<&Value> = at(row, "errors").as_array().into_iter().flatten().collect();
        let first = errors.first();
        let (field, detail) = match first {
            Some(error) => (text(at(error, "field")), problem(error)),
            None => (
                "-".to_owned(),
                match at(row, "post_id") {
                    Value::String(id) => format!("post {id} at {}", text(at(row, "scheduled_at"))),
                    _ => format!("ready for {}", text(at(row, "scheduled_at"))),
                },
            ),
        };
        writeln!(
            out,
            "{:>4}  {:>4}  {:<8}  {:<22}  {detail}",
            text(at(row, "row")),
            text(at(row, "line")),
            status,
            field
        )?;
        for error in errors.iter().skip(1) {
            writeln!(
                out,
                "{:>4}  {:>4}  {:<8}  {:<22}  {}",
                "",
                "",
                "",
                text(at(error, "field")),
                problem(error)
            )?;
        }
    }
    let count = |key: &str| at(report, key).as_u64().unwrap_or(0);
    if at(report, "dry_run").as_bool() == Some(true) {
        writeln!(
            out,
            "{} rows: {} valid, {} invalid (dry run: nothing was created)",
            count("total"),
            count("valid"),
            count("invalid")
        )?;
    } else {
        writeln!(
            out,
            "{} rows: {} created, {} already imported, {} invalid",
            count("total"),
            count("created"),
            count("existing"),
            count("invalid")
        )?;
    }
    Ok(())
}

/// An error's message with its limit and measured value when it has them.
fn problem(error: &Value) -> String {
    let mut line = text(at(error, "message"));
    let show = |value: &Value| match value {
        Value::Object(object) => match (object.get("value"), object.get("unit")) {
            (Some(value), Some(unit)) => format!("{} {}", text(value), text(unit)),
            _ => value.to_string(),
        },
        other => text(other),
    };
    let (limit, measured) = (at(error, "limit"), at(error, "measured"));
    if !measured.is_null() && !limit.is_null() {
        line.push_str(&format!(
            " (measured {}, limit {})",
            show(measured),
            show(limit)
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_extension_decides_the_content_type_else_the_api_reads_the_file() {
        assert_eq!(content_type("posts.CSV".as_ref()), Some("text/csv"));
        assert_eq!(
            content_type("posts.json".as_ref()),
            Some("application/json")
        );
        assert_eq!(content_type("posts.txt".as_ref()), None);
    }

    #[test]
    fn a_problem_shows_its_measure_and_limit_in_their_unit() {
        let error = json!({"message": "caption: too long", "measured": {"value": 2202, "unit": "UTF-16 units"}, "limit": {"value": 2200, "unit": "UTF-16 units"}});
        assert_eq!(
            problem(&error),
            "caption: too long (measured 2202 UTF-16 units, limit 2200 UTF-16 units)"
        );
        assert_eq!(problem(&json!({"message": "required"})), "required");
    }
}
