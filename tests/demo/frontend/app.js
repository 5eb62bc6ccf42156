// The example frontend for seam-bff: the app's login goes in, a Seam client session token comes
// out; the token is renewed at `refresh_after` and used with Seam's own JS SDK, straight from
// the browser, to list the user's devices and to connect a new account (a Connect Webview).
// Plain browser JavaScript; "@seamapi/http" is the npm package (here through an import map).
import { SeamHttp } from "@seamapi/http";

const { bff, seam, oidc } = await (await fetch("/config.json")).json();

/** A failed call, with the service's stable error code when it sent one. */
class CallError extends Error {
  constructor(status, code) {
    super(code ?? `http_${status}`);
    this.status = status;
  }
}

/**
 * A request to seam-bff as `login`. Bearer mode sends the app's login token (or the OpenID
 * provider's ID token); cookie mode lets the browser send the login cookie (`credentials:
 * "include"`) and proves it is no cross-site form with `X-CSRF: 1`.
 */
function asLogin(login, method) {
  return login.mode === "bearer"
    ? { method, headers: { Authorization: `Bearer ${login.token}` } }
    : { method, credentials: "include", headers: { "X-CSRF": "1" } };
}

/** The handshake: `{ token, expires_at, refresh_after, client_session_id, ... }`. */
async function getClientSession(login) {
  const response = await fetch(`${bff}/v1/client-session`, asLogin(login, "POST"));
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new CallError(response.status, body?.error?.code);
  }
  return response.json();
}

/** Seam's SDK with the client session token: it sees only this user's devices. */
function seamFor(token) {
  return SeamHttp.fromClientSessionToken(token, { endpoint: seam });
}

/** The user's devices at Seam (the SDK's errors carry Seam's status and error type). */
async function listDevices(token) {
  try {
    return await seamFor(token).devices.list();
  } catch (error) {
    throw new CallError(error.statusCode ?? 0, error.code);
  }
}

/**
 * Connects a new account to the user's session: a Connect Webview made with the token (what
 * Seam Components' ConnectAccountButton does), opened as a popup; when the user has finished
 * and it closes, a handshake shows the new account's devices. The account joins the session
 * the token belongs to, so the token in hand keeps working.
 */
async function connectAccount() {
  const webview = await seamFor(session.token).connectWebviews.create({
    custom_redirect_url: location.href,
  });
  document.getElementById("webview").textContent = `Connecting (${webview.connect_webview_id})…`;
  const popup = window.open(webview.url, "connect-webview", "width=480,height=640");
  if (!popup) {
    location.assign(webview.url); // popups blocked: the webview returns to custom_redirect_url
    return;
  }
  const closed = setInterval(() => {
    if (!popup.closed) return;
    clearInterval(closed);
    document.getElementById("webview").textContent = "";
    handshake();
  }, 250);
}

let login = null; // { user, mode: "bearer", token } or { user, mode: "cookie" }
let session = null; // the last handshake's answer
let handshakes = 0;
let timer = null;

async function handshake() {
  try {
    const fresh = await getClientSession(login);
    handshakes += 1;
    const devices = await listDevices(fresh.token);
    session = fresh;
    render(devices);
    schedule(Date.parse(fresh.refresh_after) - Date.now());
  } catch (error) {
    // A login the service refuses ends the sign-in. Anything else (Seam or the network having a
    // bad minute) is retried while the token in hand is still valid, without bothering the user.
    const stillValid = session && Date.parse(session.expires_at) > Date.now();
    if (error instanceof CallError && error.status === 401) {
      signedOut(`Please sign in again (${error.message}).`);
    } else if (stillValid) {
      schedule(5000);
    } else {
      showError(`Could not get a Seam session: ${error.message}`);
      schedule(5000);
    }
  }
}

/** The next handshake, never sooner than a second: a clock a little ahead must not spin. */
function schedule(delayMs) {
  clearTimeout(timer);
  timer = setTimeout(handshake, Math.max(delayMs, 1000));
}

function render(devices) {
  const $ = (id) => document.getElementById(id);
  $("user").textContent = login.user;
  $("mode").textContent = login.mode;
  $("client-session-id").textContent = session.client_session_id;
  $("expires-at").textContent = session.expires_at;
  $("expires-at").dateTime = session.expires_at;
  $("refresh-after").textContent = session.refresh_after;
  $("refresh-after").dateTime = session.refresh_after;
  $("handshakes").textContent = String(handshakes);
  $("devices").replaceChildren(
    ...devices.map((device) => {
      const item = document.createElement("li");
      item.textContent = device.display_name;
      return item;
    }),
  );
  $("error").hidden = true;
  $("session").hidden = false;
  $("sign-in").hidden = true;
}

