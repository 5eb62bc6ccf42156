//! Pagination as Seam's paginated lists have it (`/connected_accounts/list`,
//! `/connect_webviews/list`): `limit` and `page_cursor` in, a page and the next cursor out.
//! A cursor is good only for the list that issued it, as the real API refuses one it did not
//! issue; it names the last record of its page in creation order, so pages stay right when
//! records come and go between them.

use std::collections::HashMap;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{error::ApiError, params};

/// The paginated lists, each with its own cursors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listing {
    Accounts,
    Webviews,
}

impl Listing {
    /// The API's own default `limit` for the list.
    fn default_limit(self) -> u64 {
        match self {
            Listing::Accounts => 11_000,
            Listing::Webviews => 500,
        }
    }
}

/// What a page holds unless a test lowers it to exercise pagination.
const DEFAULT_PAGE_SIZE: usize = 100;

/// The filters the paginated lists share, and their paging.
#[derive(Debug, Default)]
pub(crate) struct ListFilters {
    pub(crate) custom_metadata_has: Map<String, Value>,
    pub(crate) user_identifier_key: Option<String>,
    pub(crate) customer_key: Option<String>,
    pub(crate) page: PageQuery,
}

/// Whether a record's value is the one a filter wants, when it wants one.
pub(crate) fn wanted(want: Option<&String>, have: Option<&String>) -> bool {
    want.is_none_or(|want| have == Some(want))
}

impl ListFilters {
    /// Whether a record filed under these key, customer and metadata passes every filter.
    pub(crate) fn pass(
        &self,
        user_identifier_key: Option<&String>,
        customer_key: Option<&String>,
        custom_metadata: &Map<String, Value>,
    ) -> bool {
        wanted(self.user_identifier_key.as_ref(), user_identifier_key)
            && wanted(self.customer_key.as_ref(), customer_key)
            && params::metadata_matches(custom_metadata, &self.custom_metadata_has)
    }
}

/// The paging parameters of a request.
#[derive(Debug, Default)]
pub(crate) struct PageQuery {
    pub(crate) limit: Option<u64>,
    pub(crate) page_cursor: Option<String>,
}

pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next_page_cursor: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Cursors {
    /// Each cursor we issued, with its list and the place of the last record on its page.
    issued: HashMap<String, (Listing, u64)>,
    page_size: usize,
}

impl Default for Cursors {
    fn default() -> Self {
        Self {
            issued: HashMap::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl Cursors {
    /// A zero page size would hand out empty pages that never advance.
    pub(crate) fn set_page_size(&mut self, n: usize) {
        self.page_size = n.max(1);
    }

    /// The page `query` asks for of the `records` (in creation order, `seq` giving each one's
    /// place) that `keep` keeps.
    pub(crate) fn list<T: Clone>(
        &mut self,
        listing: Listing,
        query: &PageQuery,
        records: &[T],
        seq: impl Fn(&T) -> u64,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Page<T>, ApiError> {
        let after = self.start(listing, query)?;
        let matching = (records.iter())
            .filter(|r| seq(r) > after && keep(r))
            .map(|r| (seq(r), r.clone()));
        Ok(self.page(listing, query, matching))
    }

    /// Where the page starts: after the record the cursor names, or at the beginning.
    fn start(&self, listing: Listing, query: &PageQuery) -> Result<u64, ApiError> {
        match &query.page_cursor {
            None => Ok(0),
            Some(cursor) => match self.issued.get(cursor) {
                Some((issued_for, after)) if *issued_for == listing => Ok(*after),
                _ => Err(ApiError::invalid_input("Invalid page_cursor")),
            },
        }
    }

    /// One page of `matching` (records with their place in creation order, in that order, all
    /// after the page's start), no longer than the asked `limit` nor the page size.
    fn page<T>(
        &mut self,
        listing: Listing,
        query: &PageQuery,
        matching: impl Iterator<Item = (u64, T)>,
    ) -> Page<T> {
        let limit = query.limit.unwrap_or(listing.default_limit());
        let limit = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .clamp(1, self.page_size);
        let mut matching = matching.peekable();
        let mut items = Vec::new();
        let mut last = None;
        while items.len() < limit {
            let Some((seq, item)) = matching.next() else {
                break;
            };
            last = Some(seq);
            items.push(item);
        }
        let next_page_cursor = match last {
            Some(last) if matching.peek().is_some() => {
                let cursor = Uuid::new_v4().simple().to_string();
                self.issued.insert(cursor.clone(), (listing, last));
                Some(cursor)
            }
            _ => None,
        };
        Page {
            items,
            next_page_cursor,
        }
    }
}
