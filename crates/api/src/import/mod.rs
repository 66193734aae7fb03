//! The bulk import's file, read without IO: a CSV (header row, RFC 4180 quoting through the
//! `csv` crate, a UTF-8 BOM ignored) or JSON (an array of row objects, or `{"rows": [...]}`)
//! becomes numbered rows of named cells, and one row becomes the plan of a `POST /v1/posts`
//! request. What needs the store (the account by name, the media by id or URL) and every rule of
//! a post (`routes::posts::parse_draft`, then preflight) is `routes/batch.rs`'s; nothing here
//! repeats them.
//!
//! Times: `scheduled_at` is RFC 3339 with an offset, or a local date and time
//! (`2026-12-01 18:00`, `2026-12-01T18:00:00`) read in the row's `time_zone` column, else in the
//! request's default zone (`?time_zone=`, which the dashboard sets to the signed-in person's
//! zone); a local time with neither is refused, as is one that does not exist in its zone (a
//! DST gap). An empty `scheduled_at` means now, as in `POST /v1/posts`.
//!
//! Toggles (`allow_comment`, `allow_duet`, `allow_stitch`, `brand_organic`, `brand_content`,
//! `commercial_disclosure`, `is_aigc`, `auto_add_music`) read `true/false`, `yes/no`, `1/0`,
//! `on/off` or `x`; empty is off: like the compose page, an import switches on nothing the file
//! does not.

mod plan;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::ErrorDetail;

pub use plan::SAMPLE_CSV;
pub(crate) use plan::{Kind, MediaRefs, Plan, derived_key, plan, row_field};

/// Most rows one import takes.
pub(crate) const MAX_ROWS: usize = 500;
/// Largest import body, in bytes.
pub(crate) const MAX_BYTES: usize = 2 * 1024 * 1024;

/// Every column an import understands, in the order a sample file shows them.
pub(crate) const COLUMNS: [&str; 22] = [
    "account",
    "kind",
    "media_id",
    "media_url",
    "caption",
    "title",
    "description",
    "privacy_level",
    "scheduled_at",
    "time_zone",
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
]; // plus `idempotency_key`, which is not part of the post (see `column_name`)

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Csv,
    Json,
}

impl Format {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }

    /// JSON when the first character that is not a BOM or white space opens an array or an
    /// object, CSV otherwise.
    pub(crate) fn sniff(bytes: &[u8]) -> Self {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[' | b'{') => Self::Json,
            _ => Self::Csv,
        }
    }
}

/// One row of the file: its 1-based number among the rows, the line it starts on (CSV), its
/// cells by canonical column name (empty cells left out) and what was wrong with its cells.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    pub(crate) number: usize,
    pub(crate) line: Option<u64>,
    pub(crate) cells: BTreeMap<String, String>,
    pub(crate) problems: Vec<ErrorDetail>,
}

/// A file that could not be read as rows at all.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileProblem {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) field: Option<String>,
    pub(crate) limit: Option<Value>,
    pub(crate) measured: Option<Value>,
}

impl FileProblem {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            limit: None,
            measured: None,
        }
    }
}

/// The rows of a file and, for JSON, a `dry_run` it asked for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    pub(crate) rows: Vec<Row>,
    pub(crate) dry_run: Option<bool>,
}

pub(crate) fn detail(
    code: &str,
    field: &str,
    message: impl Into<String>,
    limit: Option<Value>,
    measured: Option<Value>,
) -> ErrorDetail {
    ErrorDetail {
        code: code.to_owned(),
        message: message.into(),
        field: Some(field.to_owned()),
        limit,
        measured,
        tiktok: None,
    }
}

/// A column's canonical name (`Media ID` → `media_id`; `account_id`, `media_ids`, `media_urls`
/// are accepted for their singular columns), or `None` for a column no import knows.
pub(crate) fn column_name(header: &str) -> Option<&'static str> {
    let name: String = header
        .trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            other => other.to_ascii_lowercase(),
        })
        .collect();
    match name.as_str() {
        "account_id" => Some("account"),
        "media_ids" => Some("media_id"),
        "media_urls" => Some("media_url"),
        "idempotency_key" => Some("idempotency_key"),
        other => COLUMNS.into_iter().find(|column| *column == other),
    }
}

