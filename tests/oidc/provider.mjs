// A real OpenID provider for seam-bff's tests: panva's oidc-provider (OpenID Certified), with
// its built-in login and consent pages (any login, any password), the authorization code flow
// with PKCE for one public client, RP-initiated logout, and back-channel logout.
//
// Shared by the Rust tests (tests/support/oidc_provider.rs, through serve.mjs) and the browser
// test (tests/browser/e2e.test.mjs).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

/** The client id of the example app: the service's `auth.audience`. */
export const CLIENT_ID = 'seam-bff-example';

/**
 * The provider at `issuer`, its one client registered with the service's back-channel logout
 * endpoint and the app's redirect URIs.
 */
export function makeProvider(issuer, { backchannelLogoutUri, redirectUris, postLogoutRedirectUris }) {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        // A public client (a page or an app): no secret, PKCE instead.
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: redirectUris,
        post_logout_redirect_uris: postLogoutRedirectUris,
        id_token_signed_response_alg: 'RS256',
        backchannel_logout_uri: backchannelLogoutUri,
        // Logout tokens and ID tokens carry `sid`, so that one session can be ended.
        backchannel_logout_session_required: true,
      },
    ],
    jwks: { keys: [{ ...key, kid: 'example-rs256', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
    },
    // Test only: the provider's guard refuses to post logout tokens to loopback addresses,
    // where the service under test listens.
    fetch: (url, options) => {
      delete options.dispatcher;
      return globalThis.fetch(url, options);
    },
  });
  // Behind nothing: plain HTTP on loopback.
  provider.proxy = false;
  return provider;
}

/**
 * A listener on 127.0.0.1, port 0, for a provider made later: the issuer is known at once (to
 * configure the service with), and `serve(registration)` makes the provider once the service's
 * address is known (see `makeProvider`). Requests that arrive before that wait.
 */
export async function listen() {
  let handle;
  const handler = new Promise((resolve) => { handle = resolve; });
  const server = http.createServer(async (req, res) => (await handler)(req, res));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  return {
    issuer,
    serve(registration) {
      const provider = makeProvider(issuer, registration);
      handle(provider.callback());
      return provider;
    },
    close: () => server.close(),
  };
}
