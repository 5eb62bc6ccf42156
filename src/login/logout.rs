//! Logouts: the user's own (`DELETE /v1/client-session`), the admin API's revoke and the
//! identity provider's back-channel logout. Each ends the logins it concerns (`revocations`,
//! and the tokens remembered for them), here and in fleet mode on every replica, and ends the
//! user's Seam session so that its token stops working on every device.

use super::records::Full;
use super::revocations::SameSecond;
use super::seen::Complete;
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
    /// The revocation store is full of records still needed: nothing was applied, and the
    /// logout token may be sent again.
    #[error(transparent)]
    Full(#[from] Full),
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
    /// The revocation store is full of records still needed: nothing was ended.
    #[error(transparent)]
    Full(#[from] Full),
}

impl Admission {
    /// Logout: ends every login of the user issued so far, ends their live Seam session (Seam
    /// keeps one per user, so this signs them out on every device) and drops the cached one.
    /// A login issued in the logout's second and never seen here is a sign-in after it.
    pub(crate) async fn logout(
        &self,
        login: &Login,
        seam: &SeamClient,
    ) -> Result<usize, RevokeError> {
        let (user_key, seam_key) = (&login.user.user_key, &login.user.user_identifier_key);
        let at = self.clock.unix_now();
        let rule = self.end_logins(user_key, Some(&login.user), at, SameSecond::Unseen)?;
        if let Some(fleet) = &self.fleet {
            (fleet.share_user_revoked(user_key, seam_key, at, rule.record())).await;
        }
        let ended = (self.end_sessions(seam_key, Some(&login.user), seam)).await?;
        self.after_sessions_ended(seam_key).await;
        Ok(ended)
    }

    /// A logout of any user of the issuer named `issuer` (needed when several are trusted),
    /// cached here or not (the admin API), refusing every login of its second: their Seam key
    /// and how many sessions were ended.
    pub(crate) async fn revoke_user(
        &self,
        user_id: &str,
        issuer: Option<&str>,
        seam: &SeamClient,
    ) -> Result<(String, usize), RevokeError> {
        let namespace = self.identity.named(issuer)?;
        // An operator's revoke is about logins the service may never have seen (a stolen
        // copy): its whole second is refused, and a sign-in works from the next one.
        let at = self.clock.unix_now();
        (self.revoke_in(namespace, user_id, (at, SameSecond::Refused), seam)).await
    }

    /// A back-channel logout, from a verified logout token: with `sub`, a logout of that user
    /// as of the token's `iat` (bounded by now and the leeway, against a clock running ahead),
    /// where a login of that second never seen here is accepted only with a `sid` not ended
    /// (a new sign-in at the provider); with `sid`, every login carrying it is refused. Each
    /// logout token is applied once, in fleet mode once for the whole fleet (`fleet::Claim`).
    pub(crate) async fn backchannel_logout(
        &self,
        logout: LogoutClaims,
        seam: &SeamClient,
    ) -> Result<(), LogoutError> {
        let (issuer, jti) = (logout.issuer, logout.token_id.as_str());
        if !self.revocations.first_logout(issuer, jti)? {
            return Err(LogoutError::Replayed);
        }
        // Given back (here and in the fleet) unless the logout completed: the provider's retry
        // of one that Seam failed, the full revocation store refused or
        // `server.request_timeout_ms` cut off is applied.
        let mut claim = Claim::new(|| self.revocations.retry_logout(issuer, jti));
        if let Some(fleet) = &self.fleet {
            let answer = fleet.claim_logout(issuer, jti).await;
            claim.in_fleet(answer).map_err(|_| LogoutError::Replayed)?;
        }
        if let Some(sid) = &logout.session_id {
            self.end_identity_session(issuer, sid)?;
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
        match (self.revoke_in(namespace, user_id, (at, SameSecond::NewSession), seam)).await {
            // An id that names no user here has no logins here.
            Ok(_) | Err(RevokeError::User(_)) => {
                claim.keep();
                Ok(())
            }
            Err(RevokeError::Seam(error)) => Err(LogoutError::Incomplete(error)),
            Err(RevokeError::Full(full)) => Err(full.into()),
        }
    }

    /// Another replica ended every login of this user until `at`. Which logins of second `at`
    /// it ended, the fleet's record tells when they come again (`admit`).
    pub(crate) async fn user_revoked_elsewhere(&self, user_key: &str, at: u64) {
        let cached = self.users.get(user_key);
        // Full: said loudly; Redis holds the revocation for the fleet, and every login this
        // replica has not remembered asks it (the remembered ones are forgotten all the same).
        let _ = self.end_logins(user_key, cached.as_deref(), at, SameSecond::Unseen);
        if let Some(user) = cached {
            user.session.clear(&user.flight).await;
        }
    }

    /// Refuses from now on every login carrying the identity-provider session `sid`, the
    /// remembered ones too.
    pub(crate) fn end_identity_session(&self, issuer: usize, sid: &str) -> Result<(), Full> {
        let (key, ended) = self.revocations.end_session(issuer, sid);
        if let Some(key) = key
            && let Some(user) = self.users.get(&key)
        {
            // Its remembered logins are checked again, and those carrying `sid` refused.
            user.tokens.forget_all();
        }
        ended
    }

    /// A logout of `user_id` in `namespace` as of `at`, treating unseen logins of that second
    /// as `same_second` says: their Seam key and how many sessions were ended.
    async fn revoke_in(
        &self,
        namespace: usize,
        user_id: &str,
        (at, same_second): (u64, SameSecond),
        seam: &SeamClient,
    ) -> Result<(String, usize), RevokeError> {
        let key = self.identity.user_key(namespace, user_id)?;
        let seam_key =
            (self.identity.derived_key(namespace, &key)).unwrap_or_else(|| key.to_string());
        let cached = self.users.get(&key);
        let rule = self.end_logins(&key, cached.as_deref(), at, same_second)?;
        if let Some(fleet) = &self.fleet {
            (fleet.share_user_revoked(&key, &seam_key, at, rule.record())).await;
        }
        let revoked = (self.end_sessions(&seam_key, cached.as_deref(), seam)).await?;
        self.after_sessions_ended(&seam_key).await;
        Ok((seam_key, revoked))
    }

    /// Refuses from now on every login of the user issued before `at`, those of second `at`
    /// seen so far, and the others of that second as `same_second` says; the remembered ones
    /// too. Answers the rule applied: when this replica may not know every login of that
    /// second it saw (`seen`), the whole second is refused. `Full`: not recorded (said
    /// loudly); the remembered logins are forgotten all the same.
    pub(super) fn end_logins(
        &self,
        user_key: &str,
        cached: Option<&User>,
        at: u64,
        same_second: SameSecond,
    ) -> Result<SameSecond, Full> {
        let (rule, seen) = match self.seen.of_second(user_key, at, self.clock.unix_now()) {
            Complete::Yes(seen) => (same_second, seen),
            Complete::No => (SameSecond::Refused, Vec::new()),
        };
        let recorded = self.revocations.revoke(user_key, at, rule, &seen);
        if let Some(user) = cached {
            user.tokens.forget_all();
        }
        recorded.map(|()| rule)
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
