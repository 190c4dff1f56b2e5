//! Foreman's index parameters (`search`, `order`, `page`, `per_page`) and its list envelope.

use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::locks::admin::{Listed, PerPage};

/// The largest page number or size accepted: far beyond any real list, small enough for SQL.
const MAX_PAGE: i64 = 1_000_000_000;

/// `page`, `per_page`, `search` and `order`, as Foreman's index actions take them.
#[derive(Debug, Clone, Deserialize)]
pub struct IndexParams {
    search: Option<String>,
    order: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// Foreman's list envelope (app/views/api/v2/layouts/index_layout).
#[derive(Serialize)]
struct ListEnvelope<T: Serialize> {
    total: i64,
    subtotal: i64,
    page: i64,
    per_page: i64,
    search: Option<String>,
    sort: SortBody,
    results: Vec<T>,
}

#[derive(Serialize)]
struct SortBody {
    by: Option<String>,
    order: Option<String>,
}

impl IndexParams {
    /// The page number, from 1.
    pub fn page(&self) -> Result<i64, ApiError> {
        match self.page.as_deref() {
            None | Some("") => Ok(1),
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| ApiError::BadRequest("page must be a positive integer".into())),
        }
    }

    /// The page size: Foreman's `entries_per_page` unless given, `all` for everything.
    pub fn per_page(&self) -> Result<PerPage, ApiError> {
        match self.per_page.as_deref() {
            None | Some("") => Ok(PerPage::Default),
            Some("all") => Ok(PerPage::All),
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .map(PerPage::Count)
                .ok_or_else(|| {
                    ApiError::BadRequest("per_page must be a positive integer or 'all'".into())
                }),
        }
    }

    pub fn search(&self) -> Option<String> {
        self.search.clone().filter(|s| !s.trim().is_empty())
    }

    pub fn order(&self) -> Option<&str> {
        self.order.as_deref()
    }

    fn sort(&self) -> SortBody {
        let mut words = self.order.as_deref().unwrap_or_default().split_whitespace();
        let by = words.next().map(str::to_string);
        let order = by.as_ref().map(|_| {
            words
                .next()
                .map_or("ASC".to_string(), str::to_ascii_uppercase)
        });
        SortBody { by, order }
    }

    /// The envelope around one page of `listed`, each item rendered by `render`.
    pub fn envelope<T, B: Serialize>(
        &self,
        page: i64,
        listed: Listed<T>,
        render: impl FnMut(T) -> B,
    ) -> HttpResponse {
        let total = listed.page.total;
        HttpResponse::Ok().json(ListEnvelope {
            // The plugin reports the searched count as total, like subtotal.
            total,
            subtotal: total,
            page,
            per_page: listed.per_page.unwrap_or(total),
            search: self.search(),
            sort: self.sort(),
            results: listed.page.items.into_iter().map(render).collect(),
        })
    }
}
