//! `/devices/list`: the devices the caller may see, narrowed by the filters. A client session
//! token sees those of the accounts its session holds (and, for a customer's session, the
//! customer's); `user_identifier_key` means the accounts filed under the key (the one model of
//! ownership `/connected_accounts/list` uses too).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Data, accounts::visible_to_session, ok, read, uuid};
use crate::{
    error::ApiError,
    extract::{Params, lenient},
    state::{self, Caller},
    wire,
};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(read("/devices/list", list));
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListParams {
    connected_account_id: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    connected_account_ids: Vec<String>,
    connect_webview_id: Option<String>,
    #[serde(deserialize_with = "lenient::strings")]
    device_ids: Vec<String>,
    user_identifier_key: Option<String>,
    #[serde(deserialize_with = "lenient::count")]
    limit: Option<u64>,
}

async fn list(
    caller: Caller,
    data: Data,
    Params(params): Params<ListParams>,
) -> Result<HttpResponse, ApiError> {
    for id in params
        .connected_account_id
        .iter()
        .chain(&params.connected_account_ids)
    {
        uuid("connected_account_id", id)?;
    }
    let state = state::lock(&data);
    let scope = match &caller {
        Caller::ApiKey => None,
        Caller::Session(id) => Some(
            (state.accounts.iter())
                .filter(|a| visible_to_session(&state, id, &a.id))
                .map(|a| a.id.clone())
                .collect::<Vec<_>>(),
        ),
    };
    let owned = (params.user_identifier_key.as_deref()).map(|key| state.accounts_of(key));
    let of_webview = match params.connect_webview_id.as_deref() {
        Some(id) => {
            uuid("connect_webview_id", id)?;
            Some(
                state
                    .webview(id)
                    .and_then(|w| w.connected_account_id.clone()),
            )
        }
        None => None,
    };
    let in_list = |list: &[String], id: &String| list.is_empty() || list.contains(id);
    let limit = params.limit.map_or(usize::MAX, |n| n as usize);
    let devices: Vec<Value> = state
        .devices
        .iter()
        .filter(|d| scope.as_ref().is_none_or(|ids| ids.contains(&d.account_id)))
        .filter(|d| owned.as_ref().is_none_or(|ids| ids.contains(&d.account_id)))
        .filter(|d| {
            of_webview
                .as_ref()
                .is_none_or(|id| id.as_ref() == Some(&d.account_id))
        })
        .filter(|d| (params.connected_account_id.as_ref()).is_none_or(|id| *id == d.account_id))
        .filter(|d| in_list(&params.connected_account_ids, &d.account_id))
        .filter(|d| in_list(&params.device_ids, &d.id))
        .take(limit)
        .map(|d| wire::device(d, &state.workspace_id))
        .collect();
    Ok(ok(json!({
        "devices": devices,
        "pagination": wire::pagination(None, None),
    })))
}
