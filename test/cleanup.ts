/** Removes what a test run left under its namespace in the shared Redis and RabbitMQ. */
import { deleteNamespace } from "./broker/rabbitmq/fixture.ts";
import { amqpUrl } from "./services.ts";
import { dropKeys } from "./store/redis/fixtures.ts";

export async function dropNamespace(namespace: string, shards = 16): Promise<void> {
  await dropKeys(`${namespace}:*`);
  await deleteNamespace(await amqpUrl(), namespace, shards);
}
