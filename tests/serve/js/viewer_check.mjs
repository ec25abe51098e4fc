// Drives the run viewer in a real headless Chromium (the binary shipped by @sparticuz/chromium, or
// CHROMIUM_PATH) with playwright-core: starts a run and watches its timeline fill in live,
// cancels another, answers an interrupt, and takes screenshots into `artifacts`. Prints what it
// saw as JSON for the Python test to check. One argument: {url, apiKey, artifacts}.
import chromium from "@sparticuz/chromium";
import { chromium as playwright } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const options = JSON.parse(process.argv[2]);
mkdirSync(options.artifacts, { recursive: true });
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run"];

const executablePath = process.env.CHROMIUM_PATH || (await chromium.executablePath());
const browser = await playwright.launch({
  executablePath,
  args: [...new Set([...(process.env.CHROMIUM_PATH ? [] : chromium.args), ...FLAGS])],
  headless: true,
});
const seen = { errors: [] };
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1.5 });
  const page = await context.newPage();
  page.on("pageerror", (error) => seen.errors.push(String(error)));
  page.on("console", (message) => { if (message.type() === "error" && !/401/.test(message.text())) seen.errors.push(message.text()); });
  const shot = (name) => page.screenshot({ path: join(options.artifacts, name), animations: "disabled" });
  const badge = () => page.locator("#run-status").textContent();

  await page.goto(options.url);
  // The server wants a key: the viewer asks for it.
  await page.locator("#key-dialog[open]").waitFor();
  seen.askedForKey = true;
  await page.fill("#key-input", options.apiKey);
  await page.click("#key-save");
  await page.locator("#agent option", { hasText: "research-assistant" }).waitFor({ state: "attached" });
  seen.agents = await page.locator("#agent option").allTextContents();

  // 1. A run whose timeline fills in live: tokens stream into a model call while it runs.
  await page.selectOption("#agent", "research-assistant");
  await page.fill("#message", "What should I pack for Paris this weekend?");
  await page.click("#start");
  const streaming = page.locator(".item.streaming .text");
  await page.waitForFunction(() => {
    const t = document.querySelector(".item.streaming .text");
    return t && t.textContent.trim().split(/\s+/).length >= 3;
  });
  seen.whileStreaming = {
    status: await badge(),
    items: await page.locator(".timeline .item").count(),
    text: await streaming.first().textContent(),
  };
  await shot("01-streaming.png");
  await page.waitForFunction(() => document.querySelector("#run-status").textContent === "succeeded", null, { timeout: 60000 });
  seen.finished = {
    status: await badge(),
    items: await page.locator(".timeline .item").count(),
    steps: await page.locator(".item.step > .node > .node-head .title").allTextContents(),
    tools: await page.locator(".kind.tool + .title").allTextContents(),
    checkpoints: await page.locator(".kind.ckpt", { hasText: "checkpoint" }).count(),
    llmTexts: await page.locator(".kind.llm + .title").count(),
    output: await page.locator(".node.success pre").textContent(),
    events: Number(await page.locator("#stat-events").textContent()),
    runId: await page.locator("#run-id").textContent(),
  };
  await shot("02-succeeded.png");

  // 2. Cancel a run that waits.
  await page.selectOption("#agent", "waits");
  await page.click("#start");
  await page.waitForFunction(() => document.querySelector("#run-status").textContent === "running");
  await page.locator("#cancel").waitFor({ state: "visible" });
  await page.click("#cancel");
  await page.waitForFunction(() => document.querySelector("#run-status").textContent === "cancelled");
  seen.cancelled = { status: await badge(), runId: await page.locator("#run-id").textContent(), cancelHidden: await page.locator("#cancel").isHidden() };
  await shot("03-cancelled.png");

  // 3. Answer an interrupt.
  await page.selectOption("#agent", "approval-agent");
  await page.click("#start");
  await page.locator("#interrupt").waitFor({ state: "visible", timeout: 60000 });
  seen.interrupt = { status: await badge(), question: await page.locator("#interrupt-question").textContent() };
  await shot("04-interrupt.png");
  await page.fill("#answer", "yes");
  await page.click("#answer-send");
  await page.waitForFunction(() => document.querySelector("#run-status").textContent === "succeeded", null, { timeout: 60000 });
  seen.answered = {
    status: await badge(),
    runId: await page.locator("#run-id").textContent(),
    formHidden: await page.locator("#interrupt").isHidden(),
    tools: await page.locator(".kind.tool + .title").allTextContents(),
    answer: await page.locator(".message .text").last().textContent(),
  };
  await shot("05-answered.png");

  // 4. The research run again, picked from the list (replayed from its events): the docs' picture.
  await page.locator(`.run-item[data-run-id="${seen.finished.runId}"]`).click();
  await page.waitForFunction(() => document.querySelector("#run-status").textContent === "succeeded");
  seen.replayed = { items: await page.locator(".timeline .item").count(), runs: await page.locator(".run-item").count() };
  await page.evaluate(() => document.querySelector(".main").scrollTo(0, 0));
  await shot("viewer.png");
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