fn unknown_column(header: &str) -> FileProblem {
    FileProblem {
        field: Some(header.to_owned()),
        limit: Some(json!(COLUMNS)),
        measured: Some(json!(header)),
        ..FileProblem::new(
            "unknown_column",
            format!("`{header}` is not a column an import knows"),
        )
    }
}

fn too_many_rows(measured: usize) -> FileProblem {
    FileProblem {
        field: Some("rows".to_owned()),
        limit: Some(json!(MAX_ROWS)),
        measured: Some(json!(measured)),
        ..FileProblem::new(
            "too_many_rows",
            format!("the file has {measured} rows; an import takes at most {MAX_ROWS}: split it"),
        )
    }
}

/// Reads `bytes` as `format`.
///
/// # Errors
/// A file that is not CSV or JSON of this shape, has an unknown or repeated column, no rows,
/// or more than [`MAX_ROWS`].
pub(crate) fn parse(bytes: &[u8], format: Format) -> Result<Parsed, FileProblem> {
    let parsed = match format {
        Format::Csv => parse_csv(bytes)?,
        Format::Json => parse_json(bytes)?,
    };
    if parsed.rows.is_empty() {
        return Err(FileProblem {
            field: Some("rows".to_owned()),
            measured: Some(json!(0)),
            ..FileProblem::new("no_rows", "the file has no rows to import")
        });
    }
    Ok(parsed)
}

fn parse_csv(bytes: &[u8]) -> Result<Parsed, FileProblem> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let malformed = |error: &csv::Error| {
        let line = error.position().map(|p| line_at(bytes, p.byte()));
        FileProblem {
            measured: line.map(|l| json!({"line": l})),
            ..FileProblem::new(
                "malformed_csv",
                match line {
                    Some(line) => format!("the CSV cannot be read at line {line}: {error}"),
                    None => format!("the CSV cannot be read: {error}"),
                },
            )
        }
    };
    let headers = reader.headers().map_err(|e| malformed(&e))?.clone();
    let mut columns = Vec::with_capacity(headers.len());
    for header in &headers {
        if header.trim().is_empty() {
            columns.push(None);
            continue;
        }
        let name = column_name(header).ok_or_else(|| unknown_column(header))?;
        if columns.contains(&Some(name)) {
            return Err(FileProblem {
                field: Some(name.to_owned()),
                ..FileProblem::new(
                    "repeated_column",
                    format!("the column `{name}` appears twice in the header"),
                )
            });
        }
        columns.push(Some(name));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| malformed(&e))?;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(too_many_rows(MAX_ROWS + 1));
        }
        let mut row = Row {
            number: rows.len() + 1,
            line: record.position().map(|p| line_at(bytes, p.byte())),
            ..Row::default()
        };
        if record.len() > columns.len() {
            row.problems.push(detail(
                "too_many_cells",
                "row",
                format!(
                    "the row has {} cells; the header names {}",
                    record.len(),
                    columns.len()
                ),
                Some(json!(columns.len())),
                Some(json!(record.len())),
            ));
        }
        for (column, cell) in columns.iter().zip(record.iter()) {
            if let Some(column) = column
                && !cell.trim().is_empty()
            {
                row.cells
                    .insert((*column).to_owned(), cell.trim().to_owned());
            }
        }
        rows.push(row);
    }
    Ok(Parsed {
        rows,
        dry_run: None,
    })
}

/// The 1-based line of the record the reader placed at `byte`. The reader's own line count
/// skips blank lines and counts a CRLF oddly, and its position is where the previous record
/// ended: the record starts past the line breaks that follow.
fn line_at(bytes: &[u8], byte: u64) -> u64 {
    let mut start = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
    while let Some(b'\r' | b'\n') = bytes.get(start) {
        start += 1;
    }
    let before = bytes.get(..start).unwrap_or(bytes);
    1 + before.iter().filter(|b| **b == b'\n').count() as u64
}

