//! Logins from a real OpenID provider, panva's `oidc-provider` (`tests/oidc`): ID tokens got
//! with the authorization code flow and PKCE through the provider's own login and consent
//! pages verify against its key set, and its RP-initiated logout ends the login here through
//! its back-channel logout, after which the user signs in again at once.

use seam_bff::clock::Clock;
use seam_stand_in::AccountSpec;
use time::OffsetDateTime;

use crate::helpers::{Options, TestApp, spawn_app_with};
use crate::oidc_provider::OidcProvider;

/// The service configured for the provider as the README's recipe says (by its issuer URL:
/// the provider's own discovery document names its key set and algorithms), and the
/// provider's client registered with the service's back-channel logout endpoint.
async fn app_for(provider: &mut OidcProvider) -> TestApp {
    let (issuer, client_id) = (provider.issuer.clone(), provider.client_id.clone());
    let app = spawn_app_with(Options::default().with(move |s| {
        s.auth.issuer = Some(issuer.clone());
        s.auth.audience = Some(client_id.clone());
        s.auth.hs256_secret = None;
        s.auth.algorithms = Vec::new();
        s.auth.discovery = true;
        s.auth.backchannel_logout = true;
    }))
    .await;
    provider.register(&app.address).await;
    app
}

/// Moves the app's frozen clock to the real time: the provider's tokens carry real times
/// (`iat`, `exp`), and a logout marks the app clock's second.
fn catch_up(app: &TestApp) {
    let behind = OffsetDateTime::now_utc() - app.clock.now();
    if behind.is_positive() {
        app.clock.advance(behind);
    }
}

#[actix_web::test]
async fn a_real_providers_sign_in_logout_and_immediate_sign_in_again() {
    let mut provider = OidcProvider::start().await;
    let app = app_for(&mut provider).await;
    let user = format!("oidc-{}", uuid::Uuid::new_v4());
    let account = app.seam.add_connected_account(AccountSpec::owned_by(&user));

    let first = provider.sign_in(&user).await;
    catch_up(&app);
    let signed_in = app.handshake_with(&first).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    assert_eq!(signed_in.account_ids(), vec![account.clone()]);
    assert_eq!(app.devices_status(signed_in.token()).await, 200);

    catch_up(&app);
    let (delivered, failed) = provider.sign_out().await;
    assert_eq!((delivered, failed), (1, vec![]), "the back-channel logout");
    let ended = app.handshake_with(&first).await;
    assert_eq!(
        (ended.status, ended.code()),
        (401, "login_revoked"),
        "{}",
        ended.text
    );
    assert_eq!(
        app.devices_status(signed_in.token()).await,
        401,
        "the Seam session ended too"
    );

    let again = provider.sign_in(&user).await;
    assert_ne!(again, first);
    catch_up(&app);
    let signed_in_again = app.handshake_with(&again).await;
    assert_eq!(
        signed_in_again.status, 200,
        "signing in again at once works: {}",
        signed_in_again.text
    );
    assert_eq!(signed_in_again.account_ids(), vec![account]);
    assert_eq!(app.devices_status(signed_in_again.token()).await, 200);
}
