/** Causes and fixes of the lines the CLI, verify and the docs tools print. */
import type { Explanation } from "./troubleshooting.ts";

export const CLI_EXPLANATIONS: Explanation[] = [
  // The CLI: `duplex <command>: <message>` on stderr, exit code 1.
  {
    area: "cli", match: ["unknown command"],
    cause: "The first argument is not a duplex command.",
    fix: "Run duplex --help for the list.",
  },
  {
    area: "cli", match: ["Unknown option", "argument missing", "needs a value ("],
    cause: "A flag the command does not have, or a flag without its value (node:util parseArgs).",
    fix: "duplex <command> --help lists the command's flags and their values.",
  },
  {
    area: "cli", match: ["DUPLEX_JWT_SECRET is not set: tokens must be signed", "--user is required", "--ttl must look like", "user must be 1 to 128 characters", "ttl must be a positive number", "--ttl <asked> is longer than <env>"],
    cause: "duplex token needs the nodes' secret in DUPLEX_JWT_SECRET, a --user and a valid --ttl.",
    fix: "DUPLEX_JWT_SECRET=... duplex token --user alice --ttl 1h",
  },
  {
    area: "cli",
    match: [
      "<option> must be an integer from", "<option> must be one of", "<option> is required (a host name", "<option> must be a host name",
      "<option> must be host:port", "<option> needs a path", "<option> path must not contain", "--out cannot write into",
    ],
    cause: "A flag's value is outside what it accepts; the message names the flag. Paths may not contain characters that would break the config file's syntax.",
    fix: "Correct the flag; duplex <command> --help and docs/12-reference.md list every flag's bounds.",
  },
  {
    area: "cli", match: ["<option> file \"<raw>\" does not exist", "<option> file \"<raw>\" holds no PEM"],
    cause: "A certificate or key path is unreadable by the CLI or the file is not PEM.",
    fix: "Render from the folder nginx will run in, with the real paths (certbot's live/DOMAIN/fullchain.pem and privkey.pem).",
  },
  {
    area: "cli",
    match: [
      "--upstream", "--https-port must differ", "--path must be", "only applies with --tls", "only applies with --ocsp", "--tls needs", "--ocsp needs", "--resolver must be",
      "--proxy-header", "--nginx-version", "--metrics-allow",
    ],
    cause: "The duplex nginx flags contradict each other or name something nginx would misread; the message says which and why.",
    fix: "Follow the message: each upstream once, --cert and --key with --tls, header names with '-' not '_', nginx 1.18 or newer.",
  },
  {
    area: "cli", match: ["--target", "--job must be"],
    cause: "duplex prometheus needs each node's host:port once, and a job name that is a plain label value.",
    fix: "duplex prometheus --target 10.0.0.11:8080 --target 10.0.0.12:8080 --job duplex --out deploy/prometheus",
  },
  {
    area: "cli", match: ["--user must be a system user name"],
    cause: "duplex systemd's --user is not a user name systemd accepts.",
    fix: "Use a lower-case system user, such as duplex (create it with useradd --system duplex).",
  },
  {
    area: "cli", match: ["--vhost must be", "--cluster-node must look like", "RABBITMQ_PASSWORD is set but --user is not", "--user must be 1-128", "--user needs RABBITMQ_PASSWORD"],
    cause: "duplex rabbitmq got a vhost, node name or user it cannot write into definitions, or a user without its password.",
    fix: "Give --user together with RABBITMQ_PASSWORD (16 characters or more) in the environment; node names look like rabbit@host.",
  },
  {
    area: "cli", match: ["--maxmemory must be", "--bind must be an IP", "REDIS_PASSWORD must be at least", "is not loopback: set REDIS_PASSWORD"],
    cause: "duplex redis-conf got a size or address it cannot use, or would expose Redis beyond loopback without a password.",
    fix: "Sizes look like 512mb or 2gb; set REDIS_PASSWORD (16 characters or more) before binding to a network address.",
  },
  // verify: a FAIL row in its table, or one line and exit 1 when it cannot start.
  {
    area: "verify", match: ["--url is required", "--url must be a ws://", "--url must start with", "--secret (or DUPLEX_JWT_SECRET) is required"],
    cause: "verify needs the deployment's ws:// or wss:// URL and the secret its nodes verify tokens with.",
    fix: "duplex verify --url wss://chat.example.com --secret \"$DUPLEX_JWT_SECRET\" (add --insecure for a self-signed certificate).",
  },
  {
    area: "verify", match: ["cannot reach <httpUrl>", "/healthz answered"],
    cause: "verify could not reach /healthz, or it did not answer 200: the URL is wrong, nginx is not running, or no node is ready (nginx answers 502 or 503).",
    fix: "curl the same URL's /healthz; see the nginx rows in docs/14-troubleshooting.md.",
  },
  {
    area: "verify", match: ["a bad token got", "an API call without a token was not refused", "POST /api/conversations answered"],
    cause: "Authentication does not behave as the contract says; with POST /api/conversations answered 401, verify's --secret is not the nodes' DUPLEX_JWT_SECRET.",
    fix: "Pass the nodes' secret to verify; make sure nothing in front of the nodes answers for them.",
  },
  {
    area: "verify",
    match: [
      "acks do not carry seq", "a device saw seq", "the sending device received its own", "two devices saw different orders", "seq is not 1..2n",
      "orders differ", "the other sender saw a different order",
    ],
    cause: "Messages arrived out of order, with gaps, or at the wrong devices: nodes of one deployment disagree (different DUPLEX_NAMESPACE, DUPLEX_SHARDS or Redis), or a node is not on the shared broker.",
    fix: "Give every node the same REDIS_URL, AMQP_URL, DUPLEX_NAMESPACE and DUPLEX_SHARDS; check /healthz on each node.",
  },
  {
    area: "verify", match: ["the resend was acked", "the resend was delivered again", "history holds the resend twice"],
    cause: "A repeated send with the same id was stored twice: the nodes do not share one Redis, or history was trimmed by a very small DUPLEX_HISTORY_LIMIT.",
    fix: "Point every node at the same Redis and namespace.",
  },
  {
    area: "verify", match: ["synced answered", "sync replayed", "history answered", "read frame was", "a read mark reached the wrong device"],
    cause: "Replay or read marks do not match what was stored: usually nodes with different stores, or a DUPLEX_HISTORY_LIMIT under 30.",
    fix: "Same Redis and namespace on every node; DUPLEX_HISTORY_LIMIT of at least 30 during verify.",
  },
  {
    area: "verify", match: ["a non-member's DELETE answered", "DELETE /api/conversations/<id> answered", "deleted conversations are still listed"],
    cause: "verify could not delete the conversations it made (or a non-member could): the nodes run a version without DELETE /api/conversations/:id, or something in front answers for them.",
    fix: "Upgrade every node; until then verify's test conversations stay behind, and can be removed by deleting them as one of their members.",
  },
  {
    area: "verify", match: ["the old session closed with"],
    cause: "A second connection of the same user and device did not replace the first with 4409: nodes do not share the session store, or a proxy closes sockets itself.",
    fix: "Same Redis on every node; check the proxy passes close frames through.",
  },
  {
    area: "verify", match: ["<frame> got <code>, not <code>", "the socket was not usable after refusals"],
    cause: "A bad frame was not refused with the contract's code, or refusing it broke the socket; a proxy rewriting frames or a mixed-version cluster.",
    fix: "Run every node at the same version; send the failing frame by hand to see the answer.",
  },
  {
    area: "verify", match: ["socket closed while waiting for", "no <type> frame within", "no WebSocket handshake with", "WebSocket to <…> failed to open", "no result within <ms> ms"],
    cause: "A socket closed, never opened, or stayed silent: the upgrade failed at a proxy, TLS failed, or the nodes are overloaded.",
    fix: "Try the upgrade with curl (docs/02-handshake.md); for wss with a self-signed certificate add --insecure.",
  },
  // Tools.
  {
    area: "tools",
    match: ["give exactly one of --file", "--file: cannot read", "frame at byte", "maskKey must be", "opcode must be an integer", "hex dump:"],
    cause: "duplex frames got no input, both inputs, or bytes that are not a whole WebSocket frame.",
    fix: "Pass the bytes captured after the 101, from the first frame's first byte.",
  },
  {
    area: "tools", match: ["the document has no"],
    cause: "A generated docs section lost one of its marker comments.",
    fix: "Restore the BEGIN and END comments from git, then run npm run docs:reference.",
  },
  {
    area: "cli", match: ["is not set: name the RabbitMQ the nodes use", "cannot connect to <current>", "no queue <deadLetter>: no node of namespace"],
    cause: "duplex dead-letters needs the nodes' RabbitMQ in AMQP_URL, reachable, and a namespace whose nodes have declared its topology (the dead-letter queue with it).",
    fix: "AMQP_URL=amqp://user:pass@host:5672 duplex dead-letters --namespace <the nodes' DUPLEX_NAMESPACE>",
  },
];
