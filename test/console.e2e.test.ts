import { createHmac } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { httpApp, waitFor } from "./support/apps.ts";
import { BerthApi, type Deployment, requested } from "./support/berth-api.ts";
import {
  type BerthLocalProcess,
  logTail,
  processesUnder,
  startBerthLocalProcess,
} from "./support/berth-local-process.ts";
import { appStack, e2eWorkspace, gatedHealthCheck, newestDeployment } from "./support/e2e.ts";

/**
 * The console end to end: Berth Local as `npm start` runs it (which serves the built console at
 * `/`), driven by Debian's Chromium through playwright-core, with axe-core checking each page.
 * Deployments run real task processes; the test acts as a person would, through the page.
 */

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
if (!CHROMIUM) {
  console.log(
    "console e2e skipped: no Chromium at /usr/bin/chromium (install Debian's chromium package; .ci/run does)",
  );
}

const { work, dataDir, logFile, adminToken } = e2eWorkspace("berth-console-e2e-");
const gates = join(work, "gates");
const app = httpApp();
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

let local: BerthLocalProcess | undefined;
let api: BerthApi;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
/** Every console error and uncaught page error, from any page of the test's browser. */
const consoleErrors: string[] = [];

function watchErrors(target: Page): void {
  target.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(`${target.url()}: ${message.text()}`);
  });
  target.on("pageerror", (error) => consoleErrors.push(`${target.url()}: ${error.message}`));
}

/** axe-core in the page (evaluated through DevTools, so the page's CSP stays in force): serious and critical violations. */
async function accessibilityViolations(target: Page): Promise<string[]> {
  await target.evaluate(axeSource);
  // A string, evaluated in the page: the test runs under Node's types, the page has the DOM's.
  const violations = (await target.evaluate(`axe.run(document).then((results) =>
    results.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      targets: violation.nodes.map((node) => node.target.join(" ")),
    })))`)) as { id: string; impact: string; targets: string[] }[];
  return violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => `${violation.impact} ${violation.id}: ${violation.targets.join(", ")}`);
}

function writeStack(name: string, yaml: string): string {
  const file = join(work, `${name}.yml`);
  writeFileSync(file, yaml);
  return file;
}

const nav = () => page.getByRole("navigation", { name: "Console" });
const timeline = () => page.locator("section[aria-labelledby='timeline-title']");

