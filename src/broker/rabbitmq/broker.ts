/**
 * The RabbitMQ broker: the in-process broker's shape spread over a cluster.
 *
 *   submit ─▶ <ns>.ingress (direct, key = shard) ─▶ <ns>.shard.<i> (single active consumer)
 *          ─▶ its owner: handlers.sequence(batch) ─▶ <ns>.fanout ─▶ <ns>.node.<id> on every node
 *          ─▶ handlers.deliver(item) everywhere; the submitting node settles on its own copy
 *
 * Order comes from the shard queues (one active consumer each, one batch at a time, acked
 * only once the fanout has confirmed it); broadcast from the fanout, where every node has a
 * queue of its own. The fanout also carries control events and the nodes' announcements,
 * from which every node derives the same shard owners (ownership.ts).
 */
import type { ChannelModel, ConfirmChannel, ConsumeMessage, Options } from "amqplib";
import { type DuplexError, duplexError } from "../../core/errors.ts";
import { createLogger, errorFields, type Logger, unreadableFields } from "../../core/log.ts";
import { serialise } from "../../core/protocol.ts";
import { type Stage, stamp } from "../../core/stages.ts";
import type { Broker, BrokerHandlers, BrokerStatus, ControlEvent, SendRequest, Sequenced } from "../../core/ports/broker.ts";
import { AmqpLink, atMost } from "./connection.ts";
import { Membership, ownedBy } from "./ownership.ts";
import { PendingSubmits, unavailable } from "../pending.ts";
import { ShardConsumer } from "./shard-consumer.ts";
import { shardWork } from "./shard-work.ts";
import { TurnBatcher } from "./turn-batch.ts";
import { checkOptions, type RabbitmqBrokerOptions } from "./options.ts";
import { shardOf } from "../shard.ts";
import { DELIVERY_LIMIT, names, nodeQueue, topology } from "./topology.ts";
import { type Bye, type Hello, parseRequest, type Refusal } from "./wire.ts";

export type { RabbitmqBrokerOptions };

/** How often a node announces itself, and how long an announcement keeps it a member. */
const ANNOUNCE_MS = 1000;
const MEMBER_TTL_MS = 3500;
/** How long a starting node waits for a running cluster to say how many shards it has. */
const PROBE_WAIT_MS = 2000;
/** A goodbye is a courtesy (the others also notice silence): it may not hold up a shutdown. */
const BYE_WAIT_MS = 1000;

export function rabbitmqBroker(url: string, options: RabbitmqBrokerOptions): Broker {
  checkOptions(url, options);
  return new RabbitmqBroker(url, options);
}

class RabbitmqBroker implements Broker {
  #o: Required<Omit<RabbitmqBrokerOptions, "log">>;
  #names: ReturnType<typeof names>;
  #log: Logger;
  #link: AmqpLink;
  #membership: Membership;
  #consumers: ShardConsumer[];
  #pending: PendingSubmits;
  #handlers: BrokerHandlers | null = null;
  #started: { resolve(): void; reject(err: DuplexError): void } | null = null;
  #publisher: ConfirmChannel | null = null;
  /** The connection while it is set up or up. */
  #model: ChannelModel | null = null;
  /** Per shard, the owner key last acted on; null until this connection's consumers exist. */
  #owners: string[] | null = null;
  #incarnation = "";
  #ready = false;
  #connectedOnce = false;
  #reconnects = 0;
  #closing = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** A node heard announcing another DUPLEX_SHARDS, and who waits to hear from any peer. */
  #disagreement: { node: string; shards: number } | null = null;
  #peerWaiters: (() => void)[] = [];
  /** Every owned shard's sequenced batches of one turn, as one fanout message. */
  #sequenced = new TurnBatcher((json) => this.#send(this.#names.fanout, "", "sequenced", Buffer.from(json)), "a sequenced message");

