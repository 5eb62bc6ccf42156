// The example frontend in headless Chromium against the demo stack: the page on one loopback
// origin, seam-bff on a second, the stand-in Seam on a third, and a page the service does not
// allow on a fourth. Run by tests/browser/run, which installs Chromium and builds the demo.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import { listen } from "../oidc/provider.mjs";

const DEMO =
  process.env.SEAM_BFF_DEMO ?? new URL("../../target/debug/examples/demo", import.meta.url).pathname;

// Short lifetimes so that a token reaches refresh_after within the test: issued for 6 s, handed
// out while more than 3 s remain, so the page asks again 3 s after each renewal.
const STACK_ENV = {
  SEAM_BFF__SERVER__BIND: "127.0.0.1:0",
  SEAM_BFF__MANAGEMENT__BIND: "127.0.0.1:0",
  SEAM_BFF__SESSIONS__TTL_SECS: "6",
  SEAM_BFF__SESSIONS__MIN_REMAINING_SECS: "3",
  SEAM_BFF__SESSIONS__STALE_MIN_REMAINING_SECS: "1",
  SEAM_BFF__SESSIONS__REFRESH_AHEAD_SECS: "0",
  RUST_LOG: "warn",
};

const ALICE_DEVICES = ["Front door", "Garage"];
/** Screenshots, kept as test artifacts. */
const ARTIFACTS = new URL("../../target/browser-artifacts", import.meta.url).pathname;
const BOB_DEVICES = ["Bob's flat"];

let stack; // the demo process
let urls; // { page, bff, seam, cookie_name }
let browser;
let otherOrigin; // a page origin the service does not allow
let otherServer;
let provider; // a real OpenID provider (tests/oidc), which the demo also trusts

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // The provider's issuer first, for the demo's config; its client next, once the page's
  // address (its redirect URI) is known.
  provider = await listen();
  stack = spawn(DEMO, ["--json", "--page-bind", "127.0.0.1:0", "--oidc-issuer", provider.issuer], {
    env: { ...process.env, ...STACK_ENV },
    stdio: ["ignore", "pipe", "inherit"],
  });
  urls = await addresses(stack);
  provider.serve({
    backchannelLogoutUri: `${urls.bff}/v1/backchannel-logout`,
    redirectUris: [`${urls.page}/`],
    postLogoutRedirectUris: [`${urls.page}/`],
  });
  assert.equal(new Set([urls.page, urls.bff, urls.seam].map((u) => new URL(u).origin)).size, 3);

  otherServer = createServer((_, res) => {
    res.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>elsewhere</title>");
  });
  otherServer.listen(0, "127.0.0.1");
  await once(otherServer, "listening");
  otherOrigin = `http://127.0.0.1:${otherServer.address().port}`;

  // `launch` gives every run a fresh, empty profile (user-data dir) of its own.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  otherServer?.close();
  provider?.close();
  if (stack && stack.exitCode === null) {
    stack.kill("SIGTERM");
    await once(stack, "exit");
  }
});

/** The demo's one JSON line of addresses; fails if it exits first. */
async function addresses(child) {
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`the demo exited (${code}) before it was ready`);
  });
  const ready = (async () => {
    for await (const line of createInterface({ input: child.stdout })) {
      if (line.startsWith("{")) return JSON.parse(line);
    }
    throw new Error("the demo closed its output before it was ready");
  })();
  return Promise.race([ready, exited]);
}

/** A new browser context whose page errors fail the test. */
async function newPage(t) {
  const context = await browser.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  page.on("pageerror", (error) => assert.fail(`page error: ${error.message}`));
  return page;
}

/** Signs `user` in on the example page and waits for the first handshake's answer. */
async function signIn(page, user, mode) {
  await page.goto(urls.page);
  await page.selectOption("select[name=user]", user);
  await page.check(`input[name=mode][value=${mode}]`);
  const handshake = page.waitForResponse(
    (r) => r.url() === `${urls.bff}/v1/client-session` && r.request().method() === "POST",
  );
  await page.click("button[type=submit]");
  const response = await handshake;
  await page.locator("#session").waitFor({ state: "visible" });
  return response;
}

async function shown(page) {
  return {
    devices: (await page.locator("#devices li").allTextContents()).sort(),
    clientSessionId: await page.locator("#client-session-id").textContent(),
    expiresAt: await page.locator("#expires-at").textContent(),
    handshakes: Number(await page.locator("#handshakes").textContent()),
    error: await page.locator("#error").isVisible(),
  };
}

