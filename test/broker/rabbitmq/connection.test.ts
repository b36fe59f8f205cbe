/**
 * AmqpLink against the machine's RabbitMQ: what its own recovery layer adds to amqplib's.
 */
import { expect, test } from "bun:test";
import type { ChannelModel } from "amqplib";
import { AmqpLink } from "../../../src/broker/rabbitmq/connection.ts";
import { createLogger } from "../../../src/core/log.ts";
import { amqpUrl } from "../../services.ts";
import { testNamespace, waitFor } from "./fixture.ts";

test("a setup that the broker answers by closing the connection is retried, not fatal to the process", async () => {
  const exchange = `${testNamespace()}.probe`;
  let attempts = 0;
  let ups = 0;
  const link = new AmqpLink({
    url: await amqpUrl(), heartbeatSeconds: 5, name: "duplex amqp-connection test", log: createLogger("error"),
    async setup(model: ChannelModel) {
      const channel = await model.createChannel();
      // An unknown exchange type is a connection error (503 COMMAND_INVALID): the broker
      // closes the whole connection while setup runs, as it does with 541 when a cluster
      // member that holds a queue is gone.
      if (++attempts === 1) await channel.assertExchange(exchange, "x-no-such-type", { autoDelete: true });
      await channel.close();
    },
    up: () => ups++,
    down: () => {},
    fatal: (err) => { throw err; },
  });
  try {
    await link.open();
    await waitFor("the link to come up on a later attempt", () => ups === 1, 20_000);
    expect(attempts).toBeGreaterThanOrEqual(2);
  } finally {
    await link.close();
  }
});
