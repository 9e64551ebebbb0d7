// Drives the connect pages in a real browser (Debian's Chromium through playwright-core).
// Started by tests/it/connect_browser.rs with a JSON plan in argv[2]; prints one JSON result
// line ("RESULT {...}") that the Rust test asserts on, and keeps a screenshot of every page in
// plan.artifacts.
//
// plan = { bridge, sim, returnUrl, artifacts, chromium,
//          links: { messenger, whatsapp, whatsappOnlyWaba, whatsappError, whatsappFailed,
//                   whatsappCancel, whatsappVerify, instagram, cancel, expired },
//          unverifiedPhone }
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const plan = JSON.parse(process.argv[2]);
fs.rmSync(plan.artifacts, { recursive: true, force: true });
fs.mkdirSync(plan.artifacts, { recursive: true });
const allowedOrigins = new Set([new URL(plan.bridge).origin, new URL(plan.sim).origin]);
const returnOrigin = new URL(plan.returnUrl).origin;
allowedOrigins.add(returnOrigin);

const result = { flows: {}, foreignRequests: [], cookies: {}, a11y: [], errors: [] };
const browser = await chromium.launch({
  executablePath: plan.chromium,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});

async function shot(page, name) {
  await page.screenshot({ path: path.join(plan.artifacts, `${name}.png`), fullPage: true });
}

// Every form control has a label; the page has a language, one h1 and a main landmark.
async function a11y(page, name) {
  const problems = await page.evaluate(() => {
    const out = [];
    if (!document.documentElement.lang) out.push("no lang attribute");
    if (document.querySelectorAll("h1").length !== 1) out.push("not exactly one h1");
    if (!document.querySelector("main")) out.push("no main landmark");
    for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
      const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.closest("label") || el.getAttribute("aria-label");
      if (!labelled) out.push(`unlabelled ${el.tagName} ${el.name}`);
    }
    for (const b of document.querySelectorAll("button, a.button")) {
      if (!b.textContent.trim()) out.push("button without text");
    }
    return out;
  });
  for (const p of problems) result.a11y.push(`${name}: ${p}`);
}

async function newContext() {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } }); // a phone
  context.on("request", (req) => {
    const u = new URL(req.url());
    if (u.protocol.startsWith("http") && !allowedOrigins.has(u.origin)) result.foreignRequests.push(req.url());
  });
  return context;
}

async function bridgeCookies(context) {
  // Every cookie the browser holds (bridge and simulator share the host 127.0.0.1).
  const cookies = await context.cookies();
  return cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path }));
}

async function flow(name, fn) {
  const context = await newContext();
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") logs.push(m.text()); });
  page.on("pageerror", (e) => logs.push(String(e)));
  try {
    result.flows[name] = await fn(context, page);
  } catch (e) {
    result.errors.push(`${name}: ${e && e.message ? e.message.split("\n")[0] : e} | console: ${logs.join(" / ")}`);
    try { await shot(page, `${name}-error`); } catch {}
  } finally {
    await context.close();
  }
}

async function landOnReturn(page) {
  await page.waitForURL((u) => u.toString().startsWith(plan.returnUrl), { timeout: 15000 });
  return page.url();
}

// Messenger: landing → Facebook dialog (share both pages) → pick one → back to the platform.
await flow("messenger", async (context, page) => {
  let callbackUrl = null;
  page.on("request", (r) => { if (r.url().includes("/connect/callback")) callbackUrl = r.url(); });
  await page.goto(plan.links.messenger);
  await shot(page, "messenger-1-landing");
  await a11y(page, "landing");
  const before = await bridgeCookies(context);
  await page.click("#start");
  await page.waitForSelector("#allow");
  await shot(page, "messenger-2-meta-dialog");
  const during = await bridgeCookies(context);
  await page.click("#allow");
  await page.waitForSelector("input[name=asset]");
  await shot(page, "messenger-3-pick");
  await a11y(page, "pick");
  const choices = await page.$$eval("input[name=asset]", (els) => els.map((e) => e.value));
  // Keep only the second page.
  await page.uncheck(`input[name=asset][value="${choices[0]}"]`);
  await page.check(`input[name=asset][value="${choices[1]}"]`);
  await page.click("button[type=submit]");
  const landed = await landOnReturn(page);
  const after = await bridgeCookies(context);
  // Replaying Meta's redirect in the same browser.
  const replay = await page.goto(callbackUrl);
  await shot(page, "messenger-4-replayed-state");
  return { landed, picked: choices[1], cookiesBefore: before, cookiesDuring: during, cookiesAfter: after,
           replayStatus: replay.status(), replayText: await page.textContent("h1") };
});