/** A login token from the demo app, as its page would get it in bearer mode. */
async function loginToken(user) {
  const response = await fetch(`${urls.page}/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user, mode: "bearer" }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).token;
}

test("bearer mode: the handshake crosses origins and the user sees exactly their devices", async (t) => {
  const page = await newPage(t);
  const handshake = await signIn(page, "alice", "bearer");

  assert.equal(handshake.status(), 200);
  const headers = handshake.headers();
  assert.equal(headers["access-control-allow-origin"], urls.page);
  assert.equal(headers["cache-control"], "no-store");
  const seen = await shown(page);
  assert.deepEqual(seen.devices, ALICE_DEVICES);
  assert.equal(seen.error, false);
  assert.equal(seen.handshakes, 1);
});

test("signing in at a real OpenID provider: its login page, the code flow with PKCE in the page, its ID token to the service", async (t) => {
  const page = await newPage(t);
  await page.goto(urls.page);
  await page.click("#oidc-sign-in");
  // The provider's own login page (any login, any password), then its consent page.
  await page.waitForURL(`${provider.issuer}/interaction/**`);
  await page.fill("input[name=login]", "alice");
  await page.fill("input[name=password]", "any password");
  await page.click("button[type=submit]");
  await page.locator("input[name=prompt][value=consent]").waitFor({ state: "attached" });
  const handshake = page.waitForResponse(
    (r) => r.url() === `${urls.bff}/v1/client-session` && r.request().method() === "POST",
  );
  const exchange = page.waitForRequest((r) => r.url() === `${provider.issuer}/token`);
  await page.click("button[type=submit]");

  const body = new URLSearchParams((await exchange).postData());
  assert.equal(body.get("grant_type"), "authorization_code");
  assert.match(body.get("code_verifier"), /^[\w-]{43}$/, "PKCE");
  const response = await handshake;
  assert.equal(response.status(), 200);
  const idToken = response.request().headers().authorization.replace(/^Bearer /, "");
  const claims = JSON.parse(Buffer.from(idToken.split(".")[1], "base64url"));
  assert.equal(claims.iss, provider.issuer, "the provider's ID token, not a demo login");
  assert.equal(claims.aud, "seam-bff-example");
  assert.equal(JSON.parse(Buffer.from(idToken.split(".")[0], "base64url")).alg, "RS256");
  await page.locator("#session").waitFor({ state: "visible" });
  assert.equal(new URL(page.url()).search, "", "the code is not left in the address bar");
  const seen = await shown(page);
  assert.deepEqual(seen.devices, ALICE_DEVICES, "listed with Seam's SDK and the client session token");
  assert.equal(seen.error, false);
  await page.screenshot({ path: `${ARTIFACTS}/oidc-alice.png`, fullPage: true });
});

test("cookie mode sends credentials and the CSRF header; a second user is isolated", async (t) => {
  const alicePage = await newPage(t);
  await signIn(alicePage, "alice", "bearer");
  const bobPage = await newPage(t);
  const handshake = await signIn(bobPage, "bob", "cookie");

  const request = handshake.request();
  assert.equal(await request.headerValue("x-csrf"), "1");
  assert.match((await request.headerValue("cookie")) ?? "", new RegExp(`${urls.cookie_name}=`));
  assert.equal(await request.headerValue("authorization"), null);
  assert.equal(handshake.headers()["access-control-allow-credentials"], "true");

  const bob = await shown(bobPage);
  const alice = await shown(alicePage);
  assert.deepEqual(bob.devices, BOB_DEVICES);
  assert.deepEqual(alice.devices, ALICE_DEVICES);
  assert.notEqual(bob.clientSessionId, alice.clientSessionId);
  // The login cookie lives in bob's context only, and the page's script cannot read it.
  const bobCookies = await bobPage.context().cookies(urls.bff);
  assert.deepEqual(
    bobCookies.map((c) => [c.name, c.httpOnly]),
    [[urls.cookie_name, true]],
  );
  assert.deepEqual(await alicePage.context().cookies(urls.bff), []);
  assert.equal(await bobPage.evaluate(() => document.cookie), "");
});

test("a cookie request without the CSRF header is refused", async (t) => {
  const page = await newPage(t);
  await signIn(page, "alice", "cookie");
  const refused = await page.evaluate(async (bff) => {
    const response = await fetch(`${bff}/v1/client-session`, {
      method: "POST",
      credentials: "include",
    });
    return { status: response.status, body: await response.json() };
  }, urls.bff);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, "csrf_rejected");
  assert.equal(JSON.stringify(refused.body).includes("seam_cst"), false);
});

test("a page on an origin that is not allowed cannot read a handshake", async (t) => {
  const page = await newPage(t);
  const token = await loginToken("alice");
  await page.context().addCookies([{ name: urls.cookie_name, value: token, url: urls.bff }]);
  await page.goto(otherOrigin);

  const attempts = await page.evaluate(
    async ({ bff, token }) => {
      const attempt = (init) =>
        fetch(`${bff}/v1/client-session`, { method: "POST", ...init }).then(
          (response) => `read ${response.status}`,
          (error) => error.name,
        );
      return {
        bearer: await attempt({ headers: { Authorization: `Bearer ${token}` } }),
        cookieWithCsrf: await attempt({ credentials: "include", headers: { "X-CSRF": "1" } }),
        cookieWithoutCsrf: await attempt({ credentials: "include" }),
      };
    },
    { bff: urls.bff, token },
  );
  assert.deepEqual(attempts, {
    bearer: "TypeError",
    cookieWithCsrf: "TypeError",
    cookieWithoutCsrf: "TypeError",
  });

  // The refusal is the service's CORS answer, not a network failure: the same login from the
  // allowed origin is let through, from the other one it is not.
  const preflight = (origin) =>
    fetch(`${urls.bff}/v1/client-session`, {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
      },
    });
  const allowed = await preflight(urls.page);
  assert.equal(allowed.headers.get("access-control-allow-origin"), urls.page);
  const other = await preflight(otherOrigin);
  assert.equal(other.headers.get("access-control-allow-origin"), null);
});

test("the page renews its token at refresh_after without a visible failure", async (t) => {
  const page = await newPage(t);
  await signIn(page, "alice", "bearer");
  const first = await shown(page);
  // Record any moment at which the user would have seen a failure or lost the device list.
  await page.evaluate(() => {
    window.failures = [];
    new MutationObserver(() => {
      if (!document.getElementById("error").hidden) window.failures.push("error shown");
      if (document.querySelectorAll("#devices li").length === 0) window.failures.push("no devices");
      if (document.getElementById("session").hidden) window.failures.push("signed out");
    }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });

  // The page's next handshakes start at refresh_after; one of them gets the renewed session.
  await page.waitForFunction(
    (before) => document.getElementById("expires-at").textContent !== before,
    first.expiresAt,
    { timeout: 30_000 },
  );

  const renewed = await shown(page);
  assert.deepEqual(await page.evaluate(() => window.failures), []);
  assert.equal(renewed.error, false);
  assert.ok(renewed.handshakes > first.handshakes);
  assert.deepEqual(renewed.devices, ALICE_DEVICES);
  assert.ok(
    Date.parse(renewed.expiresAt) > Date.parse(first.expiresAt),
    `${renewed.expiresAt} after ${first.expiresAt}`,
  );
});

test("the page connects an account through a Connect Webview and keeps its token", async (t) => {
  const page = await newPage(t);
  await signIn(page, "bob", "cookie");
  const before = await shown(page);
  assert.deepEqual(before.devices, BOB_DEVICES);

  // The page opens the webview Seam's SDK made with the token; the user signs in there.
  const [popup] = await Promise.all([page.waitForEvent("popup"), page.click("#connect")]);
  await popup.waitForLoadState();
  assert.match(popup.url(), new RegExp(`^${urls.seam}/connect_webviews/view\\?connect_webview_id=`));
  await Promise.all([popup.waitForEvent("close"), popup.click("#connect")]);

  // The next handshake lists the new account's device, with the same session and no error.
  await page.waitForFunction(
    () => [...document.querySelectorAll("#devices li")].some((li) => li.textContent === "New lock"),
    null,
    { timeout: 10_000 },
  );
  const after = await shown(page);
  assert.deepEqual(after.devices, [...BOB_DEVICES, "New lock"].sort());
  assert.equal(after.clientSessionId, before.clientSessionId, "the token in hand kept working");
  assert.equal(after.error, false);
});

/** The device names in Seam Components' DeviceTable, once it has rows. */
async function tableRows(page) {
  const rows = page.locator(".seam-device-table .seam-table-row");
  await rows.first().waitFor({ timeout: 15_000 });
  return (await rows.locator(".seam-truncated-text").allTextContents()).sort();
}

test("Seam Components show alice exactly her devices, with nothing fetched from elsewhere", async (t) => {
  const page = await newPage(t);
  const elsewhere = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.protocol !== "data:" && url.hostname !== "127.0.0.1") elsewhere.push(request.url());
  });
  await page.goto(`${urls.page}/components?user=alice`);
  // Exactly hers: not bob's flat, nor the lock bob connected.
  assert.deepEqual(await tableRows(page), ALICE_DEVICES);
  assert.equal(await page.locator("#error").isVisible(), false);
  assert.deepEqual(elsewhere, [], "the page fetched from outside loopback");
  await page.screenshot({ path: `${ARTIFACTS}/components-alice.png`, fullPage: true });
});

test("the demo refuses a taken port in one line that names the flag to move it", async () => {
  const taken = createServer();
  taken.listen(0, "127.0.0.1");
  await once(taken, "listening");
  const address = `127.0.0.1:${taken.address().port}`;
  try {
    const demo = spawn(DEMO, ["--json", "--page-bind", "127.0.0.1:0", "--management-bind", address], {
      env: { ...process.env, ...STACK_ENV },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    demo.stderr.on("data", (chunk) => (stderr += chunk));
    const [code] = await once(demo, "exit");
    assert.equal(code, 1, stderr);
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], new RegExp(`${address}.*management\\.bind.*--management-bind`));
    assert.doesNotMatch(stderr, /panicked|backtrace/i);
  } finally {
    taken.close();
  }
});