fn parse_json(bytes: &[u8]) -> Result<Parsed, FileProblem> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: Value = serde_json::from_slice(body).map_err(|error| FileProblem {
        measured: Some(json!({"line": error.line(), "column": error.column()})),
        ..FileProblem::new(
            "malformed_json",
            format!("the JSON cannot be read: {error}"),
        )
    })?;
    let (items, dry_run) = match value {
        Value::Array(items) => (items, None),
        Value::Object(mut object) => {
            let dry_run = match object.remove("dry_run") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(flag)) => Some(flag),
                Some(_) => {
                    return Err(FileProblem {
                        field: Some("dry_run".to_owned()),
                        ..FileProblem::new("invalid_body", "dry_run is true or false")
                    });
                }
            };
            if let Some(other) = object.keys().find(|key| *key != "rows") {
                return Err(FileProblem {
                    field: Some(other.clone()),
                    ..FileProblem::new(
                        "invalid_body",
                        format!(
                            "unknown field `{other}`: the body is an array of rows or {{\"rows\": [...], \"dry_run\": false}}"
                        ),
                    )
                });
            }
            match object.remove("rows") {
                Some(Value::Array(items)) => (items, dry_run),
                _ => {
                    return Err(FileProblem {
                        field: Some("rows".to_owned()),
                        ..FileProblem::new("invalid_body", "rows is an array of row objects")
                    });
                }
            }
        }
        _ => {
            return Err(FileProblem::new(
                "invalid_body",
                "the body is an array of rows or {\"rows\": [...]}",
            ));
        }
    };
    if items.len() > MAX_ROWS {
        return Err(too_many_rows(items.len()));
    }
    let rows = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| json_row(index + 1, item))
        .collect();
    Ok(Parsed { rows, dry_run })
}

