// Seam's own webhook tools, as a second opinion on the stand-in's signing and the service's
// checking (tests/api/webhooks.rs). Reads the body from stdin.
//   node webhook.mjs sign <secret> <svix-id> <svix-timestamp>
//     prints the svix-signature Svix's own library (`svix`, which Seam delivers with) gives;
//   node webhook.mjs verify <secret> <svix-id> <svix-timestamp> <svix-signature>
//     checks the delivery with Seam's verifier (`@seamapi/webhook`): prints its event_type,
//     or exits 1 with Svix's reason.
import { SeamWebhook } from "@seamapi/webhook";
import { Webhook } from "svix";

const [op, secret, id, timestamp, signature] = process.argv.slice(2);
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const body = Buffer.concat(chunks).toString("utf8");

if (op === "sign") {
  const at = new Date(Number(timestamp) * 1000);
  process.stdout.write(new Webhook(secret).sign(id, at, body));
} else if (op === "verify") {
  try {
    const event = new SeamWebhook(secret).verify(body, {
      "svix-id": id,
      "svix-timestamp": timestamp,
      "svix-signature": signature,
    });
    process.stdout.write(event.event_type);
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
} else {
  process.stderr.write("usage: webhook.mjs sign|verify …\n");
  process.exit(2);
}
