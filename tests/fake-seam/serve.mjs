// Seam's own fake API (@seamapi/fake-seam-connect), seeded like the stand-in in
// tests/api/differential.rs and bound to loopback only. Prints one JSON line with its address,
// credentials and ids, then serves until stdin closes (the test's end) or it is killed.
//
// The fake has no host option (it calls server.listen(port)), so net.Server#listen is patched
// while it starts, to bind 127.0.0.1 only. NODE_ENV=production keeps `stack` out of its errors.
import net from "node:net";
import { createFake } from "@seamapi/fake-seam-connect";

process.env.NODE_ENV = "production";

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const port = await freePort();
const fake = await createFake();
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number") {
    const callback = args.find((a) => typeof a === "function");
    return listen.call(this, { port: args[0], host: "127.0.0.1" }, callback);
  }
  return listen.apply(this, args);
};
try {
  await fake.startServer({ port, baseUrl: `http://127.0.0.1:${port}` });
} finally {
  net.Server.prototype.listen = listen;
}

const db = fake.database;
const workspace = db.addWorkspace({ name: "Differential", is_sandbox: true });
const apiKey = db.addApiKey({ name: "differential", workspace_id: workspace.workspace_id });
const account = (email, user) =>
  db.addConnectedAccount({
    provider: "august",
    workspace_id: workspace.workspace_id,
    user_identifier: { email },
    custom_metadata: { user_id: user },
  }).connected_account_id;
const alice = [account("alice@example.com", "alice"), account("alice2@example.com", "alice")];
const bob = account("bob@example.com", "bob");
const device = (name, connected_account_id) =>
  db.addDevice({
    device_type: "august_lock",
    name,
    connected_account_id,
    workspace_id: workspace.workspace_id,
  });
device("Front door", alice[0]);
device("Garage", alice[1]);
device("Bob's flat", bob);
const session = db.addClientSession({
  workspace_id: workspace.workspace_id,
  user_identifier_key: "alice",
  connected_account_ids: alice,
});

console.log(
  JSON.stringify({
    url: `http://127.0.0.1:${port}`,
    api_key: apiKey.token,
    alice_accounts: alice,
    bob_account: bob,
    alice_token: session.token,
    alice_session_id: session.client_session_id,
  }),
);
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
