//! From the app's user id to Seam's `user_identifier_key`.

use std::borrow::Cow;

use crate::config::IdentitySettings;

pub(crate) struct Identity {
    key_prefix: String,
}

impl Identity {
    pub(crate) fn from_settings(settings: &IdentitySettings) -> Self {
        Self {
            key_prefix: settings.key_prefix.clone(),
        }
    }

    /// `identity.key_prefix` + the user id; borrowed when there is no prefix (the common case,
    /// and the hot path).
    pub(crate) fn user_identifier_key<'a>(&self, user_id: &'a str) -> Cow<'a, str> {
        if self.key_prefix.is_empty() {
            Cow::Borrowed(user_id)
        } else {
            Cow::Owned(format!("{}{user_id}", self.key_prefix))
        }
    }
}
