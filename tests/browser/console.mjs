// Drives the operator console in a real browser (Debian's Chromium through playwright-core),
// as an operator would: sign in with the keyboard, find the failing instance on the overview,
// open its dead letters, read the attempt's error, fix the callback URL, replay, and watch the
// events arrive (the list refreshes itself). Every page gets an axe-core check (serious and
// critical violations are reported) and screenshots at 1280 and 390 px wide.
// Started by tests/it/console_browser.rs with a JSON plan in argv[2]; prints one result line
// ("RESULT {...}").
//
// plan = { bridge, token, artifacts, chromium, failing: { id, name }, receiverUrl, dead }
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const plan = JSON.parse(process.argv[2]);
fs.rmSync(plan.artifacts, { recursive: true, force: true });
fs.mkdirSync(plan.artifacts, { recursive: true });
const origin = new URL(plan.bridge).origin;

const result = { steps: {}, a11y: [], foreignRequests: [], consoleErrors: [], dialogs: [], errors: [], pages: [] };
const browser = await chromium.launch({
  executablePath: plan.chromium,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
// A viewer far from UTC: times must be shown in this zone.
const context = await browser.newContext({
  viewport: { width: 1280, height: 900 },
  timezoneId: "Asia/Kolkata",
  locale: "en-GB",
});
context.on("request", (req) => {
  const u = new URL(req.url());
  if (u.protocol.startsWith("http") && u.origin !== origin) result.foreignRequests.push(req.url());
});
const page = await context.newPage();
page.on("console", (m) => { if (m.type() === "error") result.consoleErrors.push(`${page.url()}: ${m.text()}`); });
page.on("pageerror", (e) => result.consoleErrors.push(`${page.url()}: ${e}`));
page.on("dialog", (d) => { result.dialogs.push(d.message()); d.dismiss(); });

async function shot(name) {
  await page.screenshot({ path: path.join(plan.artifacts, `${name}.png`), fullPage: true });
}

// axe-core on the page as it is (injected through the devtools protocol, so the page's own
// CSP stays as served); then a screenshot at 1280 and one at 390 px, and a check that the
// page does not scroll sideways on a phone.
async function check(name) {
  result.pages.push(name);
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    await axe.run(document, { resultTypes: ["violations"] }));
  for (const v of r.violations) {
    if (v.impact === "serious" || v.impact === "critical") {
      const where = v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ");
      result.a11y.push(`${name}: ${v.id} (${v.impact}): ${where}`);
    }
  }
  await shot(`${name}-1280`);
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (wide > 1) result.errors.push(`${name}: ${wide} px wider than a 390 px screen`);
  await shot(`${name}-390`);
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function step(name, fn) {
  try {
    result.steps[name] = (await fn()) ?? true;
  } catch (e) {
    result.errors.push(`${name}: ${e && e.message ? e.message.split("\n")[0] : e} (at ${page.url()})`);
    try { await shot(`error-${name}`); } catch {}
    throw e;
  }
}

try {
  await step("signIn", async () => {
    await page.goto(`${plan.bridge}/console`);
    if (!page.url().includes("/console/sign-in")) throw new Error(`not sent to sign in: ${page.url()}`);
    await check("sign-in");
    // With the keyboard: skip link, then the token field.
    await page.keyboard.press("Tab");
    const skip = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
    await page.keyboard.press("Tab");
    const field = await page.evaluate(() => document.activeElement && document.activeElement.id);
    if (field !== "token") throw new Error(`Tab did not reach the token field (${skip} → ${field})`);
    await page.keyboard.type(plan.token);
    await Promise.all([page.waitForURL(`${plan.bridge}/console`), page.keyboard.press("Enter")]);
    const cookies = await context.cookies();
    return cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path }));
  });

  await step("overview", async () => {
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    const attention = page.locator("section", { has: page.getByRole("heading", { name: "Needs attention" }) });
    await attention.getByRole("link", { name: plan.failing.name, exact: true }).waitFor();
    const charts = await page.locator("svg.chart").count();
    const webhooks = await page.locator("svg.chart").first().getAttribute("aria-label");
    const firstTime = await page.locator("time").count();
    await check("overview");
    return { charts, webhooks, times: firstTime };
  });

  await step("deadLetters", async () => {
    const link = page.getByRole("link", { name: `Dead letters of ${plan.failing.name} (${plan.dead})` });
    await Promise.all([page.waitForURL(/\/console\/events\?/), link.click()]);
    const rows = await page.locator("#event-rows tbody tr").count();
    const dead = await page.locator("#event-rows .state-dead").count();
    await check("dead-letters");
    return { rows, dead };
  });

  await step("attemptError", async () => {
    await Promise.all([
      page.waitForURL(/\/console\/events\/evt_/),
      page.locator("#event-rows tbody tr a").first().click(),
    ]);
    const table = page.getByRole("region", { name: "Delivery attempts" });
    const errors = await table.locator("td.err-cell").allTextContents();
    const time = await page.locator("main time").first().textContent();
    const datetime = await page.locator("main time").first().getAttribute("datetime");
    await check("event");
    return { errors, time, datetime, envelope: await page.locator("pre.envelope").count() };
  });

  await step("fixCallback", async () => {
    await Promise.all([
      page.waitForURL(new RegExp(`/console/instances/${plan.failing.id}$`)),
      page.locator("main .crumbs").getByRole("link", { name: plan.failing.name }).click(),
    ]);
    await page.getByLabel("Callback URL").fill(plan.receiverUrl);
    await Promise.all([
      page.waitForURL(/done=saved/),
      page.getByRole("button", { name: "Save settings" }).click(),
    ]);
    await page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    await check("instance");
    return await page.getByLabel("Callback URL").inputValue();
  });

  await step("replay", async () => {
    await Promise.all([
      page.waitForURL(/done=replayed_all/),
      page.getByRole("button", { name: `Replay all ${plan.dead} dead letter(s)` }).click(),
    ]);
    return await page.getByRole("status").first().textContent();
  });

  await step("watchArrive", async () => {
    await Promise.all([
      page.waitForURL(/\/console\/events\?instance=/),
      page.getByRole("link", { name: "All events" }).click(),
    ]);
    // The list refreshes itself (console.js): no reload here.
    await page.waitForFunction(
      (n) => document.querySelectorAll("#event-rows .state-delivered").length >= n
        && document.querySelectorAll("#event-rows .state-dead, #event-rows .state-pending").length === 0,
      plan.dead,
      { timeout: 30000 },
    );
    await check("events-delivered");
    return await page.locator("#event-rows .state-delivered").count();
  });

  await step("otherPages", async () => {
    for (const [name, url] of [
      ["instances", "/console/instances"],
      ["channels", `/console/instances/${plan.failing.id}/channels`],
      ["messages", `/console/messages?instance=${plan.failing.id}`],
      ["audit", "/console/audit"],
      ["new-instance", "/console/instances/new"],
    ]) {
      await page.goto(`${plan.bridge}${url}`);
      await check(name);
    }
    const audit = await page.goto(`${plan.bridge}/console/audit?actor=console`).then(() =>
      page.locator("tbody td code").allTextContents());
    return { audit };
  });

  await step("signOut", async () => {
    await Promise.all([
      page.waitForURL(/\/console\/sign-in/),
      page.getByRole("button", { name: "Sign out" }).click(),
    ]);
    await page.goto(`${plan.bridge}/console/events`);
    return page.url();
  });
} catch {
  // Recorded by step().
} finally {
  await browser.close();
}
console.log(`RESULT ${JSON.stringify(result)}`);
