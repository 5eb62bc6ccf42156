// The example frontend with Seam Components (@seamapi/react): sign in with the app's login,
// exchange it at seam-bff for a client session token, and hand the token to <SeamProvider>;
// Seam's <DeviceTable> then lists the user's devices straight from Seam. Bundled by
// tests/browser/build.mjs (esbuild); the demo serves it at /components.
import "@seamapi/react/index.css";
import { DeviceTable, SeamProvider } from "@seamapi/react";
import { createRoot } from "react-dom/client";

const { bff, seam } = await (await fetch("/config.json")).json();
const user = new URLSearchParams(location.search).get("user") ?? "alice";

function fail(message) {
  const error = document.getElementById("error");
  error.textContent = message;
  error.hidden = false;
}

// The app's own sign-in (the demo's identity provider), then the handshake.
const signIn = await fetch("/login", {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ user, mode: "bearer" }),
});
const { token: login } = await signIn.json();
const handshake = await fetch(`${bff}/v1/client-session`, {
  method: "POST",
  headers: { Authorization: `Bearer ${login}` },
});
if (!handshake.ok) {
  fail(`Could not get a Seam session (${handshake.status})`);
} else {
  const { token } = await handshake.json();
  // @seamapi/react 4.14.2 refuses its own `endpoint` prop ("The client option cannot be used
  // with any other option"); its SDK reads SEAM_ENDPOINT when no endpoint is given. At the real
  // Seam, leave both out.
  globalThis.process = { env: { SEAM_ENDPOINT: seam } };
  createRoot(document.getElementById("root")).render(
    // Styles are bundled; no fonts, styles or telemetry fetched from Seam's CDN.
    <SeamProvider clientSessionToken={token} disableCssInjection disableFontInjection disableTelemetry>
      <DeviceTable />
    </SeamProvider>,
  );
}