// WhatsApp: landing → SDK popup (Embedded Signup) → finish → back to the platform.
await flow("whatsapp", async (context, page) => {
  await page.goto(plan.links.whatsapp);
  await page.waitForSelector("#start:not([disabled])", { timeout: 15000 });
  await shot(page, "whatsapp-1-landing");
  await a11y(page, "whatsapp landing");
  const [popup] = await Promise.all([page.waitForEvent("popup"), page.click("#start")]);
  await popup.waitForSelector("#finish");
  await shot(popup, "whatsapp-2-embedded-signup");
  await popup.click("#finish");
  const landed = await landOnReturn(page);
  return { landed, cookiesAfter: await bridgeCookies(context) };
});

// WhatsApp, the other ends of Embedded Signup v4: the popup's session-info message decides
// what the person sees (no number added, an error Meta showed, the step they closed at).
for (const [name, button] of [["whatsappOnlyWaba", "#finish_only_waba"], ["whatsappError", "#report_error"],
                              ["whatsappFailed", "#error"], ["whatsappCancel", "#cancel"]]) {
  await flow(name, async (context, page) => {
    await page.goto(plan.links[name]);
    await page.waitForSelector("#start:not([disabled])", { timeout: 15000 });
    const [popup] = await Promise.all([page.waitForEvent("popup"), page.click("#start")]);
    await popup.waitForSelector(button);
    await popup.click(button);
    await page.waitForURL((u) => u.pathname.endsWith("/result"), { timeout: 15000 });
    await page.waitForSelector("h1");
    await shot(page, `${name}-result`);
    await a11y(page, `${name} result`);
    return { heading: await page.textContent("h1"), text: await page.textContent("main") };
  });
}

// WhatsApp with an unverified number: the verification page, a code by SMS, back to the platform.
await flow("whatsappVerify", async (context, page) => {
  await page.goto(plan.links.whatsappVerify);
  await page.waitForSelector("#start:not([disabled])", { timeout: 15000 });
  const [popup] = await Promise.all([page.waitForEvent("popup"), page.click("#start")]);
  await popup.waitForSelector("#finish");
  await popup.check(`input[name=phone][value="${plan.unverifiedPhone}"]`);
  await popup.click("#finish");
  await page.waitForURL((u) => u.pathname.endsWith("/verify"), { timeout: 15000 });
  await shot(page, "whatsappVerify-1-page");
  await a11y(page, "verify");
  await page.click("#send-code");
  await page.waitForSelector("#code");
  await shot(page, "whatsappVerify-2-sent");
  // The SMS: what the simulator sent to the phone (read by this script, not by the page).
  const codes = await (await fetch(`${plan.sim}/_sim/verification_codes`)).json();
  await page.fill("#code", "000000" === codes[plan.unverifiedPhone] ? "111111" : "000000");
  await page.click("#verify");
  await page.waitForSelector("[role=alert]");
  await shot(page, "whatsappVerify-3-wrong-code");
  const wrong = await page.textContent("[role=alert]");
  await page.fill("#code", codes[plan.unverifiedPhone]);
  await page.click("#verify");
  return { wrong, landed: await landOnReturn(page) };
});

// Instagram Login: landing → Instagram dialog → back to the platform (one account: no picker).
await flow("instagram", async (context, page) => {
  await page.goto(plan.links.instagram);
  await shot(page, "instagram-1-landing");
  await page.click("#start");
  await page.waitForSelector("#allow");
  await shot(page, "instagram-2-meta-dialog");
  await page.click("#allow");
  return { landed: await landOnReturn(page) };
});

// Cancel at Meta: a page that says what happened and how to retry.
await flow("cancel", async (context, page) => {
  await page.goto(plan.links.cancel);
  await page.click("#start");
  await page.waitForSelector("#cancel");
  await page.click("#cancel");
  await page.waitForSelector("h1");
  await shot(page, "cancel-1-result");
  await a11y(page, "cancel result");
  return { heading: await page.textContent("h1"), text: await page.textContent("main"),
           backHref: await page.getAttribute("a.button", "href"), cookiesAfter: await bridgeCookies(context) };
});

// An expired link.
await flow("expired", async (context, page) => {
  const resp = await page.goto(plan.links.expired);
  await shot(page, "expired-1");
  return { status: resp.status(), heading: await page.textContent("h1") };
});

await browser.close();
console.log("RESULT " + JSON.stringify(result));