  constructor(url: string, options: RabbitmqBrokerOptions) {
    this.#o = { queueType: "quorum", heartbeatSeconds: 5, deliveryLimit: DELIVERY_LIMIT, ...options };
    const { namespace, nodeId, heartbeatSeconds } = this.#o;
    this.#names = names(namespace);
    this.#log = (options.log ?? createLogger("info")).child({ component: "rabbitmq" });
    this.#membership = new Membership(nodeId, MEMBER_TTL_MS);
    this.#link = new AmqpLink({
      url, heartbeatSeconds, name: `duplex ${namespace} ${nodeId}`, log: this.#log,
      setup: (model) => this.#setup(model),
      up: () => this.#up(),
      down: () => this.#reset("the connection to RabbitMQ was lost"),
      fatal: (err) => this.#fatal(err),
    });
    this.#pending = new PendingSubmits(this.#o.sendTimeoutMs);
    const work = shardWork({
      sequence: (messages) => this.#handlers!.sequence(messages),
      fanOut: (items) => this.#sequenced.add(items),
      fanOutRefusal: (refusal) => this.#publish(this.#names.fanout, "", "refused", refusal),
      stopping: () => this.#closing,
      deadLettered: (report) => this.#call("deadLettered", () => this.#handlers?.deadLettered?.(report)),
      // Quorum queues count deliveries and enforce x-delivery-limit themselves.
      countDelivery: this.#o.queueType === "classic" ? (ref) => this.#handlers?.countDelivery?.(ref) ?? Promise.resolve(0) : null,
      deliveryLimit: this.#o.deliveryLimit,
      stage: (stage, ms) => this.#stage(stage, ms),
      log: this.#log,
    });
    this.#consumers = Array.from({ length: this.#o.shards }, (_, s) => new ShardConsumer(s, {
      queue: this.#names.shard(s), link: this.#link, work, settleMs: this.#o.sendTimeoutMs, log: this.#log,
    }));
  }

  start(handlers: BrokerHandlers): Promise<void> {
    if (this.#handlers || this.#closing) return Promise.reject(duplexError("bad_request", "start() may be called once, before close()"));
    this.#handlers = handlers;
    const started = new Promise<void>((resolve, reject) => (this.#started = { resolve, reject }));
    this.#link.open().catch((err) => this.#fatal(duplexError("bad_request", `cannot connect to ${this.#link.url}: ${errorFields(err).err}`)));
    return started;
  }

  submit(request: SendRequest): Promise<Sequenced> {
    const { ref } = request;
    if (!this.#ready) return Promise.reject(unavailable("RabbitMQ is not connected"));
    const shard = shardOf(request.message.conv, this.#o.shards);
    return this.#pending.wait(ref, request.origin, () => {
      const sentAt = stamp();
      this.#publish(this.#names.ingress, String(shard), "send", { ...request, sentAt }, { persistent: true, mandatory: true })
        .then(() => this.#stage("ingress_confirm", stamp() - sentAt), (err) => this.#pending.settle(ref, err));
    });
  }

  async publish(event: ControlEvent): Promise<void> {
    if (!this.#ready) throw unavailable("RabbitMQ is not connected");
    await this.#publish(this.#names.fanout, "", "control", event);
  }

  status(): BrokerStatus {
    const { nodeId, shards } = this.#o;
    return {
      ready: this.#ready, owned: this.#ready ? ownedBy(nodeId, this.#membership.nodes(), shards) : [], shards, reconnects: this.#reconnects,
    };
  }

  async deadLetters(): Promise<number | null> {
    const model = this.#model;
    if (!this.#ready || !model) return null;
    try {
      const probe = await this.#link.scratchChannel(model);
      try {
        return (await probe.checkQueue(this.#names.deadLetter)).messageCount;
      } finally {
        await this.#link.release(probe);
      }
    } catch {
      return null;
    }
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#started?.reject(unavailable("the broker was closed before it connected"));
    this.#started = null;
    const wasReady = this.#ready;
    this.#ready = false;
    clearInterval(this.#timer);
    this.#pending.failAll("the broker is shutting down");
    // Goodbye first, so the others rebalance while this node finishes its batches in hand.
    const bye: Bye = { node: this.#o.nodeId, incarnation: this.#incarnation };
    if (wasReady) await atMost(BYE_WAIT_MS, this.#publish(this.#names.fanout, "", "bye", bye));
    await Promise.all(this.#consumers.map((c) => c.release()));
    await this.#link.close();
  }

  /** Runs on every new connection; the node takes traffic only once it has finished. */
  async #setup(model: ChannelModel): Promise<void> {
    this.#reset("the connection to RabbitMQ was rebuilt");
    this.#model = model;
    const { nodeId, namespace } = this.#o;
    this.#incarnation = crypto.randomUUID().slice(0, 8);
    this.#membership.heard(nodeId, this.#incarnation);
    this.#membership.expire(); // whoever fell silent while this node was away
    const t = topology(this.#o);
    const publisher = await this.#link.confirmChannel(model);
    publisher.on("return", (msg: ConsumeMessage) => this.#returned(msg));
    await this.#declaring(async () => {
      for (const e of t.exchanges) await publisher.assertExchange(e.name, e.type, { durable: e.durable });
    });
    const own = nodeQueue(namespace, nodeId);
    const listener = await this.#link.channel(model);
    await listener.assertQueue(own.name, { durable: own.durable, exclusive: own.exclusive, arguments: own.arguments });
    await listener.bindQueue(own.name, this.#names.fanout, "");
    await listener.consume(own.name, (msg) => msg && this.#hear(msg), { noAck: true });
    this.#publisher = publisher;
    await this.#checkShardCount(model);
    await this.#declaring(async () => {
      for (const q of t.queues) await publisher.assertQueue(q.name, { durable: q.durable, arguments: q.arguments });
      for (const b of t.bindings) await publisher.bindQueue(b.destination, b.source, b.routingKey);
    });
    // This node's own shards get in line first, standbys for the rest after: whoever
    // registered first is a single-active-consumer queue's active consumer.
    const owners = this.#consumers.map((c) => this.#membership.owner(c.shard));
    const mine = (c: ShardConsumer) => owners[c.shard]?.node === nodeId;
    await Promise.all(this.#consumers.filter(mine).map((c) => c.subscribe(model)));
    await Promise.all(this.#consumers.filter((c) => !mine(c)).map((c) => c.subscribe(model)));
    // Only now may membership move shards: a change heard while subscribing is caught up here.
    this.#owners = owners.map((o) => o?.key ?? "");
    this.#rebalance();
    await this.#announce(false);
    this.#timer = setInterval(() => this.#tick(), ANNOUNCE_MS);
  }

  /** A 406 while declaring means objects of these names exist with other arguments. */
  async #declaring(declare: () => Promise<void>): Promise<void> {
    try {
      await declare();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 406) throw err;
      throw duplexError("bad_request", `RabbitMQ refused the topology of DUPLEX_NAMESPACE "${this.#o.namespace}" with DUPLEX_QUEUE_TYPE=${this.#o.queueType}: ${errorFields(err).err}. Existing objects of these names were declared with other arguments: delete them or use the settings they were made with`);
    }
  }

  /** CONTRACT §1: a node that disagrees with the running cluster on DUPLEX_SHARDS refuses to start. */
  async #checkShardCount(model: ChannelModel): Promise<void> {
    if (!(await this.#clusterRunning(model))) return;
    this.#disagreement = null;
    const heard = new Promise<void>((resolve) => this.#peerWaiters.push(resolve));
    await this.#announce(true);
    await atMost(PROBE_WAIT_MS, heard);
    // #hello records a disagreeing answer meanwhile (TypeScript cannot see that).
    const other = this.#disagreement as { node: string; shards: number } | null;
    if (other) {
      throw duplexError("bad_request", `DUPLEX_SHARDS=${this.#o.shards} disagrees with the running cluster of DUPLEX_NAMESPACE "${this.#o.namespace}", where node ${other.node} has DUPLEX_SHARDS=${other.shards}; every node must use the same value`);
    }
  }

  /** Some node consumes shard 0, so nodes of this namespace are running. */
  async #clusterRunning(model: ChannelModel): Promise<boolean> {
    const probe = await this.#link.scratchChannel(model); // a missing queue closes it (404)
    try {
      return (await probe.checkQueue(this.#names.shard(0))).consumerCount > 0;
    } catch {
      return false;
    } finally {
      await this.#link.release(probe);
    }
  }

  #up(): void {
    if (this.#connectedOnce) this.#reconnects++;
    this.#connectedOnce = true;
    this.#ready = true;
    this.#started?.resolve();
    this.#started = null;
  }

  #fatal(err: DuplexError): void {
    this.#log.error("RabbitMQ setup cannot succeed", { url: this.#link.url, ...errorFields(err) });
    if (!this.#started) return;
    this.#started.reject(err);
    this.#started = null;
    void this.close();
  }

  #reset(why: string): void {
    this.#ready = false;
    this.#publisher = null;
    this.#model = null;
    this.#owners = null;
    clearInterval(this.#timer);
    for (const c of this.#consumers) c.drop();
    this.#pending.failAll(why);
  }

  #tick(): void {
    this.#announce(false).catch(() => {});
    if (this.#membership.expire()) this.#rebalance();
  }

  #announce(probe: boolean): Promise<void> {
    const hello: Hello = { node: this.#o.nodeId, incarnation: this.#incarnation, shards: this.#o.shards, probe };
    return this.#publish(this.#names.fanout, "", "hello", hello);
  }

  /** Every shard whose owner changed and is not this node: step back so the owner is active. */
  #rebalance(): void {
    const owners = this.#owners;
    if (!owners) return;
    for (const c of this.#consumers) {
      const owner = this.#membership.owner(c.shard);
      if (!owner || owner.key === owners[c.shard]) continue;
      owners[c.shard] = owner.key;
      if (owner.node === this.#o.nodeId) continue;
      this.#log.debug("stepping back from a shard another node owns", { shard: c.shard, owner: owner.node });
      void c.resubscribe();
    }
  }

  /** A broadcast on this node's own queue; a malformed one is logged, never thrown into amqplib. */
  #hear(msg: ConsumeMessage): void {
    try {
      this.#dispatch(msg.properties.type, JSON.parse(msg.content.toString()));
    } catch (err) {
      this.#log.warn("ignored a broadcast it could not read", { type: msg.properties.type, ...unreadableFields(err, msg.content.length) });
    }
  }

  #dispatch(type: string, body: unknown): void {
    switch (type) {
      case "sequenced": {
        const heardAt = stamp();
        for (const item of body as Sequenced[]) {
          if (item.sequencedAt !== undefined) this.#stage("fanout_delivery", heardAt - item.sequencedAt);
          this.#call("deliver", () => this.#handlers?.deliver(item));
          if (this.#pending.has(item.ref)) this.#pending.settle(item.ref, { ...item, heardAt }, item.origin);
        }
        return;
      }
      case "refused": {
        const r = body as Refusal;
        this.#pending.settle(r.ref, duplexError(r.error.code, r.error.message), r.origin);
        return;
      }
      case "control":
        this.#call("control", () => this.#handlers?.control(body as ControlEvent));
        return;
      case "hello":
        return this.#hello(body as Hello);
      case "bye": {
        const bye = body as Bye;
        if (this.#membership.left(bye.node, bye.incarnation)) this.#rebalance();
        return;
      }
    }
  }

  #hello(h: Hello): void {
    if (h.node === this.#o.nodeId) return;
    for (const wake of this.#peerWaiters.splice(0)) wake();
    // A probe comes from a node that has not registered a consumer yet: answer it, but it is
    // no member (stepping back for it now would hand its shards to whoever stands next in line).
    if (h.probe) {
      this.#announce(false).catch(() => {});
      return;
    }
    if (h.shards !== this.#o.shards) {
      // Its shard numbers mean other conversations than ours: never a member.
      if (this.#disagreement?.node !== h.node) {
        this.#log.error("a node disagrees on DUPLEX_SHARDS", { other: h.node, theirs: h.shards, ours: this.#o.shards });
      }
      this.#disagreement = { node: h.node, shards: h.shards };
      return;
    }
    if (this.#membership.heard(h.node, h.incarnation)) this.#rebalance();
  }

  #stage(stage: Stage, ms: number): void {
    this.#handlers?.stage?.(stage, ms);
  }

  #call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error(`the hub's ${what} handler threw`, errorFields(err));
    }
  }

  #publish(exchange: string, key: string, type: string, body: unknown, options: Options.Publish = {}): Promise<void> {
    let content: Buffer;
    try {
      // A body that cannot be serialised fails for good, not as RabbitMQ being away.
      content = Buffer.from(serialise(body, `a ${type} message`));
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#send(exchange, key, type, content, options);
  }

  #send(exchange: string, key: string, type: string, content: Buffer, options: Options.Publish = {}): Promise<void> {
    const channel = this.#publisher;
    if (!channel) return Promise.reject(unavailable("RabbitMQ is not connected"));
    return new Promise((resolve, reject) => {
      const fail = (err: unknown) => reject(unavailable(`RabbitMQ did not confirm a publish to ${exchange}`, err));
      try {
        channel.publish(exchange, key, content, { ...options, type, contentType: "application/json" }, (err) => (err ? fail(err) : resolve()));
      } catch (err) {
        fail(err);
      }
    });
  }

  /** A mandatory `send` no queue took: the topology is missing. */
  #returned(msg: ConsumeMessage): void {
    const request = parseRequest(msg.content);
    if (!request) return;
    this.#pending.settle(request.ref, unavailable(`no queue is bound to ${this.#names.ingress} for shard ${msg.fields.routingKey}`), request.origin);
  }
}
