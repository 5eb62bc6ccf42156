//! Logouts: the user's own (`DELETE /v1/client-session`), the admin API's revoke and the
//! identity provider's back-channel logout. Each ends the logins it concerns (`revocations`,
//! and the tokens remembered for them), here and in fleet mode on every replica, and ends the
//! user's Seam session so that its token stops working on every device.

use super::{Admission, Login, NoSuchUser};
use crate::auth::LogoutClaims;
use crate::fleet::Claim;
use crate::handshake::User;
use crate::seam::{SeamClient, SeamError};

/// Why a back-channel logout was not applied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogoutError {
    #[error("logout token `jti` already applied")]
    Replayed,
    /// The user's logins are ended, but their Seam session could not be ended; the logout
    /// token may be sent again.
    #[error("logins ended, but the Seam session could not be ended: {0}")]
    Incomplete(#[source] SeamError),
}

/// Why an admin revoke did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RevokeError {
    #[error(transparent)]
    User(#[from] NoSuchUser),
    #[error(transparent)]
    Seam(#[from] SeamError),
}

impl Admission {
    /// Logout: ends every login of the user issued so far, ends their live Seam session (Seam
    /// keeps one per user, so this signs them out on every device) and drops the cached one.
    pub(crate) async fn logout(
        &self,
        login: &Login,
        seam: &SeamClient,
    ) -> Result<usize, SeamError> {
        let (user_key, seam_key) = (&login.user.user_key, &login.user.user_identifier_key);
        let at = self.clock.unix_now();
        self.end_logins(user_key, Some(&login.user), at);
        if let Some(fleet) = &self.fleet {
            fleet.share_user_revoked(user_key, seam_key, at).await;
        }
        let ended = (self.end_sessions(seam_key, Some(&login.user), seam)).await?;
        self.after_sessions_ended(seam_key).await;
        Ok(ended)
    }

    /// A logout of any user of the issuer named `issuer` (needed when several are trusted),
    /// cached here or not (the admin API): their Seam key and how many sessions were ended.
    pub(crate) async fn revoke_user(
        &self,
        user_id: &str,
        issuer: Option<&str>,
        seam: &SeamClient,
    ) -> Result<(String, usize), RevokeError> {
        let namespace = self.identity.named(issuer)?;
        self.revoke_in(namespace, user_id, self.clock.unix_now(), seam)
            .await
    }

    /// A back-channel logout, from a verified logout token: with `sub`, a logout of that user
    /// as of the token's `iat` (bounded by now and the leeway, against a clock running ahead);
    /// with `sid`, every login carrying it is refused. Each logout token is applied once, in
    /// fleet mode once for the whole fleet (`fleet::Claim`).
    pub(crate) async fn backchannel_logout(
        &self,
        logout: LogoutClaims,
        seam: &SeamClient,
    ) -> Result<(), LogoutError> {
        let (issuer, jti) = (logout.issuer, logout.token_id.as_str());
        if !self.revocations.first_logout(issuer, jti) {
            return Err(LogoutError::Replayed);
        }
        // Given back (here and in the fleet) unless the logout completed: the provider's retry
        // of one that Seam failed or `server.request_timeout_ms` cut off is applied.
        let mut claim = Claim::new(|| self.revocations.retry_logout(issuer, jti));
        if let Some(fleet) = &self.fleet {
            let answer = fleet.claim_logout(issuer, jti).await;
            claim.in_fleet(answer).map_err(|_| LogoutError::Replayed)?;
        }
        if let Some(sid) = &logout.session_id {
            self.end_identity_session(issuer, sid);
            if let Some(fleet) = &self.fleet {
                fleet.share_session_ended(issuer, sid).await;
            }
        }
        let Some(user_id) = &logout.user_id else {
            claim.keep();
            return Ok(());
        };
        let at = (logout.issued_at).min(self.clock.unix_now().saturating_add(self.leeway));
        let namespace = self.identity.of_issuer(issuer);
        match self.revoke_in(namespace, user_id, at, seam).await {
            // An id that names no user here has no logins here.
            Ok(_) | Err(RevokeError::User(_)) => {
                claim.keep();
                Ok(())
            }
            Err(RevokeError::Seam(error)) => Err(LogoutError::Incomplete(error)),
        }
    }

    /// Another replica ended every login of this user until `at`.
    pub(crate) async fn user_revoked_elsewhere(&self, user_key: &str, at: u64) {
        self.revocations.revoke(user_key, at);
        if let Some(user) = self.users.get(user_key) {
            user.tokens.forget_all();
            user.session.clear(&user.flight).await;
        }
    }

    /// Refuses from now on every login carrying the identity-provider session `sid`, the
    /// remembered ones too.
    pub(crate) fn end_identity_session(&self, issuer: usize, sid: &str) {
        if let Some(key) = self.revocations.end_session(issuer, sid)
            && let Some(user) = self.users.get(&key)
        {
            // Its remembered logins are checked again, and those carrying `sid` refused.
            user.tokens.forget_all();
        }
    }

    /// A logout of `user_id` in `namespace` as of `at`: their Seam key and how many sessions
    /// were ended.
    async fn revoke_in(
        &self,
        namespace: usize,
        user_id: &str,
        at: u64,
        seam: &SeamClient,
    ) -> Result<(String, usize), RevokeError> {
        let key = self.identity.user_key(namespace, user_id)?;
        let seam_key =
            (self.identity.derived_key(namespace, &key)).unwrap_or_else(|| key.to_string());
        let cached = self.users.get(&key);
        self.end_logins(&key, cached.as_deref(), at);
        if let Some(fleet) = &self.fleet {
            fleet.share_user_revoked(&key, &seam_key, at).await;
        }
        let revoked = (self.end_sessions(&seam_key, cached.as_deref(), seam)).await?;
        self.after_sessions_ended(&seam_key).await;
        Ok((seam_key, revoked))
    }

    /// Refuses from now on every login of the user issued until `at`, the remembered ones too.
    pub(super) fn end_logins(&self, user_key: &str, cached: Option<&User>, at: u64) {
        self.revocations.revoke(user_key, at);
        if let Some(user) = cached {
            user.tokens.forget_all();
        }
    }

    /// A replica may have fetched the session again between the revocation and its end at
    /// Seam (a sign-in just then): it drops what is now dead.
    async fn after_sessions_ended(&self, user_identifier_key: &str) {
        if let Some(fleet) = &self.fleet {
            fleet.share_session_dropped(user_identifier_key).await;
        }
    }

    /// Ends every live Seam session of the user and drops the cached one: their tokens stop
    /// working at once, on every device. Returns how many were ended.
    ///
    /// Deleted, not revoked: a revoked session stays in Seam's list, so each logout would end
    /// the user's whole history again, and nothing Seam documents says `get_or_create` will not
    /// hand a revoked session back; a deleted one is gone. Expired sessions are left alone, as
    /// their tokens already fail. Seam's `/client_sessions/list` is not paginated (its schema
    /// has no `pagination`), so this is one list call and, as Seam keeps one session per
    /// user, at most one delete.
    async fn end_sessions(
        &self,
        user_identifier_key: &str,
        cached: Option<&User>,
        seam: &SeamClient,
    ) -> Result<usize, SeamError> {
        // Drop first: a handshake racing with this must not serve the old token from here.
        if let Some(user) = cached {
            user.session.clear(&user.flight).await;
        }
        let now = self.clock.now();
        let sessions = seam.list_sessions(Some(user_identifier_key)).await?;
        let live: Vec<_> = sessions.iter().filter(|s| s.expires_at > now).collect();
        for session in &live {
            self.provenance.before_deleting(session).await;
            seam.delete_session(&session.client_session_id).await?;
        }
        if let Some(user) = cached {
            user.session.clear(&user.flight).await;
        }
        Ok(live.len())
    }
}
