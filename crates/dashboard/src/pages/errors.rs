//! The reference of every TikTok failure tokpost knows, searchable.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use serde::Deserialize;

use super::{Chrome, SignedIn, render};
use crate::error::PageError;

/// One catalog entry as the reference shows it.
#[derive(Debug, Clone)]
struct CatalogLine {
    id: &'static str,
    codes: String,
    category: &'static str,
    action: &'static str,
    meaning: &'static str,
    how_to_fix: &'static str,
    service_action: &'static str,
}

#[derive(Template)]
#[template(path = "errors.html")]
struct ErrorsPage {
    chrome: Chrome,
    query: String,
    entries: Vec<CatalogLine>,
    total: usize,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorsQuery {
    #[serde(default)]
    q: String,
}

/// The catalog entries mentioning every word of `query` (case-insensitive).
fn search_catalog(query: &str) -> Vec<CatalogLine> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    tiktok::catalog::CATALOG
        .iter()
        .filter(|entry| {
            let haystack = format!(
                "{} {} {} {} {}",
                entry.id,
                entry.codes.join(" "),
                entry.category.label(),
                entry.meaning,
                entry.how_to_fix
            )
            .to_lowercase();
            words.iter().all(|word| haystack.contains(word.as_str()))
        })
        .map(|entry| CatalogLine {
            id: entry.id,
            codes: entry.codes.join(", "),
            category: entry.category.label(),
            action: entry.action.map_or("", tiktok::catalog::Action::label),
            meaning: entry.meaning,
            how_to_fix: entry.how_to_fix,
            service_action: entry.service_action,
        })
        .collect()
}

pub(crate) async fn errors(
    signed_in: Result<SignedIn, PageError>,
    Query(query): Query<ErrorsQuery>,
) -> Result<Response, PageError> {
    let chrome = match &signed_in {
        Ok(s) => s.chrome("errors"),
        Err(_) => Chrome::signed_out(String::new(), "errors"),
    };
    render(&ErrorsPage {
        chrome,
        entries: search_catalog(&query.q),
        total: tiktok::catalog::CATALOG.len(),
        query: query.q,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_search_narrows_by_every_word() {
        let all = search_catalog("");
        assert_eq!(all.len(), tiktok::catalog::CATALOG.len());
        let narrowed = search_catalog("video_too_long");
        assert!(!narrowed.is_empty() && narrowed.len() < all.len());
        assert!(search_catalog("no entry mentions this zzzzq").is_empty());
    }
}