function showError(message) {
  const error = document.getElementById("error");
  error.textContent = message;
  error.hidden = false;
}

function signedOut(message) {
  clearTimeout(timer);
  login = session = null;
  handshakes = 0;
  document.getElementById("session").hidden = true;
  document.getElementById("sign-in").hidden = false;
  if (message) showError(message);
}

document.getElementById("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const user = form.get("user");
  const mode = form.get("mode");
  // The app's own sign-in (here the demo's stand-in identity provider). In cookie mode the
  // token stays in an HttpOnly cookie that this script never sees.
  const response = await fetch("/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user, mode }),
  });
  if (!response.ok) return showError(`Sign-in failed (${response.status})`);
  const { token } = await response.json(); // bearer mode only
  login = mode === "bearer" ? { user, mode, token } : { user, mode };
  await handshake();
});

document.getElementById("connect").addEventListener("click", () =>
  connectAccount().catch((error) => showError(`Could not connect an account: ${error.message}`)),
);

document.getElementById("sign-out").addEventListener("click", async () => {
  // Revokes the user's Seam session (on every device: Seam keeps one per user), then the app's.
  await fetch(`${bff}/v1/client-session`, asLogin(login, "DELETE")).catch(() => {});
  await fetch("/logout", { method: "POST" });
  signedOut();
});

// Signing in at a real OpenID provider, when the demo trusts one: the authorization code flow
// with PKCE, run by the page itself as a public client (no secret). The ID token it gets is
// the login sent to seam-bff, which verifies it with the provider's key set.

const base64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const randomValue = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
/** Where the provider sends the browser back: this page, registered with the provider. */
const redirectUri = () => `${location.origin}/`;

async function providerMetadata() {
  const response = await fetch(`${oidc.issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`discovery: ${response.status}`);
  return response.json();
}

/** To the provider's authorization endpoint, remembering the PKCE verifier, state and nonce. */
async function startProviderSignIn() {
  const { authorization_endpoint } = await providerMetadata();
  const [verifier, state, nonce] = [randomValue(), randomValue(), randomValue()];
  sessionStorage.setItem("oidc", JSON.stringify({ verifier, state, nonce }));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const url = new URL(authorization_endpoint);
  const query = {
    client_id: oidc.client_id,
    response_type: "code",
    scope: "openid",
    redirect_uri: redirectUri(),
    code_challenge: base64url(digest),
    code_challenge_method: "S256",
    state,
    nonce,
  };
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  location.assign(url);
}

/** Back from the provider: the code exchanged for the ID token, then the handshake with it. */
async function finishProviderSignIn(params) {
  const pending = JSON.parse(sessionStorage.getItem("oidc") ?? "null");
  sessionStorage.removeItem("oidc");
  history.replaceState(null, "", location.pathname); // the code is spent; not for the history
  if (!pending || params.get("state") !== pending.state) throw new Error("unexpected state");
  if (params.has("error")) throw new Error(params.get("error"));
  const { token_endpoint } = await providerMetadata();
  const response = await fetch(token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: redirectUri(),
      client_id: oidc.client_id,
      code_verifier: pending.verifier,
    }),
  });
  const tokens = await response.json();
  if (!response.ok || !tokens.id_token) throw new Error(tokens.error ?? `token endpoint: ${response.status}`);
  // Read, not verified: it came straight from the token endpoint (OpenID Connect Core
  // §3.1.3.7); seam-bff verifies its signature, issuer, audience and times.
  const payload = tokens.id_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const claims = JSON.parse(atob(payload));
  if (claims.nonce !== pending.nonce) throw new Error("unexpected nonce");
  login = { user: claims.sub, mode: "bearer", token: tokens.id_token };
  await handshake();
}

if (oidc) {
  document.getElementById("oidc").hidden = false;
  document.getElementById("oidc-sign-in").addEventListener("click", () =>
    startProviderSignIn().catch((error) => showError(`Could not sign in: ${error.message}`)),
  );
  const params = new URLSearchParams(location.search);
  if (params.has("state")) {
    finishProviderSignIn(params).catch((error) => showError(`Could not sign in: ${error.message}`));
  }
}
