// A user agent for the Rust tests: it does what a browser and a public client's code do, over
// real HTTP against the provider: the authorization code flow with PKCE (the authorization
// request, the provider's login form with any password, its consent form, the redirect with
// the code, the code exchanged at the token endpoint) and RP-initiated logout (the end-session
// endpoint with `id_token_hint`, its confirmation form). Cookies are kept like a browser's, for
// the provider's one origin.

import { createHash, randomBytes } from 'node:crypto';

const random = () => randomBytes(32).toString('base64url');

export class UserAgent {
  constructor(issuer, clientId, redirectUri, postLogoutRedirectUri) {
    Object.assign(this, { issuer, clientId, redirectUri, postLogoutRedirectUri });
    this.cookies = new Map();
  }

  async discovery() {
    this.metadata ??= await (await fetch(`${this.issuer}/.well-known/openid-configuration`)).json();
    return this.metadata;
  }

  /** One request with the cookie jar, no redirect followed. */
  async request(url, { method = 'GET', form } = {}) {
    const headers = { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const response = await fetch(url, { method, headers, body, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair, ...attributes] = cookie.split(';');
      const at = pair.indexOf('=');
      const [name, value] = [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || value === '';
      if (expired) this.cookies.delete(name); else this.cookies.set(name, value);
    }
    return response;
  }

  /**
   * Follows redirects and submits the provider's forms (login with `user`, consent, logout
   * confirmation) until a redirect leaves the provider: that URL.
   */
  async browse(url, user) {
    let next = { url, method: 'GET' };
    for (let step = 0; step < 20; step += 1) {
      const response = await this.request(next.url, next);
      const location = response.headers.get('location');
      if (location) {
        const target = new URL(location, next.url);
        if (target.origin !== new URL(this.issuer).origin) return target;
        next = { url: target.href, method: 'GET' };
        continue;
      }
      const page = await response.text();
      if (response.status !== 200) throw new Error(`${response.status} at ${next.url}: ${page.slice(0, 500)}`);
      next = submit(page, next.url, user);
    }
    throw new Error('too many steps');
  }

  /** The authorization code flow with PKCE for `user`: the ID token. */
  async signIn(user) {
    const { authorization_endpoint, token_endpoint } = await this.discovery();
    const verifier = random();
    const state = random();
    const nonce = random();
    const authorize = new URL(authorization_endpoint);
    Object.entries({
      client_id: this.clientId,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: this.redirectUri,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state,
      nonce,
    }).forEach(([k, v]) => authorize.searchParams.set(k, v));
    const back = await this.browse(authorize.href, user);
    if (back.searchParams.get('state') !== state) throw new Error(`wrong state: ${back}`);
    const code = back.searchParams.get('code');
    if (!code) throw new Error(`no code: ${back}`);
    const tokens = await fetch(token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: this.redirectUri,
        client_id: this.clientId,
        code_verifier: verifier,
      }).toString(),
    });
    const body = await tokens.json();
    if (!body.id_token) throw new Error(`token endpoint: ${JSON.stringify(body)}`);
    this.idToken = body.id_token;
    return body.id_token;
  }

  /** RP-initiated logout of the last sign-in, confirmed on the provider's page. */
  async signOut() {
    const { end_session_endpoint } = await this.discovery();
    const end = new URL(end_session_endpoint);
    end.searchParams.set('id_token_hint', this.idToken);
    end.searchParams.set('post_logout_redirect_uri', this.postLogoutRedirectUri);
    const back = await this.browse(end.href);
    if (back.href !== this.postLogoutRedirectUri) throw new Error(`logout ended at ${back}`);
  }
}

/** The request a person makes on one of the provider's pages: fill in the form, submit it. */
function submit(page, url, user) {
  const form = page.match(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/);
  if (!form) throw new Error(`no form at ${url}: ${page.slice(0, 500)}`);
  const fields = {};
  for (const [, input] of form[2].matchAll(/<input([^>]*)>/g)) {
    const name = input.match(/name="([^"]*)"/)?.[1];
    if (name) fields[name] = input.match(/value="([^"]*)"/)?.[1] ?? '';
  }
  if ('login' in fields) Object.assign(fields, { login: user, password: 'any password' });
  // The logout page's "Yes, sign me out" button sits outside its form.
  if (/name="logout"/.test(page)) fields.logout = 'yes';
  return { url: new URL(form[1], url).href, method: 'POST', form: fields };
}
