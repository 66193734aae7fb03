//! Import: many posts from a CSV or JSON file. The file's text is checked by the API's bulk
//! import as a dry run (`POST /v1/posts/batch?dry_run=true`, local times read in the person's
//! zone), its rows shown as a table with each row's verdict and the column at fault marked;
//! "Schedule N valid rows" sends the same text again for real, so every row is judged once more
//! before anything is created, and the idempotency keys make a repeated submit create nothing
//! new. The text travels in the form itself (nothing is kept on the server between the steps).

use askama::Template;
use axum::Form;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::{Chrome, SignedIn, render};
use crate::Dashboard;
use crate::error::PageError;
use crate::views;

/// What the import form sends.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ImportForm {
    #[serde(default)]
    csrf: String,
    /// The file's text (filled from the picked file, or pasted).
    #[serde(default)]
    content: String,
    /// The picked file's name: its extension says CSV or JSON.
    #[serde(default)]
    file_name: String,
    /// `check` (a dry run) or `schedule`.
    #[serde(default)]
    intent: String,
}

/// One cell of the table: its column's label (shown beside it on a phone), its text, and
/// whether a problem names its column.
#[derive(Debug, Clone)]
struct Cell {
    label: &'static str,
    text: String,
    fault: bool,
}

/// One problem of a row.
#[derive(Debug, Clone)]
struct Problem {
    field: String,
    message: String,
}

#[derive(Debug, Clone)]
struct RowView {
    number: String,
    line: String,
    status: String,
    cells: Vec<Cell>,
    problems: Vec<Problem>,
    warnings: Vec<String>,
    post_id: Option<String>,
}

/// The report's totals.
#[derive(Debug, Clone, Default)]
struct Totals {
    dry_run: bool,
    total: u64,
    valid: u64,
    invalid: u64,
    created: u64,
    existing: u64,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    chrome: Chrome,
    form: ImportForm,
    error: Option<String>,
    totals: Option<Totals>,
    rows: Vec<RowView>,
}

/// The table's columns: label, the row columns a problem may name for it.
const COLUMNS: [(&str, &[&str]); 6] = [
    ("Account", &["account"]),
    ("Media", &["media_id", "media_url", "kind"]),
    ("Text", &["caption", "title", "description"]),
    ("Privacy", &["privacy_level"]),
    ("Time", &["scheduled_at", "time_zone"]),
    (
        "Settings",
        &[
            "allow_comment",
            "allow_duet",
            "allow_stitch",
            "commercial_disclosure",
            "brand_organic",
            "brand_content",
            "is_aigc",
            "auto_add_music",
            "mode",
            "source",
            "cover_timestamp_ms",
            "cover_index",
            "idempotency_key",
            "row",
        ],
    ),
];

impl ImportPage {
    /// The table's column headings.
    fn labels() -> [&'static str; 6] {
        COLUMNS.map(|(label, _)| label)
    }
}

pub(crate) async fn import_page(signed_in: SignedIn) -> Result<Response, PageError> {
    signed_in.require(tokpost_core::Action::Compose)?;
    render(&ImportPage {
        chrome: signed_in.chrome("import"),
        form: ImportForm::default(),
        error: None,
        totals: None,
        rows: Vec::new(),
    })
}

/// A CSV with every column, to start a file from.
pub(crate) async fn sample() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tokpost-import-sample.csv\"",
            ),
        ],
        tokpost_api::IMPORT_SAMPLE_CSV,
    )
        .into_response()
}

pub(crate) async fn import(
    State(state): State<Dashboard>,
    signed_in: SignedIn,
    Form(form): Form<ImportForm>,
) -> Result<Response, PageError> {
    signed_in.require(tokpost_core::Action::Compose)?;
    signed_in.check_csrf(&form.csrf)?;
    let page = |form: ImportForm, error: Option<String>, report: Option<&Value>| {
        let (totals, rows) = report.map_or((None, Vec::new()), |report| {
            (Some(totals(report)), rows(report, signed_in.zone()))
        });
        ImportPage {
            chrome: signed_in.chrome("import"),
            form,
            error,
            totals,
            rows,
        }
    };
    if form.content.trim().is_empty() {
        let page = page(
            form,
            Some("Choose a CSV or JSON file (or paste its rows) first.".to_owned()),
            None,
        );
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
    }
    let schedule = form.intent == "schedule";
    let zone = signed_in.zone().iana_name().unwrap_or("UTC");
    let path = format!(
        "/v1/posts/batch?dry_run={}&time_zone={}",
        !schedule,
        url::form_urlencoded::byte_serialize(zone.as_bytes()).collect::<String>()
    );
    let content_type = content_type(&form.file_name);
    let answer = state
        .api
        .call(
            Some(signed_in.key()),
            Method::POST,
            &path,
            Some((content_type, Body::from(form.content.clone()))),
        )
        .await?;
    if !answer.status.is_success() {
        let field = answer
            .body
            .pointer("/error/field")
            .and_then(Value::as_str)
            .map(|field| format!(" ({field})"))
            .unwrap_or_default();
        let message = format!(
            "The file cannot be imported{field}: {}",
            answer.error_message()
        );
        let page = page(form, Some(message), None);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
    }
    render(&page(form, None, Some(&answer.body)))
}

/// The content type the picked file's name says; without one the API reads the text.
fn content_type(file_name: &str) -> &'static str {
    let lower = file_name.trim().to_ascii_lowercase();
    if lower.ends_with(".csv") {
        "text/csv"
    } else if lower.ends_with(".json") {
        "application/json"
    } else {
        "text/plain"
    }
}