describe.skipIf(!CHROMIUM)("the console on Berth Local, in Chromium", { shuffle: false }, () => {
  beforeAll(async () => {
    mkdirSync(gates, { recursive: true });
    local = await startBerthLocalProcess({ dataDir, adminToken, logFile, startTimeoutMs: 240_000 });
    api = new BerthApi(local.apiUrl, adminToken);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    context = await browser.newContext();
    page = await context.newPage();
    page.setDefaultTimeout(60_000);
    watchErrors(page);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await local?.stop();
    await waitFor(
      "task processes to end",
      () => processesUnder([dataDir, app.dir]).length === 0,
      15_000,
      200,
    ).catch(() => undefined);
    if (!process.env.BERTH_TEST_KEEP) {
      rmSync(work, { recursive: true, force: true });
      rmSync(app.dir, { recursive: true, force: true });
    }
  });

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      console.error(`--- Berth Local log (${logFile}), last lines ---\n${logTail(logFile, 60)}`);
      console.error(`--- console errors ---\n${consoleErrors.join("\n")}`);
    });
  });

  it("serves the console at / with its security headers, index.html for deep links, the API under /v1", async () => {
    const root = await fetch(`${local?.apiUrl}/`);
    expect(root.status).toBe(200);
    expect(root.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = root.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(root.headers.get("x-frame-options")).toBe("DENY");
    expect(root.headers.get("x-content-type-options")).toBe("nosniff");
    expect(root.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await root.text();
    // No inline script: every <script> names its source.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    // The production build, even when built under vitest (NODE_ENV=test): no development JSX
    // carrying each element's source file.
    const script = html.match(/<script[^>]*\bsrc="([^"]+)"/)?.[1];
    expect(script).toBeDefined();
    const bundle = await (await fetch(`${local?.apiUrl}${script}`)).text();
    expect(bundle).not.toContain("packages/web/src/");
    const deep = await fetch(`${local?.apiUrl}/stacks/any/services/thing`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toBe(html);
    const missingAsset = await fetch(`${local?.apiUrl}/assets/nothing-here.js`);
    expect(missingAsset.status).toBe(404);
    const apiAnswer = await fetch(`${local?.apiUrl}/v1/nothing`);
    expect(apiAnswer.status).toBe(404);
    expect(apiAnswer.headers.get("content-type")).toMatch(/^application\/json/);
  });

  it("signs in from a deep link, shows the deployed stack and opens its service", async () => {
    const applied = await api.applyStack(
      "shop",
      appStack({ service: "api", image: app.image, version: "v1" }),
    );
    await api.waitForStatus(requested(applied, "api").deployment.id, ["SUCCEEDED"], 120_000);

    // A deep link opened without a session asks for the token, then shows the page it named.
    await page.goto(`${local?.apiUrl}/stacks/shop/services/api`);
    const before = consoleErrors.length;
    await page.getByLabel("API token").fill("berth_not-a-real-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "bearer token is not valid" }).waitFor();
    // Chromium reports the refused request itself; that one error is this step's doing.
    const refused = consoleErrors.splice(before).filter((line) => !/status of 401/.test(line));
    consoleErrors.push(...refused);
    expect(await page.getByRole("alert").textContent()).toMatch(/HTTP 401/);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.getByLabel("API token").fill(adminToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Service api" }).waitFor();
    // The token is in sessionStorage, and nowhere else.
    expect(page.url()).not.toContain(adminToken);
    expect(await page.evaluate("JSON.stringify(localStorage)")).not.toContain("berth_");
    expect(await page.evaluate('sessionStorage.getItem("berth.session")')).toContain(adminToken);

    await nav().getByRole("link", { name: "Stacks" }).click();
    const row = page.getByRole("row").filter({ hasText: "shop" });
    await row.getByText("LIVE").waitFor();
    await row.getByText("1/1 tasks").waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);

    await row.getByRole("link", { name: "shop" }).click();
    await page.getByRole("heading", { name: "Stack shop" }).waitFor();
    const serviceRow = page.getByRole("row").filter({ hasText: "private-service" });
    expect(await serviceRow.textContent()).toMatch(/LIVE/);
    expect(await serviceRow.textContent()).toMatch(/sha256:|—/);
    await page.getByText("VERSION").first().waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);

    // A dropped file (here: chosen) is planned with a dry run; nothing is applied.
    await page
      .getByLabel("Or choose a stack file")
      .setInputFiles(writeStack("v9", appStack({ service: "api", image: app.image, version: "v9" })));
    const plan = page.getByRole("table").filter({ hasText: "Plan of v9.yml" });
    await plan.getByText("updated").waitFor();
    expect(await plan.textContent()).toContain('"v9"');
    expect((await newestDeployment(api, "shop", "api")).status).toBe("SUCCEEDED");

    await page.getByRole("link", { name: "api", exact: true }).click();
    await page.getByRole("heading", { name: "Service api" }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
  }, 240_000);

  it("follows a deployment live until it SUCCEEDED", async () => {
    const gate = join(gates, "v2");
    const applied = await api.applyStack(
      "shop",
      appStack({
        service: "api",
        image: app.image,
        version: "v2",
        healthCheckCommand: gatedHealthCheck(gate),
        startPeriodSeconds: 300,
      }),
    );
    const id = requested(applied, "api").deployment.id;
    // The page, already open, picks the new deployment up and follows it.
    const live = timeline().getByText(`Deployment ${id}`);
    await live.waitFor();
    await timeline().getByText("(following live)").waitFor();
    await api.waitForStatus(id, ["DEPLOYING"], 120_000);
    await timeline().getByText("DEPLOYING").first().waitFor();
    writeFileSync(gate, "open");
    await timeline().getByText("SUCCEEDED").first().waitFor({ timeout: 180_000 });
    expect(await timeline().getByText("(following live)").count()).toBe(0);
    const final = await api.deployment(id);
    expect(final.deployment.status).toBe("SUCCEEDED");
    // Every event the API has is on the page.
    for (const event of final.events)
      await timeline().getByText(event.message, { exact: false }).first().waitFor();
  }, 300_000);

  it("shows a ROLLED_BACK deployment with its reason and the failing health check's output", async () => {
    const applied = await api.applyStack(
      "shop",
      appStack({ service: "api", image: app.image, version: "v3", environment: { UNHEALTHY: "1" } }),
    );
    const id = requested(applied, "api").deployment.id;
    const { deployment } = await api.waitForStatus(id, ["ROLLED_BACK"], 180_000);
    const row = page.getByRole("row").filter({ hasText: id });
    await row.getByText("ROLLED_BACK").waitFor({ timeout: 60_000 });
    expect(await row.textContent()).toContain(deployment.reason);
    await row.getByRole("button", { name: /^Timeline/ }).click();
    await timeline().getByText("ROLLED_BACK").first().waitFor();
    await timeline().getByText("Failing health check output:").first().waitFor();
    expect(await timeline().textContent()).toContain("health: database unreachable");
    expect(await accessibilityViolations(page)).toEqual([]);
  }, 300_000);

  it("rolls back to a chosen earlier deployment, and scales, each after a confirmation", async () => {
    const { deployments } = await api.request<{ deployments: { id: string; status: string }[] }>(
      "GET",
      "/v1/stacks/shop/services/api/deployments?limit=20",
    );
    const good = deployments.filter((deployment) => deployment.status === "SUCCEEDED");
    const target = good[good.length - 1]?.id as string;
    expect(good.length).toBeGreaterThanOrEqual(2);
    const row = page.getByRole("row").filter({ hasText: target });
    await row.getByRole("button", { name: `Roll back to ${target}` }).click();
    await row.getByRole("button", { name: `Confirm: Roll back to ${target}` }).click();
    const rollback = await waitFor("the rollback deployment", async () => {
      const newest = (await newestDeployment(api, "shop", "api")) as Deployment & { trigger: string };
      return newest.id !== deployments[0]?.id ? newest : undefined;
    });
    expect(rollback.trigger).toBe("rollback");
    expect((await api.waitForStatus(rollback.id, ["SUCCEEDED"], 180_000)).deployment.status).toBe(
      "SUCCEEDED",
    );
    await page
      .getByRole("row")
      .filter({ hasText: rollback.id })
      .getByText("SUCCEEDED")
      .waitFor({ timeout: 60_000 });

    await page.getByRole("button", { name: "Scale" }).click();
    await page.getByLabel("Minimum tasks").fill("2");
    await page.getByLabel("Maximum tasks").fill("2");
    await page.getByRole("button", { name: "Confirm: Scale" }).click();
    await page.getByRole("status").filter({ hasText: "Scale: deployment" }).waitFor();
    const scaled = (await newestDeployment(api, "shop", "api")) as Deployment & {
      parameters: { action: string };
    };
    expect(scaled.parameters.action).toBe("scale");
    // The counts are written into the service's spec at once, whatever the rollout does.
    const view = await api.request<{ scaling: { min: number; max: number } }>(
      "GET",
      "/v1/stacks/shop/services/api",
    );
    expect(view.scaling).toEqual({ min: 2, max: 2 });
    // The page follows the scale to its end. (On a heavily loaded machine a second task can miss
    // the stability window and the scale fail: the page must then say so, as it says a success.)
    const { deployment: ended } = await api.waitForStatus(scaled.id, undefined, 180_000);
    await page
      .getByRole("row")
      .filter({ hasText: scaled.id })
      .getByText(ended.status)
      .waitFor({ timeout: 60_000 });
    if (ended.status === "SUCCEEDED")
      await page.getByText("2 running of 2 desired").waitFor({ timeout: 90_000 });
  }, 420_000);

  it("reloads a deep link onto the same page, still signed in", async () => {
    const url = page.url();
    expect(url).toMatch(/\/stacks\/shop\/services\/api$/);
    await page.reload();
    await page.getByRole("heading", { name: "Service api" }).waitFor();
    expect(page.url()).toBe(url);
  });

  it("plans a stack file dropped on the stack page without applying it, and shows a refused file's message and request id", async () => {
    const before = await api.request<{ stack: { stackFileHash: string } }>("GET", "/v1/stacks/shop");
    await page.goto(`${local?.apiUrl}/stacks/shop`);
    await page.getByRole("heading", { name: "Stack shop" }).waitFor();
    /** Drops a file on the page's drop zone as a person dragging it from their desktop would. */
    const drop = async (name: string, text: string) => {
      const transfer = await page.evaluateHandle(
        ([name, text]) => {
          const browser = globalThis as unknown as {
            DataTransfer: new () => { items: { add(file: unknown): void } };
            File: new (parts: string[], name: string, options: { type: string }) => unknown;
          };
          const data = new browser.DataTransfer();
          data.items.add(new browser.File([text], name, { type: "application/yaml" }));
          return data;
        },
        [name, text] as const,
      );
      await page.dispatchEvent("section.dropzone", "drop", { dataTransfer: transfer });
    };
    await drop("shop-v9.yml", appStack({ service: "api", image: app.image, version: "v9" }));
    const plan = page.locator("table").filter({ hasText: "Plan of shop-v9.yml" });
    await plan.waitFor();
    expect(await plan.getByRole("row").filter({ hasText: "api" }).textContent()).toMatch(/v9/);
    // A dry run: the stack is as it was.
    const after = await api.request<{ stack: { stackFileHash: string } }>("GET", "/v1/stacks/shop");
    expect(after.stack.stackFileHash).toBe(before.stack.stackFileHash);

    await drop("broken.yml", "services: [unclosed\n");
    const refusal = page.getByRole("alert").filter({ hasText: "The plan of broken.yml failed" });
    await refusal.waitFor();
    // The API's own message, its code and the request id to quote.
    expect(await refusal.textContent()).toMatch(/HTTP 422 · INVALID_STACK_FILE · request id [0-9a-f-]{36}/);
    expect(await accessibilityViolations(page)).toEqual([]);
    // The refused plan logged its 422 in the browser's console; that is the page working.
    consoleErrors.splice(
      0,
      consoleErrors.length,
      ...consoleErrors.filter((line) => !/status of 422/.test(line)),
    );
  });

  it("returns to sign-in when the API stops accepting the token (revoked while signed in)", async () => {
    const created = await api.request<{ token: string; info: { id: string } }>("POST", "/v1/tokens", {
      body: JSON.stringify({ name: "soon-revoked", scopes: ["read"] }),
    });
    const readerPage = await context.newPage();
    watchErrors(readerPage);
    try {
      await readerPage.goto(`${local?.apiUrl}/stacks`);
      await readerPage.getByLabel("API token").fill(created.token);
      await readerPage.getByRole("button", { name: "Sign in" }).click();
      await readerPage.getByRole("link", { name: "shop" }).first().waitFor();
      await api.request("DELETE", `/v1/tokens/${created.info.id}`);
      await readerPage.getByRole("link", { name: "shop" }).first().click();
      await readerPage.getByLabel("API token").waitFor();
      await readerPage.getByText("sign in again").waitFor();
      expect(await readerPage.evaluate('sessionStorage.getItem("berth.session")')).toBeNull();
    } finally {
      await readerPage.close();
      // The 401 that sent the page to sign-in, and the 403s of asking a read token what it may do.
    }
    consoleErrors.splice(
      0,
      consoleErrors.length,
      ...consoleErrors.filter((line) => !/status of 40[13]/.test(line)),
    );
  });

  it("creates a token shown once with a copy button, and revokes it", async () => {
    await nav().getByRole("link", { name: "Tokens" }).click();
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    await page.getByLabel("Name").fill("console-e2e");
    await page.getByRole("checkbox", { name: "read" }).check();
    await page.getByRole("button", { name: "Create token" }).click();
    const shown = page.getByLabel("New token");
    await shown.waitFor();
    const token = await shown.inputValue();
    expect(token).toMatch(/^berth_/);
    await page.getByRole("button", { name: "Copy token" }).waitFor();
    const reader = new BerthApi(local?.apiUrl as string, token);
    expect((await reader.request<{ stacks: unknown[] }>("GET", "/v1/stacks")).stacks.length).toBe(1);
    expect(await accessibilityViolations(page)).toEqual([]);

    // A read token sees no action it cannot take.
    const readerPage = await context.browser()?.newPage();
    if (!readerPage) throw new Error("no second page");
    await readerPage.goto(`${local?.apiUrl}/stacks/shop/services/api`);
    await readerPage.getByLabel("API token").fill(token);
    await readerPage.getByRole("button", { name: "Sign in" }).click();
    await readerPage.getByRole("heading", { name: "Service api" }).waitFor();
    await readerPage.getByRole("heading", { name: "Deployments" }).waitFor();
    expect(await readerPage.getByRole("button", { name: "Redeploy" }).count()).toBe(0);
    expect(await readerPage.getByRole("link", { name: "Tokens" }).count()).toBe(0);
    await readerPage.close();

    const row = page.getByRole("row").filter({ hasText: "console-e2e" });
    await row.getByRole("button", { name: "Revoke console-e2e" }).click();
    await row.getByRole("button", { name: "Confirm: Revoke console-e2e" }).click();
    await page.getByRole("status").filter({ hasText: "revoked" }).waitFor();
    await page.getByRole("row").filter({ hasText: "console-e2e" }).waitFor({ state: "detached" });
    await expect(reader.request("GET", "/v1/stacks")).rejects.toMatchObject({ status: 401 });
  });

  it("creates a webhook receiver shown once, lists a signed delivery's outcome, rotates and deletes it", async () => {
    await nav().getByRole("link", { name: "Webhooks" }).click();
    await page.getByRole("heading", { name: "Webhook receivers" }).waitFor();
    await page.getByLabel("Provider").selectOption("generic");
    await page.getByLabel(/^Stack/).fill("shop");
    await page.getByRole("button", { name: "Create receiver" }).click();
    const secret = await page.getByLabel("Secret", { exact: true }).inputValue();
    const url = await page.getByLabel("Receiver URL").inputValue();
    expect(url).toMatch(/\/v1\/hooks\/[0-9A-Z]{26}$/);
    await page.getByRole("button", { name: "Copy secret" }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);

    // A signed delivery naming an image nothing in shop follows: recorded as ignored, with why.
    const body = JSON.stringify({ image: "berth.local/nobody-follows:1.0", id: "console-e2e-1" });
    const signature = createHmac("sha256", secret).update(body).digest("hex");
    const delivered = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-signature": `sha256=${signature}` },
      body,
    });
    expect(delivered.status).toBeLessThan(300);

    const id = url.slice(url.lastIndexOf("/") + 1);
    await page.getByRole("link", { name: id }).first().click();
    await page.getByRole("heading", { name: `Receiver ${id}` }).waitFor();
    const row = page.getByRole("row").filter({ hasText: "berth.local/nobody-follows:1.0" });
    await row.waitFor();
    expect(await row.textContent()).toMatch(/ignored|refused/);
    expect(await accessibilityViolations(page)).toEqual([]);
    // The receiver's page is a deep link.
    await page.reload();
    await page.getByRole("heading", { name: `Receiver ${id}` }).waitFor();
    await page.getByRole("row").filter({ hasText: "berth.local/nobody-follows:1.0" }).waitFor();

    await page.getByRole("button", { name: "Rotate the secret" }).click();
    await page.getByRole("button", { name: "Confirm: Rotate the secret" }).click();
    const rotated = await page.getByLabel("Secret", { exact: true }).inputValue();
    expect(rotated).not.toBe(secret);
    // The old secret no longer signs a delivery.
    const stale = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-signature": `sha256=${signature}` },
      body,
    });
    expect(stale.status).toBe(401);

    await page.getByRole("button", { name: "Delete the receiver" }).click();
    await page.getByRole("button", { name: "Confirm: Delete the receiver" }).click();
    await page.getByRole("heading", { name: "Webhook receivers" }).waitFor();
    expect((await fetch(url, { method: "POST", body })).status).toBeGreaterThanOrEqual(400);
  });

  it("logged no console error on any page", () => {
    expect(consoleErrors).toEqual([]);
  });
});
