/** Causes and fixes of the lines a node prints: at start-up, over HTTP, on a socket, while running. */
import type { Explanation } from "./troubleshooting.ts";

const SETTINGS_DOC = "the settings table in docs/12-reference.md";

export const NODE_EXPLANATIONS: Explanation[] = [
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
    area: "start", match: ["<env> must be an integer from", "<name> must be an integer from", "<env> must be one of", "<env> must be <values>", "<env> must be a duration from", "<env> must list IP addresses or CIDR ranges"],
    cause: "A setting holds a value outside what it accepts; the message names the variable and the value.",
    fix: `Correct the variable; every setting's bounds are in ${SETTINGS_DOC}.`,
  },
  {
    area: "start", match: ["PORT <port> is already in use", "PORT <port> needs privileges", "HOST \"<host>\" is not an address of this machine", "cannot listen on HOST"],
    cause: "The node cannot listen: another process (often a node still stopping) holds PORT at HOST, the port is below 1024 and the process may not bind it, or HOST is no address of this machine (or does not resolve).",
    fix: "Pick a free PORT (ss -ltnp shows who holds one) or stop the other process; grant CAP_NET_BIND_SERVICE for a port below 1024; set HOST to an address ip addr lists (127.0.0.1 locally, 0.0.0.0 or the private address behind a proxy).",
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
    area: "start", match: ["rabbitmqBroker: <what>", "namespace (DUPLEX_NAMESPACE) must be", "nodeId (NODE_ID) must be", "heartbeatSeconds must be", "deliveryLimit must be", "start() may be called once", "submit: ref"],
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
    area: "http", match: ["the access token names no valid user", "the access token's user (sub) must be <ID_RULE>"],
    cause: "The token verifies, but its sub is missing, or is not 1 to 128 characters of well-formed Unicode.",
    fix: "Issue tokens with sub set to the user id.",
  },
  {
    area: "http", match: ["the access token has no expiry (exp)", "the access token expires (exp) more than <maxTtlSeconds> s from now"],
    cause: "The token has no exp, or its exp lies further ahead than DUPLEX_MAX_TOKEN_TTL allows: a leaked token must not stay valid for ever.",
    fix: "Issue short-lived tokens with exp (duplex token --ttl does); raise DUPLEX_MAX_TOKEN_TTL on every node only if your issuer needs longer.",
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
    area: "http", match: ["this endpoint only speaks WebSocket", "a WebSocket upgrade needs Sec-WebSocket-Key", "the WebSocket upgrade failed"],
    cause: "A plain HTTP request reached /ws, or a proxy dropped the Upgrade and Connection headers (on Bun, a request Bun itself will not upgrade is refused with the last line).",
    fix: "Behind nginx, use the generated config (it forwards Upgrade and Connection); for other proxies, enable WebSocket pass-through.",
  },
  {
    area: "http", match: ["a <method> request cannot ask for an upgrade here"],
    cause: "On Node and Deno, a request other than GET or HEAD carried an Upgrade header that is not websocket (curl --http2 sends Upgrade: h2c). Node hands such a request over without reading its body, so it is refused (400) rather than served without it; Bun serves it.",
    fix: "Send it without the Upgrade header (curl --http1.1), or over TLS, where HTTP/2 is negotiated without one; nginx passes a client's Upgrade header on to the nodes as it came.",
  },
  {
    area: "http", match: ["query \"device\" must be", "field \"user\" must be a string", "field \"members\" must be", "every entry of \"members\"", "query \"users\" must list", "query \"<name>\" must be an integer", "the request body is not valid JSON", "the request body must be a JSON object",
      "field \"user\" must be <ID_RULE>", "the conversation id in the path must be <ID_RULE>", "user must be <ID_RULE>", "<field> must be <ID_RULE>"],
    cause: "A request parameter or JSON body does not have the shape CONTRACT.md §2 gives it; the message names the field.",
    fix: "Fix the client's request; the limits (1 to 1000 members, ids of 1 to 128 characters, limit 1 to 1000) are in CONTRACT.md.",
  },
  {
    area: "http", match: ["request body over <maxBody> bytes"],
    cause: "An HTTP body larger than DUPLEX_MAX_MESSAGE_BYTES or the largest valid member list (1,545,024 bytes), whichever is larger (413 too_large).",
    fix: "Send less; raise DUPLEX_MAX_MESSAGE_BYTES only if messages legitimately need it.",
  },
  {
    area: "http", match: ["presence is shown for yourself and the users you share a conversation with"],
    cause: "GET /api/presence named a user who shares no conversation with the caller (403 forbidden): presence is not a directory of every user.",
    fix: "Ask only for users you share a conversation with; create the conversation first.",
  },
  {
    area: "http", match: ["request refused"],
    cause: "The node's log line for an HTTP request it refused as unavailable; its cause field names the Redis or broker failure the client is not shown.",
    fix: "Read the cause field, then see the backends rows below.",
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
    area: "http", match: ["the request body must nest at most"],
    cause: "A JSON request body nests arrays and objects deeper than DUPLEX_MAX_BODY_DEPTH; the API's own bodies never need more than 2 levels.",
    fix: "Send the body the endpoint documents (CONTRACT §2); extra nested fields are refused, not ignored.",
  },
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
    area: "backends", match: ["Redis at <masked> is unreachable", "Redis at <masked> did not answer within", "Redis at <masked> failed", "the message store or broker is unavailable",
      "Redis <what>; retry later", "Redis at <masked> (<label>): <detail>"],
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
    area: "backends", match: ["ignored a broadcast it could not read"],
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
  {
    area: "backends",
    match: [
      "message refused for good and set aside", "the message cannot be processed", "cannot be serialised", "stored as seq <seq> of",
      "the message was delivered <…> times without being settled", "Redis refused it for good", "Redis at <masked> (<label>): <err>",
    ],
    cause: "A poison message: one that fails however often it is retried (a body that cannot be serialised, an error inside a Redis script, a key of the wrong type, bytes that are no send), or that took its shard's owner down 20 times. Its sender got unprocessable; with RabbitMQ it waits in <namespace>.dead-letter (duplex_messages_dead_lettered_total, duplex_dead_letter_queue_messages).",
    fix: "Look at it with duplex dead-letters (never prints bodies); fix the cause (the key, the node version), then duplex dead-letters --replay. Chapter 9 explains the policy.",
  },
  {
    area: "backends", match: ["skipped what could not be encoded"],
    cause: "A stored message is nested deeper than this runtime's JSON.stringify can take (stored before DUPLEX_MAX_BODY_DEPTH existed, or by a node with a higher one); the live stream, sync and the history skip it (duplex_unencodable_skipped_total).",
    fix: "Nothing to do for the node. The message stays in the store; the history trims it in time.",
  },
  {
    area: "backends", match: ["fan-out of a message failed"],
    cause: "Writing a sequenced message to this node's sockets threw: a bug, caught so the process lives on.",
    fix: "Devices recover the message with sync; report the line (conversation and seq) with the node's version.",
  },
];