fn totals(report: &Value) -> Totals {
    let count = |key: &str| report.get(key).and_then(Value::as_u64).unwrap_or(0);
    Totals {
        dry_run: report.get("dry_run").and_then(Value::as_bool) == Some(true),
        total: count("total"),
        valid: count("valid"),
        invalid: count("invalid"),
        created: count("created"),
        existing: count("existing"),
    }
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A limit or a measure as a person reads it (`2202 UTF-16 units`).
fn amount(value: Option<&Value>) -> String {
    match value {
        Some(Value::Object(object)) => match (object.get("value"), object.get("unit")) {
            (Some(value), Some(unit)) => {
                format!("{} {}", text_of(Some(value)), text_of(Some(unit)))
            }
            _ => Value::Object(object.clone()).to_string(),
        },
        other => text_of(other),
    }
}

fn rows(report: &Value, zone: &jiff::tz::TimeZone) -> Vec<RowView> {
    report
        .get("rows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|row| row_view(row, zone))
        .collect()
}

fn row_view(row: &Value, zone: &jiff::tz::TimeZone) -> RowView {
    let fields = row.get("fields");
    let cell = |name: &str| text_of(fields.and_then(|f| f.get(name)));
    let problems: Vec<Problem> = row
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|error| {
            let field = text_of(error.get("field"));
            let full = text_of(error.get("message"));
            // The API's validation messages begin with the field, which the page shows apart.
            let mut message = full
                .strip_prefix(&format!("{field}: "))
                .map_or_else(|| full.clone(), str::to_owned);
            let (measured, limit) = (amount(error.get("measured")), amount(error.get("limit")));
            if !measured.is_empty() && !limit.is_empty() {
                message.push_str(&format!(" (measured {measured}; limit {limit})"));
            }
            Problem { field, message }
        })
        .collect();
    let warnings = row
        .get("findings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|f| f.get("severity").and_then(Value::as_str) == Some("warning"))
        .map(|f| text_of(f.get("message")))
        .collect();
    let time = row
        .get("scheduled_at")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map_or_else(
            || {
                let typed = cell("scheduled_at");
                if typed.is_empty() {
                    "now".to_owned()
                } else {
                    typed
                }
            },
            |at| views::when(at, zone),
        );
    let media = [cell("media_id"), cell("media_url")]
        .into_iter()
        .filter(|m| !m.is_empty())
        .map(|m| m.replace('|', " | "))
        .collect::<Vec<_>>()
        .join(" ");
    let kind = text_of(row.get("kind"));
    let text = ["caption", "title", "description"]
        .into_iter()
        .map(&cell)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    let settings = COLUMNS
        .iter()
        .find(|(label, _)| *label == "Settings")
        .map(|(_, names)| {
            names
                .iter()
                .filter_map(|name| {
                    let value = cell(name);
                    (!value.is_empty()).then(|| format!("{name}: {value}"))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let texts = [
        cell("account"),
        if kind.is_empty() {
            media
        } else {
            format!("{kind}: {media}")
        },
        text,
        cell("privacy_level"),
        time,
        settings,
    ];
    let cells = COLUMNS
        .iter()
        .zip(texts)
        .map(|((label, names), text)| {
            let fault = problems.iter().any(|p| names.contains(&p.field.as_str()));
            Cell {
                label,
                text: if fault && text.is_empty() {
                    "(missing)".to_owned()
                } else {
                    text
                },
                fault,
            }
        })
        .collect();
    RowView {
        number: text_of(row.get("row")),
        line: text_of(row.get("line")),
        status: text_of(row.get("status")),
        cells,
        problems,
        warnings,
        post_id: row
            .get("post_id")
            .and_then(Value::as_str)
            .map(super::encode_segment),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_column_a_problem_names_is_marked_with_the_measure_and_the_limit() {
        let row = json!({
            "row": 3, "line": 4, "status": "invalid",
            "fields": {"account": "@ada", "media_id": "m1", "caption": "long", "privacy_level": "SELF_ONLY", "allow_comment": "yes"},
            "errors": [{"field": "caption", "message": "caption: too long", "measured": {"value": 2202, "unit": "UTF-16 units"}, "limit": {"value": 2200, "unit": "UTF-16 units"}}],
            "findings": [],
            "kind": "video",
        });
        let view = row_view(&row, &jiff::tz::TimeZone::UTC);
        let faults: Vec<&str> = view
            .cells
            .iter()
            .filter(|c| c.fault)
            .map(|c| c.label)
            .collect();
        assert_eq!(faults, ["Text"]);
        assert_eq!(
            view.problems[0].message,
            "too long (measured 2202 UTF-16 units; limit 2200 UTF-16 units)"
        );
        assert_eq!(view.cells[1].text, "video: m1");
        assert_eq!(view.cells[4].text, "now", "no time is now");
        assert_eq!(view.cells[5].text, "allow_comment: yes");
        let missing = json!({"row": 1, "status": "invalid", "fields": {},
            "errors": [{"field": "privacy_level", "message": "privacy_level: required"}]});
        let view = row_view(&missing, &jiff::tz::TimeZone::UTC);
        assert_eq!(view.cells[3].text, "(missing)");
        assert_eq!(view.problems[0].message, "required");
    }

    #[test]
    fn the_file_name_says_csv_or_json_else_the_api_reads_the_text() {
        assert_eq!(content_type("Week 49.CSV"), "text/csv");
        assert_eq!(content_type("rows.json"), "application/json");
        assert_eq!(content_type(""), "text/plain");
    }
}
