/**
 * The demo page in a real browser (Debian's Chromium driven by playwright-core): two pages
 * as two devices of one user, a protocol client as another user, and a node that dies.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { dropNamespace } from "../cleanup.ts";
import { closeDevices, device, online } from "../client/live.ts";
import { api, mintToken, type NodeProc, ROOT, startNode, testNamespace } from "../harness.ts";
import { amqpUrl, redisUrl } from "../services.ts";

/** bun 1.4.5 ignores bunfig's [test] timeout, so the slow steps name theirs. */
const SLOW = 90_000;
const WAIT = { timeout: 20_000 };
const uid = (p: string) => `${p}-${crypto.randomUUID().slice(0, 6)}`;
const profile = mkdtempSync(join(tmpdir(), "duplex-chromium-"));
let browser: BrowserContext | undefined;

beforeAll(async () => {
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, SLOW);

afterAll(async () => {
  closeDevices();
  await browser?.close();
  rmSync(profile, { recursive: true, force: true });
}, SLOW);

async function openPage(url: string): Promise<Page> {
  const page = await browser!.newPage();
  page.on("pageerror", (err) => console.log(`page error: ${err.message}`));
  await page.goto(url);
  return page;
}

const message = (page: Page, text: string) => page.locator("#messages li", { hasText: text }).waitFor(WAIT);
const state = (page: Page, text: string) => page.locator("#state", { hasText: text }).waitFor(WAIT);

async function type(page: Page, text: string): Promise<void> {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

describe("the demo page on a node over Redis and RabbitMQ", () => {
  const namespace = testNamespace();
  let env: Record<string, string>;
  let node: NodeProc;
  beforeAll(async () => {
    env = {
      REDIS_URL: await redisUrl(), AMQP_URL: await amqpUrl(), DUPLEX_NAMESPACE: namespace,
      DUPLEX_SHARDS: "2", DUPLEX_JWT_SECRET: `secret-${crypto.randomUUID()}`,
    };
    node = await startNode({ env });
  }, SLOW);
  afterAll(async () => {
    closeDevices();
    await node?.kill();
    await dropNamespace(namespace, 2);
  }, SLOW);

  test("two pages of one user and a client of another exchange messages, and survive a node restart", async () => {
    const [ana, ben] = [uid("ana"), uid("ben")];
    const conv = (await api(node, ana, "/api/conversations", { body: { members: [ben] } })).body.id as string;
    const token = await mintToken(ana, node.secret);
    const page = (dev: string) => openPage(`${node.url}/?token=${token}&device=${dev}&conv=${conv}`);
    const [laptop, phone] = [await page("laptop"), await page("phone")];
    const cli = await online(await device(node, ben, "cli"));
    await state(laptop, "open");
    await state(phone, "open");

    await type(laptop, "hello from the laptop");
    await message(phone, "hello from the laptop");
    await cli.until("the laptop's message", () => cli.msgs.some((m) => JSON.stringify(m.body).includes("hello from the laptop")));

    await cli.client.send(conv, { text: "hi from the client" });
    await message(laptop, "hi from the client");
    await message(phone, "hi from the client");
    await phone.getByText(/Read on laptop up to #2/).waitFor(WAIT);

    await node.kill();
    await state(laptop, "reconnecting");
    node = await startNode({ env: { ...env, PORT: String(node.port) } });
    await state(laptop, "open");
    await state(phone, "open");
    await cli.until("open again", () => cli.client.state === "open");

    await cli.client.send(conv, { text: "after the restart" });
    await message(laptop, "after the restart");
    await message(phone, "after the restart");
    await type(phone, "phone is back too");
    await message(laptop, "phone is back too");

    expect(await laptop.locator("#messages li .text").allTextContents()).toEqual(["hello from the laptop", "hi from the client", "after the restart", "phone is back too"]);
    mkdirSync(join(ROOT, ".test-artifacts"), { recursive: true });
    await laptop.screenshot({ path: join(ROOT, ".test-artifacts/demo.png"), fullPage: true });
  }, SLOW);
});

describe("the demo page in development mode", () => {
  let node: NodeProc;
  beforeAll(async () => {
    node = await startNode({ env: { DUPLEX_JWT_SECRET: "" } });
  }, SLOW);
  afterAll(async () => {
    await node?.kill();
  }, SLOW);

  test("logs a user in with a dev token, lists their conversations, creates one and sends to its other member", async () => {
    const [ivy, jon] = [uid("ivy"), uid("jon")];
    const res = await fetch(`${node.url}/api/dev/token`, { method: "POST", body: JSON.stringify({ user: jon }), headers: { "content-type": "application/json" } });
    const jonToken = (await res.json()).token as string;
    const earlier = (await api({ url: node.url, secret: "" }, null, "/api/conversations", { body: { members: [ivy] }, token: jonToken })).body.id as string;
    const page = await openPage(`${node.url}/`);
    await page.getByLabel("User").fill(ivy);
    await page.getByLabel("Device").fill("desk");
    await page.getByRole("button", { name: "Connect" }).click();
    await state(page, "open");
    // Made by jon before ivy ever connected, with no message in it yet.
    await page.getByRole("navigation", { name: "Conversations" }).locator(`button[title="${earlier}"]`, { hasText: `${jon}, ${ivy}` }).waitFor(WAIT);
    await page.getByLabel("Members").fill(jon);
    await page.getByRole("button", { name: "Create" }).click();
    await page.locator("#title", { hasText: /^Conversation / }).waitFor(WAIT);

    const jonDevice = await online(await device({ url: node.url, secret: "" }, jon, "cli", { token: jonToken }));
    await type(page, "made in the browser");
    await message(page, "#1");
    await jonDevice.until("the message", () => jonDevice.msgs.length === 1);
    expect(jonDevice.msgs[0]).toMatchObject({ seq: 1, from: { user: ivy, device: "desk" }, body: { text: "made in the browser" } });
  }, SLOW);
});
