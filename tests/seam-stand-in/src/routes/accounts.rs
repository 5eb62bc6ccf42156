//! `/connected_accounts/*`. Who may list: the API key (every account), and a client session
//! made with a customer (Seam's `client_session_with_customer`: that customer's accounts); a
//! plain client session may not. A session token reads one account only when its session holds
//! it or, for a customer's session, when the account is the customer's.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{Data, ListParams, ok, page_body, read};
use crate::{
    error::ApiError,
    extract::Params,
    params,
    state::{self, AccountQuery, Caller, State},
    wire,
};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(read("/connected_accounts/list", list))
        .service(read("/connected_accounts/get", get));
}

async fn list(
    caller: Caller,
    data: Data,
    req: HttpRequest,
    Params(p): Params<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let mut query = AccountQuery {
        filters: p.filters()?,
        within_customer: None,
    };
    let mut state = state::lock(&data);
    if let Some(id) = caller.session_id() {
        let customer = state.session_customer(id);
        query.within_customer =
            Some(customer.ok_or_else(ApiError::client_session_token_used_for_api_key)?);
    }
    let page = state.list_accounts(&query)?;
    let account = |a: &_| wire::account(a, &state.workspace_id);
    Ok(page_body(&req, "connected_accounts", &page, account))
}

/// By id only: Seam's other way, by `email`, is not modelled (and so refused).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct GetParams {
    connected_account_id: Option<String>,
}

/// The accounts a session token may read: those its session holds, and for a customer's
/// session also the customer's.
pub(super) fn visible_to_session(state: &State, session_id: &str, account_id: &str) -> bool {
    let Some(index) = state.session_index(session_id) else {
        return false;
    };
    let session = &state.sessions[index];
    session
        .connected_account_ids
        .iter()
        .any(|id| id == account_id)
        || (session.customer_key.as_ref()).is_some_and(|key| {
            (state.account(account_id)).is_some_and(|a| a.customer_key.as_ref() == Some(key))
        })
}

async fn get(
    caller: Caller,
    data: Data,
    Params(params): Params<GetParams>,
) -> Result<HttpResponse, ApiError> {
    let id = params::required_uuid(
        "connected_account_id",
        params.connected_account_id.as_deref(),
    )?;
    let state = state::lock(&data);
    // Others' accounts look absent rather than forbidden, so that a token cannot probe which
    // ids exist.
    if let Caller::Session(session_id) = &caller
        && !visible_to_session(&state, session_id, id)
    {
        return Err(ApiError::account_not_found());
    }
    let account = state.account(id).ok_or_else(ApiError::account_not_found)?;
    Ok(ok(
        json!({ "connected_account": wire::account(account, &state.workspace_id) }),
    ))
}
