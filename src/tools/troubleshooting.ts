/**
 * What each error line means and what to do about it. The table in
 * docs/14-troubleshooting.md is generated from these explanations and from every error line
 * the code can print (src/tools/error-lines.ts); a test fails when a line has no
 * explanation or an explanation matches no line, so the table cannot fall behind the code.
 */
import { type ErrorLine, errorLines } from "./error-lines.ts";

export interface Explanation {
  area: Area;
  /** Text found in each message this explains (the first explanation that matches wins). */
  match: string[];
  cause: string;
  fix: string;
}

export const AREAS = {
  start: "Starting a node",
  http: "HTTP requests and the WebSocket upgrade",
  frames: "Frames on an open socket",
  backends: "Store and broker while running",
  cli: "The CLI",
  verify: "verify",
  tools: "Frame decoder and docs tools",
} as const;
export type Area = keyof typeof AREAS;

const SETTINGS_DOC = "the settings table in docs/12-reference.md";

export const EXPLANATIONS: Explanation[] = [
  // Starting a node: the node prints `duplex: <message>` on stderr and exits (2 for a bad setting, 1 otherwise).
  {
    area: "start", match: ["DUPLEX_ENV=production requires DUPLEX_JWT_SECRET"],
    cause: "Production mode will not make up a random secret: tokens from your issuer would never verify, and every restart would void the tokens out there.",
    fix: "Set DUPLEX_JWT_SECRET (the same value on every node and in your token issuer), from a secrets store or the unit's EnvironmentFile.",
  },
  {
    area: "start", match: ["AMQP_URL needs REDIS_URL"],
    cause: "RabbitMQ without Redis: shard owners on different nodes would sequence into separate in-memory stores and fork history.",
    fix: "Set REDIS_URL on every node that has AMQP_URL.",
  },
  {
    area: "start", match: ["<env> must be an integer from", "<env> must be one of", "<env> must be <values>"],
    cause: "A setting holds a value outside what it accepts; the message names the variable and the value.",
    fix: `Correct the variable; every setting's bounds are in ${SETTINGS_DOC}.`,
  },
  {
    area: "start", match: ["AMQP_URL holds", "AMQP_URL must list", "AMQP_URL names no broker", "AMQP_URL must be a string"],
    cause: "AMQP_URL is not a comma-separated list of amqp:// or amqps:// URLs.",
    fix: "Write it like amqp://user:pass@rabbit1:5672,amqp://user:pass@rabbit2:5672 (percent-encode special characters in the password).",
  },
  {
    area: "start", match: ["DUPLEX_SHARDS=<shards> disagrees with the running cluster", "a node disagrees on DUPLEX_SHARDS"],
    cause: "This node's DUPLEX_SHARDS differs from a node already running in the same namespace: conversations would map to different shards and lose their order.",
    fix: "Give every node of the namespace the same DUPLEX_SHARDS. To change the count, stop every node, then start them all with the new value.",
  },
  {
    area: "start", match: ["RabbitMQ refused the topology", "RabbitMQ setup cannot succeed"],
    cause: "Queues or exchanges of this namespace already exist with other arguments (another DUPLEX_QUEUE_TYPE or shard settings), so RabbitMQ refuses the declaration (406 PRECONDITION_FAILED).",
    fix: "Start the nodes with the settings the objects were made with, or delete the namespace's queues and exchanges (rabbitmqctl delete_queue ...) when no node runs.",
  },
  {
    area: "start", match: ["cannot connect to <url>"],
    cause: "The broker could not be opened at start-up for a reason retrying cannot fix (bad credentials, vhost missing, TLS refused).",
    fix: "Check the user, password and vhost in AMQP_URL against rabbitmqctl list_users / list_vhosts; the rest of the line is RabbitMQ's reason.",
  },
  {
    area: "start", match: ["Redis URL <masked> is not usable", "cannot connect to Redis at", "INFO failed"],
    cause: "Redis at REDIS_URL refused or did not answer when the node started (wrong host, port, password, or TLS), or the URL is malformed. The password is masked in the line.",
    fix: "Try redis-cli -u \"$REDIS_URL\" ping from the node's host; fix the URL, the password (requirepass) or the firewall, then start again.",
  },
  {
    area: "start", match: ["rabbitmqBroker: <what>", "namespace (DUPLEX_NAMESPACE) must be", "nodeId (NODE_ID) must be", "heartbeatSeconds must be", "start() may be called once", "submit: ref"],
    cause: "Code that embeds duplex's RabbitMQ broker passed it bad options or called it out of order; a node started from src/main.ts never does.",
    fix: "Pass the options the message names, from loadConfig(); call start() once, and close() last.",
  },
  {
    area: "start", match: ["shutdown overran its bound", "unclean shutdown"],
    cause: "On SIGTERM the node drained its sockets but handing shards over or closing Redis or RabbitMQ hung or failed; it exits 1 instead of hanging.",
    fix: "Nothing is lost: sessions expire by TTL and unacked shard work is redelivered. If it repeats, check that Redis and RabbitMQ are reachable during deploys.",
  },
  // HTTP and the upgrade: JSON bodies {"error":{"code","message"}} with the code's HTTP status.
  {
    area: "http", match: ["an access token is required"],
    cause: "No token: /ws without ?token=, or an API call without Authorization: Bearer.",
    fix: "Send the token your auth service issued (docs/13-production.md shows an issuer).",
  },
  {
    area: "http", match: ["the access token is invalid"],
    cause: "The token's signature does not verify (it was signed with another secret than this node's DUPLEX_JWT_SECRET — the usual wrong-secret case), or it is not an HS256 JWT at all.",
    fix: "Use the same DUPLEX_JWT_SECRET in the issuer and on every node; check the header says alg HS256. verify --secret must be that secret too.",
  },
  {
    area: "http", match: ["the access token has expired"],
    cause: "The token's exp is in the past.",
    fix: "Fetch a fresh token from your auth service before reconnecting; check the clocks of the issuer and the nodes (NTP).",
  },
  {
    area: "http", match: ["the access token names no valid user"],
    cause: "The token verifies, but its sub is missing or not a string of 1 to 128 characters.",
    fix: "Issue tokens with sub set to the user id.",
  },
  {
    area: "http", match: ["origin <origin> is not allowed", "the Origin header is not a valid origin"],
    cause: "A browser page from a site not on DUPLEX_ALLOWED_ORIGINS opened the socket (403). In production mode the list is empty unless set.",
    fix: "Add the page's origin (scheme, host and port, such as https://chat.example.com) to DUPLEX_ALLOWED_ORIGINS on every node.",
  },
  {
    area: "http", match: ["this node is not ready"],
    cause: "The upgrade reached a node whose Redis or broker is away, or which is draining for a restart (503). /readyz answers 503 at the same time.",
    fix: "Clients retry with backoff and nginx moves on to another node; if every node says it, look at /readyz's store and ready fields and at the broker and Redis alerts.",
  },
  {
    area: "http", match: ["this endpoint only speaks WebSocket", "a WebSocket upgrade needs Sec-WebSocket-Key"],
    cause: "A plain HTTP request reached /ws, or a proxy dropped the Upgrade and Connection headers.",
    fix: "Behind nginx, use the generated config (it forwards Upgrade and Connection); for other proxies, enable WebSocket pass-through.",
  },
  {
    area: "http", match: ["query \"device\" must be", "field \"user\" must be a string", "field \"members\" must be", "every entry of \"members\"", "query \"users\" must list", "query \"<name>\" must be an integer", "the request body is not valid JSON", "the request body must be a JSON object"],
    cause: "A request parameter or JSON body does not have the shape CONTRACT.md §2 gives it; the message names the field.",
    fix: "Fix the client's request; the limits (1 to 1000 members, ids of 1 to 128 characters, limit 1 to 1000) are in CONTRACT.md.",
  },
  {
    area: "http", match: ["request body over <maxBody> bytes"],
    cause: "An HTTP body larger than DUPLEX_MAX_MESSAGE_BYTES or 256 KiB, whichever is larger (413 too_large).",
    fix: "Send less; raise DUPLEX_MAX_MESSAGE_BYTES only if messages legitimately need it.",
  },
  {
    area: "http", match: ["dev tokens are off"],
    cause: "POST /api/dev/token exists only in development mode without DUPLEX_JWT_SECRET (404).",
    fix: "In production, tokens come from your own auth service, or from duplex token with the secret.",
  },
  {
    area: "http", match: ["internal error; retry later", "request failed"],
    cause: "A request failed for an unexpected reason (503 unavailable); the node logs \"request failed\" with the path and the error.",
    fix: "Read the log line's err field; usually Redis failed mid-request, and a retry succeeds.",
  },
  {
    area: "http", match: ["no conversation \"<conv>\""],
    cause: "The conversation id does not exist (404 not_found, or an error frame).",
    fix: "Create it first with POST /api/conversations; check the client does not mix ids between deployments (DUPLEX_NAMESPACE).",
  },
  {
    area: "http", match: ["you are not a member of conversation"],
    cause: "The user is not among the conversation's members (403 forbidden); members never change after creation.",
    fix: "Create a new conversation with the right members.",
  },
  // Frames: answered with {"type":"error","code","message","id"}; the socket stays open.
  {
    area: "frames", match: ["frame is not valid JSON", "frame must be a JSON object", "field \"<field>\" must be", "field \"type\" is missing", "unknown frame type"],
    cause: "The client sent a frame that is not one JSON object of a known type with well-typed fields (bad_request; the socket stays usable).",
    fix: "Fix the client; the frames and their fields are in CONTRACT.md §4.",
  },
  {
    area: "frames", match: ["more than <rate> frames per second"],
    cause: "The connection sent faster than DUPLEX_RATE frames per second beyond its burst (rate_limited); if it keeps on, it is closed with 1008.",
    fix: "Slow the client down or batch; raise DUPLEX_RATE only for trusted clients.",
  },
  {
    area: "frames", match: ["slow consumer closed"],
    cause: "A client did not read what it was sent: its unsent bytes stayed over DUPLEX_MAX_BUFFERED_BYTES, so the node closed it with 1013 (the DuplexSlowConsumerCloses alert counts these).",
    fix: "Usually a bad mobile network: the client reconnects and syncs. Many at once mean fan-out larger than clients can take, or a proxy buffering.",
  },
  // Store and broker while running.
  {
    area: "backends", match: ["Redis at <masked> is unreachable", "Redis at <masked> did not answer within", "Redis at <masked> failed", "the message store or broker is unavailable"],
    cause: "Redis is down, unreachable or too slow; the request or frame is answered unavailable and the node reconnects in the background (DuplexStoreDown alert).",
    fix: "Restore Redis; clients resend with the same id and nothing is stored twice. Check redis-cli INFO for memory (maxmemory with noeviction refuses writes when full).",
  },
  {
    area: "backends", match: ["broker unavailable: <message>", "RabbitMQ is not connected", "the broker is not connected to Redis", "the broker is not running", "the broker is shutting down", "the broker was closed before it connected"],
    cause: "The node's broker is not connected, not started yet, or stopping; the send is answered unavailable (DuplexBrokerDown alert).",
    fix: "The client resends with the same id. If it lasts, check RabbitMQ (rabbitmq-diagnostics status) and the node's AMQP_URL.",
  },
  {
    area: "backends", match: ["the message was not sequenced within", "the message was not confirmed within", "the message may still be stored", "RabbitMQ did not confirm a publish"],
    cause: "A send waited DUPLEX_SEND_TIMEOUT_MS without being sequenced: a shard without an owner, a slow Redis, or a broker failing over. It may still be stored.",
    fix: "Resend with the same id (idempotent). Check the DuplexShardWithoutOwner and DuplexSendToAckSlow alerts.",
  },
  {
    area: "backends", match: ["no queue is bound to"],
    cause: "The shard queues or their bindings were deleted while nodes ran (the publish came back unroutable).",
    fix: "Restart the nodes: they declare the topology again. Do not delete a live namespace's queues.",
  },
  {
    area: "backends", match: ["lost the connection to RabbitMQ", "cannot reach RabbitMQ", "rebuilding the RabbitMQ connection"],
    cause: "RabbitMQ went away or cannot be reached; the node retries with backoff, through each URL of AMQP_URL in turn (DuplexBrokerReconnecting alert when it flaps).",
    fix: "Check the broker and the network path; a broker cluster behind several URLs keeps the node running while one broker is down.",
  },
  {
    area: "backends", match: ["shard batch failed; retrying", "shard batch abandoned; requeueing it"],
    cause: "Sequencing a batch of a shard failed (usually Redis); it is retried, or requeued when the node gives the shard up.",
    fix: "Nothing is lost; fix Redis if it persists.",
  },
  {
    area: "backends", match: ["dropped an unreadable message from a shard queue", "ignored a broadcast it could not read"],
    cause: "A message on duplex's queues or exchange is not in duplex's format: something else publishes there, or nodes of different versions share a namespace.",
    fix: "Give each deployment its own DUPLEX_NAMESPACE, and let only duplex nodes publish to it.",
  },
  {
    area: "backends", match: ["the hub's <what> handler threw", "gap fill failed", "delivery skipped: conversation unreadable"],
    cause: "Delivering a sequenced message to local sockets failed, usually because Redis failed while reading members or history.",
    fix: "Devices recover the missing messages with sync on their next reconnect; fix Redis if it repeats.",
  },
  {
    area: "backends", match: ["session heartbeat failing", "session registration failed", "session removal failed", "could not reach the node of a replaced session"],
    cause: "Writing presence to Redis failed, or the node holding a replaced session could not be told to close it.",
    fix: "Presence heals by itself: records expire by TTL and the next heartbeat writes them again. Fix Redis if it lasts.",
  },
  // The CLI: `duplex <command>: <message>` on stderr, exit code 1.
  {
    area: "cli", match: ["unknown command"],
    cause: "The first argument is not a duplex command.",
    fix: "Run duplex --help for the list.",
  },
  {
    area: "cli", match: ["Unknown option", "argument missing"],
    cause: "A flag the command does not have, or a flag without its value (node:util parseArgs).",
    fix: "duplex <command> --help lists the command's flags and their values.",
  },
  {
    area: "cli", match: ["DUPLEX_JWT_SECRET is not set: tokens must be signed", "--user is required", "--ttl must look like", "user must be 1 to 128 characters", "ttl must be a positive number"],
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
      "--proxy-header", "--nginx-version",
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
];

/** Lines printed by libraries on duplex's behalf, which no scan of src/ finds. */
export const LIBRARY_LINES: ErrorLine[] = [
  { message: "Unknown option '<option>'", kind: "", files: ["node:util parseArgs (the CLI)"] },
  { message: "Option '<option> <value>' argument missing", kind: "", files: ["node:util parseArgs (the CLI)"] },
];

export interface Row extends ErrorLine {
  explanation: Explanation;
}

/** Every error line with its explanation; `unexplained` and `unused` must both be empty. */
export function explain(lines: ErrorLine[] = [...errorLines(ROOT_DIR), ...LIBRARY_LINES]) {
  const rows: Row[] = [];
  const unexplained: ErrorLine[] = [];
  const used = new Set<Explanation>();
  for (const line of lines) {
    const explanation = EXPLANATIONS.find((e) => e.match.some((m) => line.message.includes(m)));
    if (!explanation) unexplained.push(line);
    else {
      used.add(explanation);
      rows.push({ ...line, explanation });
    }
  }
  return { rows, unexplained, unused: EXPLANATIONS.filter((e) => !used.has(e)) };
}

const ROOT_DIR = new URL("../..", import.meta.url).pathname;

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const code = (s: string) => `\`${cell(s).replace(/`/g, "'")}\``;

/** One table per area: the messages an explanation covers share its row. */
export function troubleshootingTables(rows: Row[] = explain().rows): string {
  return (Object.entries(AREAS) as [Area, string][]).map(([area, title]) => {
    const groups = EXPLANATIONS.filter((e) => e.area === area).flatMap((e) => {
      const mine = rows.filter((r) => r.explanation === e);
      if (mine.length === 0) return [];
      const messages = mine.map((r) => `${code(r.message)}${r.kind ? ` (${r.kind})` : ""}`).join("<br>");
      return [`| ${messages} | ${cell(e.cause)} | ${cell(e.fix)} |`];
    });
    return [`### ${title}`, "", "| message | cause | fix |", "| --- | --- | --- |", ...groups].join("\n");
  }).join("\n\n");
}
