//! Seam's customers, as far as the stand-in models them: a `customer_key` names one, and its
//! first use (by a session, a Connect Webview or an account) makes it, with a `customer_id`
//! that `/client_sessions/create` takes in the key's place. A client session made with a
//! customer is Seam's `client_session_with_customer`, an admin credential over that
//! customer's resources.

use uuid::Uuid;

use super::State;
use crate::error::ApiError;

#[derive(Clone, Debug)]
pub(crate) struct Customer {
    pub(crate) id: String,
    pub(crate) key: String,
}

impl State {
    /// The customer of `key`, made on its first use.
    pub(crate) fn customer(&mut self, key: &str) -> &Customer {
        let index = match self.customers.iter().position(|c| c.key == key) {
            Some(index) => index,
            None => {
                self.customers.push(Customer {
                    id: Uuid::new_v4().to_string(),
                    key: key.to_owned(),
                });
                self.customers.len() - 1
            }
        };
        &self.customers[index]
    }

    /// The customer a request names by `customer_key`, `customer_id` or both (which must agree).
    pub(crate) fn named_customer(
        &mut self,
        key: Option<&str>,
        id: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        let by_id = match id {
            None => None,
            Some(id) => Some(
                (self.customers.iter())
                    .find(|c| c.id == id)
                    .map(|c| c.key.clone())
                    .ok_or_else(|| {
                        ApiError::invalid_input(format!(
                            "customer_id: no customer {id} (the stand-in knows a customer once \
                             its customer_key has been used)"
                        ))
                    })?,
            ),
        };
        match (key, by_id) {
            (Some(key), Some(by_id)) if key != by_id => Err(ApiError::invalid_input(
                "customer_key and customer_id name different customers",
            )),
            (Some(key), _) => Ok(Some(self.customer(key).key.clone())),
            (None, by_id) => Ok(by_id),
        }
    }

    /// The customer a session acts for, when it was made with one.
    pub(crate) fn session_customer(&self, session_id: &str) -> Option<String> {
        let index = self.session_index(session_id)?;
        self.sessions[index].customer_key.clone()
    }
}