fn json_row(number: usize, item: Value) -> Row {
    let mut row = Row {
        number,
        ..Row::default()
    };
    let Value::Object(object) = item else {
        row.problems.push(detail(
            "invalid_row",
            "row",
            "a row is an object of columns",
            None,
            None,
        ));
        return row;
    };
    for (key, value) in object {
        let Some(column) = column_name(&key) else {
            row.problems.push(detail(
                "unknown_column",
                &key,
                format!("`{key}` is not a column an import knows"),
                Some(json!(COLUMNS)),
                None,
            ));
            continue;
        };
        let text = match value {
            Value::Null => continue,
            Value::String(text) => text,
            Value::Bool(flag) => flag.to_string(),
            Value::Number(number) => number.to_string(),
            Value::Array(items) if matches!(column, "media_id" | "media_url") => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(text) => parts.push(text),
                        _ => {
                            row.problems.push(detail(
                                "malformed",
                                column,
                                format!("{column} is a list of texts"),
                                None,
                                None,
                            ));
                        }
                    }
                }
                parts.join("|")
            }
            _ => {
                row.problems.push(detail(
                    "malformed",
                    column,
                    format!("{column} is a text, a number or true/false"),
                    None,
                    None,
                ));
                continue;
            }
        };
        if !text.trim().is_empty() {
            row.cells.insert(column.to_owned(), text.trim().to_owned());
        }
    }
    row
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

    use super::*;
    use rstest::rstest;

    fn csv(text: &str) -> Parsed {
        parse(text.as_bytes(), Format::Csv).unwrap()
    }

    #[test]
    fn quoted_cells_with_commas_and_newlines_and_a_bom_are_read() {
        let parsed = csv("\u{feff}Account,Media ID,caption,privacy_level\n\
             @ada,m1,\"Hello, world\nsecond line \"\"quoted\"\"\",SELF_ONLY\n\
             \n\
             bo,m2,,\n");
        assert_eq!(parsed.rows.len(), 2, "blank lines are not rows");
        let first = &parsed.rows[0];
        assert_eq!(first.number, 1);
        assert_eq!(first.line, Some(2));
        assert_eq!(
            first.cells["account"], "@ada",
            "the BOM is not in the header"
        );
        assert_eq!(
            first.cells["caption"],
            "Hello, world\nsecond line \"quoted\""
        );
        let second = &parsed.rows[1];
        assert_eq!(second.number, 2);
        assert_eq!(second.line, Some(5), "the quoted newline counts as a line");
        assert!(!second.cells.contains_key("caption"), "empty is absent");
    }

    #[rstest]
    #[case::csv("account,colour\na,red\n", "unknown_column")]
    #[case::repeated("account,account_id\na,b\n", "repeated_column")]
    #[case::header_only("account,media_id\n", "no_rows")]
    fn a_file_that_is_not_rows_is_refused_as_a_whole(#[case] text: &str, #[case] code: &str) {
        assert_eq!(parse(text.as_bytes(), Format::Csv).unwrap_err().code, code);
    }

    #[test]
    fn lines_are_the_files_with_blank_lines_and_crlf() {
        let parsed = csv("account\r\na\r\n\r\n\"b\r\nc\"\r\nd\r\n");
        let lines: Vec<_> = parsed.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [Some(2), Some(4), Some(6)]);
    }

    #[test]
    fn a_csv_that_is_not_utf8_names_its_line() {
        let problem = parse(b"account,caption\na,b\nc,\xff\xfe\n", Format::Csv).unwrap_err();
        assert_eq!(problem.code, "malformed_csv");
        assert_eq!(problem.measured, Some(json!({"line": 3})));
    }

    #[test]
    fn more_rows_than_the_limit_name_the_limit() {
        let mut text = String::from("account\n");
        for _ in 0..=MAX_ROWS {
            text.push_str("a\n");
        }
        let problem = parse(text.as_bytes(), Format::Csv).unwrap_err();
        assert_eq!(problem.code, "too_many_rows");
        assert_eq!(problem.limit, Some(json!(MAX_ROWS)));
        let rows: Vec<Value> = (0..MAX_ROWS + 3).map(|_| json!({"account": "a"})).collect();
        let problem = parse(json!(rows).to_string().as_bytes(), Format::Json).unwrap_err();
        assert_eq!(problem.measured, Some(json!(MAX_ROWS + 3)));
    }

    #[test]
    fn json_is_an_array_of_rows_or_an_object_with_rows_and_dry_run() {
        let plain = parse(br#"[{"account": "a", "media_ids": ["m1", "m2"], "allow_comment": true, "cover_index": 1}]"#, Format::Json).unwrap();
        let row = &plain.rows[0];
        assert_eq!(row.cells["media_id"], "m1|m2");
        assert_eq!(row.cells["allow_comment"], "true");
        assert_eq!(row.cells["cover_index"], "1");
        assert_eq!(plain.dry_run, None);
        let wrapped = parse(
            br#"{"dry_run": true, "rows": [{"account": "a"}, 7, {"colour": "red"}]}"#,
            Format::Json,
        )
        .unwrap();
        assert_eq!(wrapped.dry_run, Some(true));
        assert_eq!(wrapped.rows[1].problems[0].code, "invalid_row");
        assert_eq!(wrapped.rows[2].problems[0].field.as_deref(), Some("colour"));
        for bad in [
            &b"{\"rows\": 3}"[..],
            b"\"rows\"",
            b"{\"rows\": [], \"x\": 1}",
            b"[1,",
        ] {
            assert!(
                parse(bad, Format::Json).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_format_is_sniffed_past_a_bom_and_white_space() {
        assert_eq!(Format::sniff(b"\xEF\xBB\xBF \n[{}]"), Format::Json);
        assert_eq!(Format::sniff(b"  {\"rows\": []}"), Format::Json);
        assert_eq!(Format::sniff(b"account,media_id\n"), Format::Csv);
    }
}
