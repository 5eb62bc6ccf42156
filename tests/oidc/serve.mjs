// The provider on 127.0.0.1, port 0, for the Rust tests (tests/support/oidc_provider.rs). It
// listens at once and prints `{"issuer"}`, so that the service can be configured with the
// issuer; then it reads one JSON line with the service's back-channel logout URI and the
// redirect URIs, registers its client with them and prints `{"ready":true}`. Requests that
// arrive before that wait. After that, each line on stdin is a command for the user agent
// (agent.mjs), answered by one JSON line: {"sign_in": "<user>"} → {"id_token"},
// {"sign_out": true} → {"signed_out": true, "backchannel": {"delivered", "failed"}} (its
// back-channel logouts since the last sign-out); errors are {"error"}. It exits when stdin closes.

import readline from 'node:readline';
import { CLIENT_ID, listen } from './provider.mjs';
import { UserAgent } from './agent.mjs';

// stdout is for the protocol alone: the provider's notices go to stderr.
console.log = console.info = console.warn;

const listener = await listen();
const { issuer } = listener;
const say = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
say({ issuer, client_id: CLIENT_ID });

let agent;
// What the provider's back-channel logouts came to, told with each sign-out.
const backchannel = { delivered: 0, failed: [] };
const lines = readline.createInterface({ input: process.stdin });
lines.on('close', () => process.exit(0));
for await (const line of lines) {
  try {
    const input = JSON.parse(line);
    if (!agent) {
      const provider = listener.serve({
        backchannelLogoutUri: input.backchannel_logout_uri,
        redirectUris: input.redirect_uris,
        postLogoutRedirectUris: input.post_logout_redirect_uris,
      });
      provider.on('backchannel.success', () => { backchannel.delivered += 1; });
      provider.on('backchannel.error', (_ctx, error) => { backchannel.failed.push(String(error)); });
      agent = new UserAgent(issuer, CLIENT_ID, input.redirect_uris[0], input.post_logout_redirect_uris[0]);
      say({ ready: true });
    } else if (input.sign_in) {
      say({ id_token: await agent.signIn(input.sign_in) });
    } else if (input.sign_out) {
      await agent.signOut();
      say({ signed_out: true, backchannel: { ...backchannel } });
      Object.assign(backchannel, { delivered: 0, failed: [] });
    } else {
      say({ error: 'unknown command' });
    }
  } catch (error) {
    say({ error: String(error?.stack ?? error) });
  }
}
