// The example frontend with Seam Components (@seamapi/react): sign in with the app's login,
// exchange it at seam-bff for a client session token, keep it fresh, and hand it to
// <SeamProvider>; Seam's <DeviceTable> then lists the user's devices straight from Seam.
// The README's Frontend snippets are taken from here and from app.js. Bundled by
// tests/browser/build.mjs (esbuild); the demo serves it at /components.
import "@seamapi/react/index.css";
import { DeviceTable, SeamProvider } from "@seamapi/react";
import { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";

const { bff: BFF, seam } = await (await fetch("/config.json")).json();

async function getClientSession(appJwt) {
  const response = await fetch(`${BFF}/v1/client-session`, {
    method: "POST",
    headers: { Authorization: `Bearer ${appJwt}` },
  });
  if (!response.ok) {
    const { error } = await response.json(); // {"error": {"code", "message"}}
    throw Object.assign(new Error(error.message), { status: response.status, code: error.code });
  }
  return response.json(); // {token, expires_at, refresh_after, client_session_id, connected_account_ids}
}

// Calls onSession with each handshake's answer until the returned stop function is called.
function keepFresh(appJwt, onSession) {
  let timer;
  let stopped = false;
  const again = (ms) => { if (!stopped) timer = setTimeout(run, ms); };
  async function run() {
    try {
      const session = await getClientSession(appJwt);
      if (stopped) return;
      onSession(session);
      // Never sooner than a second, so a clock a little ahead of the service's cannot spin.
      again(Math.max(Date.parse(session.refresh_after) - Date.now(), 1000));
    } catch (error) {
      if (error.status === 401) return signIn(); // your app's sign-in
      again(5000);
    }
  }
  run();
  return () => { stopped = true; clearTimeout(timer); };
}

function useClientSession(appJwt) {
  const [session, setSession] = useState(null);
  useEffect(() => keepFresh(appJwt, setSession), [appJwt]);
  return session;
}

export function Devices({ appJwt }) {
  const session = useClientSession(appJwt);
  if (!session) return <p>Signing in to Seam…</p>;
  return (
    <SeamProvider clientSessionToken={session.token} {...demoOnly}>
      <DeviceTable />
    </SeamProvider>
  );
}

// What the demo adds: styles are bundled, so nothing is fetched from Seam's CDN (no fonts, no
// styles, no telemetry). And @seamapi/react 4.14.2 refuses its own `endpoint` prop ("The client
// option cannot be used with any other option"), so the stand-in's address goes where its SDK
// reads it when no endpoint is given. At the real Seam, leave all of this out.
const demoOnly = { disableCssInjection: true, disableFontInjection: true, disableTelemetry: true };
globalThis.process = { env: { SEAM_ENDPOINT: seam } };

function signIn() {
  const error = document.getElementById("error");
  error.textContent = "Please sign in again.";
  error.hidden = false;
}

// The app's own sign-in, here the demo's identity provider.
const user = new URLSearchParams(location.search).get("user") ?? "alice";
const login = await fetch("/login", {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ user, mode: "bearer" }),
});
const { token: appJwt } = await login.json();
createRoot(document.getElementById("root")).render(<Devices appJwt={appJwt} />);
