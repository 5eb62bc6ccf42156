//! `/devices/list`: the devices the caller may see, narrowed by the filters. A client session
//! token sees those of the accounts its session holds (and, for a customer's session, the
//! customer's); `user_identifier_key` means the accounts filed under the key (the one model of
//! ownership `/connected_accounts/list` uses too). Every stand-in device is an August lock
//! without metadata, so the type, manufacturer and metadata filters test against that.
//! Not modelled, so refused: `include_if`, `exclude_if`, `search`, `space_id`,
//! `unstable_location_id` and `page_cursor` (the stand-in never pages devices).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::{Data, accounts::visible_to_session, ok, read, uuid};
use crate::{
    error::ApiError,
    extract::{Params, lenient},
    params::{self, Given},
    state::{self, Caller, Device, State, wanted},
    wire,
};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(read("/devices/list", list));
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ListParams {
    connected_account_id: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    connected_account_ids: Vec<String>,
    connect_webview_id: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    device_ids: Vec<String>,
    user_identifier_key: Given<String>,
    customer_key: Given<String>,
    custom_metadata_has: Option<Map<String, Value>>,
    device_type: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    device_types: Vec<String>,
    manufacturer: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    created_before: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient::count")]
    limit: Option<u64>,
}

/// What every stand-in device is (`wire::device`).
const DEVICE_TYPE: &str = "august_lock";
const MANUFACTURER: &str = "august";

/// The filters, checked and resolved against the state: each `Some` narrows.
struct Filters {
    scope: Option<Vec<String>>,
    owned: Option<Vec<String>>,
    of_webview: Option<Option<String>>,
    customer_key: Option<String>,
    custom_metadata_has: Map<String, Value>,
    types_ok: bool,
}

impl Filters {
    fn new(p: &mut ListParams, state: &State, caller: &Caller) -> Result<Self, ApiError> {
        for id in p
            .connected_account_id
            .iter()
            .chain(&p.connected_account_ids)
        {
            uuid("connected_account_id", id)?;
        }
        if let Some(id) = p.connect_webview_id.as_deref() {
            uuid("connect_webview_id", id)?;
        }
        let key = std::mem::take(&mut p.user_identifier_key).non_empty("user_identifier_key")?;
        // `device_types` is any of them; `device_type` and `manufacturer` are one.
        let types_ok = p.device_type.as_ref().is_none_or(|t| t == DEVICE_TYPE)
            && (p.device_types.is_empty() || p.device_types.iter().any(|t| t == DEVICE_TYPE))
            && p.manufacturer.as_ref().is_none_or(|m| m == MANUFACTURER);
        Ok(Self {
            scope: caller.session_id().map(|id| {
                (state.accounts.iter())
                    .filter(|a| visible_to_session(state, id, &a.id))
                    .map(|a| a.id.clone())
                    .collect()
            }),
            owned: key.map(|key| state.accounts_of(&key)),
            of_webview: (p.connect_webview_id.as_deref()).map(|id| {
                state
                    .webview(id)
                    .and_then(|w| w.connected_account_id.clone())
            }),
            customer_key: std::mem::take(&mut p.customer_key).non_empty("customer_key")?,
            custom_metadata_has: params::metadata_filter(
                "custom_metadata_has",
                p.custom_metadata_has.take(),
            )?,
            types_ok,
        })
    }

    fn keep(&self, p: &ListParams, state: &State, d: &Device) -> bool {
        let account = &d.account_id;
        let in_list = |list: &[String], id: &String| list.is_empty() || list.contains(id);
        let customer = state.account(account).and_then(|a| a.customer_key.as_ref());
        self.types_ok
            && self.scope.as_ref().is_none_or(|ids| ids.contains(account))
            && self.owned.as_ref().is_none_or(|ids| ids.contains(account))
            && (self.of_webview.as_ref()).is_none_or(|id| id.as_ref() == Some(account))
            && wanted(self.customer_key.as_ref(), customer)
            && params::metadata_matches(&Map::new(), &self.custom_metadata_has)
            && p.connected_account_id
                .as_ref()
                .is_none_or(|id| id == account)
            && in_list(&p.connected_account_ids, account)
            && in_list(&p.device_ids, &d.id)
            && p.created_before.is_none_or(|t| d.created_at < t)
    }
}

async fn list(
    caller: Caller,
    data: Data,
    Params(mut p): Params<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let state = state::lock(&data);
    let filters = Filters::new(&mut p, &state, &caller)?;
    let limit = p.limit.map_or(usize::MAX, |n| n as usize);
    let devices: Vec<Value> = (state.devices.iter())
        .filter(|d| filters.keep(&p, &state, d))
        .take(limit)
        .map(|d| wire::device(d, &state.workspace_id))
        .collect();
    Ok(ok(json!({
        "devices": devices,
        "pagination": wire::pagination(None, None),
    })))
}
