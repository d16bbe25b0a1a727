// @vitest-environment happy-dom
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, createClient } from "./api.ts";
import { App } from "./app.tsx";
import { tokenizeLine } from "./highlight.tsx";
import { splitCommand } from "./pages/job.tsx";
import { parseRoute } from "./router.tsx";
import { deployment, fakeApi, NOW, serviceView, stacks } from "./test/fake-api.ts";
import { button, click, mount, type } from "./test/render.ts";

const TOKEN = `berth_${"x".repeat(43)}`;
const mounted: { unmount: () => void }[] = [];

function open(path: string, routes: Parameters<typeof fakeApi>[0], session?: { scope: string }) {
  history.replaceState(null, "", path);
  if (session)
    sessionStorage.setItem("berth.session", JSON.stringify({ token: TOKEN, scope: session.scope }));
  const api = fakeApi(routes);
  const view = mount(<App baseUrl="" fetch={api.fetch} />);
  mounted.push(view);
  return { ...view, api };
}

beforeEach(() => {
  sessionStorage.clear();
  localStorage.clear();
});

afterEach(() => {
  for (const view of mounted.splice(0)) view.unmount();
});

const until = (check: () => void) => vi.waitFor(check, { timeout: 10_000, interval: 20 });

describe("signing in", () => {
  it("asks the API what the token may do, keeps it in sessionStorage only, and stays on the deep link", async () => {
    const view = open("/stacks/shop/services/api", {
      "GET /v1/stacks": { status: 200, body: { stacks: [] } },
      "GET /v1/tokens": { status: 403, body: { error: { code: "FORBIDDEN", message: "needs admin" } } },
      "PUT /v1/stacks/scope-probe": {
        status: 415,
        body: { error: { code: "UNSUPPORTED_MEDIA_TYPE", message: "x" } },
      },
      "GET /v1/stacks/shop/services/api": { status: 200, body: serviceView() },
      "GET /v1/stacks/shop/services/api/deployments": { status: 200, body: { deployments: [] } },
      "GET /v1/stacks/shop/services/api/logs": {
        status: 200,
        body: { logGroupName: "/berth/shop/api", events: [] },
      },
    });
    type(view.container.querySelector("#token"), TOKEN);
    click(button(view.container, "Sign in"));
    await until(() => expect(view.text()).toContain("Service api"));
    expect(JSON.parse(sessionStorage.getItem("berth.session") ?? "{}")).toEqual({
      token: TOKEN,
      scope: "deploy",
    });
    expect(localStorage.length).toBe(0);
    expect(location.pathname).toBe("/stacks/shop/services/api");
    // A deploy token gets the actions, not the tokens page.
    await until(() => expect(button(view.container, "Redeploy")).toBeDefined());
    expect(view.text()).not.toContain("Tokens");
    expect(view.api.calls.every((call) => call.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it("shows the API's message and request id when the token is refused", async () => {
    const view = open("/", {
      "GET /v1/stacks": {
        status: 401,
        body: { error: { code: "UNAUTHORIZED", message: "the bearer token is not valid" } },
        headers: { "x-request-id": "req-abc" },
      },
    });
    type(view.container.querySelector("#token"), "berth_bad");
    click(button(view.container, "Sign in"));
    await until(() => expect(view.container.querySelector("[role=alert]")).not.toBeNull());
    const alert = view.container.querySelector("[role=alert]")?.textContent ?? "";
    expect(alert).toContain("the bearer token is not valid");
    expect(alert).toContain("HTTP 401");
    expect(alert).toContain("req-abc");
    expect(sessionStorage.getItem("berth.session")).toBeNull();
  });

  it("returns to sign-in when a signed-in token stops working, and signing out forgets it", async () => {
    let revoked = false;
    const view = open(
      "/stacks",
      {
        "GET /v1/stacks": () =>
          revoked
            ? { status: 401, body: { error: { code: "UNAUTHORIZED", message: "revoked" } } }
            : { status: 200, body: { stacks: [] } },
      },
      { scope: "read" },
    );
    await until(() => expect(view.text()).toContain("No stacks yet"));
    click(button(view.container, "Sign out"));
    expect(sessionStorage.getItem("berth.session")).toBeNull();
    expect(view.text()).toContain("Signed out.");

    sessionStorage.setItem("berth.session", JSON.stringify({ token: TOKEN, scope: "read" }));
    revoked = true;
    const again = open("/stacks", {
      "GET /v1/stacks": { status: 401, body: { error: { code: "UNAUTHORIZED", message: "revoked" } } },
    });
    await until(() => expect(again.text()).toContain("sign in again"));
    expect(sessionStorage.getItem("berth.session")).toBeNull();
  });
});

describe("the stacks list", () => {
  it("pages 200 stacks 25 at a time, with each stack's services, status and task counts from one request", async () => {
    const all = stacks(200).map((stack, index) => ({
      ...stack,
      services: [
        { name: "api", type: "private-service", status: "LIVE", tasks: { desired: 2, running: index % 3 } },
        {
          name: "nightly",
          type: "batch-job",
          status: "NOT_DEPLOYED",
          tasks: { desired: null, running: null },
        },
      ],
    }));
    const view = open(
      "/stacks",
      { "GET /v1/stacks": { status: 200, body: { stacks: all } } },
      { scope: "read" },
    );
    await until(() => expect(view.container.querySelectorAll("tbody tr")).toHaveLength(25));
    expect(view.text()).toContain("Page 1 of 8");
    const first = view.container.querySelector("tbody tr")?.textContent ?? "";
    expect(first).toContain("stack-000");
    expect(first).toContain("0/2 tasks");
    // The status is in words (with a symbol), not only a colour; unknown counts are a dash.
    expect(first).toContain("LIVE");
    expect(first).toContain("NOT_DEPLOYED");
    expect(first).toContain("–/– tasks");
    const second = view.container.querySelectorAll("tbody tr")[1]?.textContent ?? "";
    expect(second).toContain("1/2 tasks");
    // A batch job links to its job page, a service to its service page.
    const links = [...view.container.querySelectorAll("tbody tr:first-child a")].map((a) =>
      a.getAttribute("href"),
    );
    expect(links).toEqual([
      "/stacks/stack-000",
      "/stacks/stack-000/services/api",
      "/stacks/stack-000/jobs/nightly",
    ]);
    // One request for the whole list, none per stack or service.
    const listing = view.api.calls.filter((call) => call.path.startsWith("/v1/stacks"));
    expect(listing.map((call) => call.path)).toEqual(["/v1/stacks?services=true"]);
    click(button(view.container, "Next page"));
    await until(() => expect(view.container.querySelector("tbody tr")?.textContent).toContain("stack-025"));
    expect(view.text()).toContain("Page 2 of 8");
    expect(view.api.calls.filter((call) => call.path.startsWith("/v1/stacks"))).toHaveLength(1);
  });
});

describe("a batch job's page", () => {
  it("lists runs with each attempt's exit codes, and starts a run with a command after confirming", async () => {
    const failed = {
      id: "01JR0000000000000000000001",
      status: "FAILED",
      startedAt: NOW,
      stoppedAt: NOW,
      executionArn: "arn:aws:states:us-east-1:000000000000:execution:report:01JR0000000000000000000001",
    };
    const view = open(
      "/stacks/shop/jobs/report",
      {
        "GET /v1/stacks/shop/jobs/report/runs": { status: 200, body: { runs: [failed] } },
        [`GET /v1/stacks/shop/jobs/report/runs/${failed.id}`]: {
          status: 200,
          body: {
            ...failed,
            attempts: [
              {
                number: 1,
                status: "FAILED",
                startedAt: NOW,
                stoppedAt: NOW,
                exitCodes: [{ container: "report", exitCode: 3 }],
                stoppedReason: "Essential container in task exited",
              },
              {
                number: 2,
                status: "FAILED",
                startedAt: NOW,
                stoppedAt: NOW,
                exitCodes: [{ container: "report", exitCode: null }],
                error: "States.Timeout",
              },
            ],
          },
        },
        "GET /v1/stacks/shop/jobs/report/logs": {
          status: 200,
          body: { logGroupName: "/berth/shop/report", events: [] },
        },
        "POST /v1/stacks/shop/jobs/report/runs": (call) => ({
          status: 202,
          body: {
            ...failed,
            id: "01JR0000000000000000000002",
            status: "RUNNING",
            stoppedAt: undefined,
            sent: call.body,
          },
        }),
      },
      { scope: "deploy" },
    );
    await until(() => expect(view.text()).toContain("Attempts of run"));
    expect(view.text()).toContain("report: 3");
    expect(view.text()).toContain("report: none");
    expect(view.text()).toContain("States.Timeout");
    click(button(view.container, "Start a run"));
    type(view.container.querySelector("#run-command"), 'sh -c "exit 0"');
    expect(view.api.calls.some((call) => call.method === "POST")).toBe(false);
    click(button(view.container, "Confirm: Start a run"));
    await until(() => expect(view.text()).toContain("Run 01JR0000000000000000000002 started."));
    const sent = view.api.calls.find((call) => call.method === "POST");
    expect(JSON.parse(sent?.body ?? "{}")).toEqual({ command: ["sh", "-c", "exit 0"] });
  });
});

describe("a service's page", () => {
  it("follows a running deployment with If-None-Match every 2 s and stops once it ended", async () => {
    let polls = 0;
    const running = deployment({ status: "DEPLOYING", finishedAt: undefined, reason: "rolling out" });
    const events = [
      { deploymentId: running.id, sequence: 1, at: NOW, type: "requested", message: "requested by api" },
    ];
    const view = open(
      "/stacks/shop/services/api",
      {
        "GET /v1/stacks/shop/services/api": { status: 200, body: serviceView({ status: "DEPLOYING" }) },
        "GET /v1/stacks/shop/services/api/deployments": { status: 200, body: { deployments: [running] } },
        "GET /v1/stacks/shop/services/api/logs": {
          status: 200,
          body: { logGroupName: "/berth/shop/api", events: [] },
        },
        [`GET /v1/deployments/${running.id}`]: (call) => {
          polls += 1;
          if (polls === 1)
            return { status: 200, body: { deployment: running, events }, headers: { etag: 'W/"one"' } };
          if (polls === 2) {
            expect(call.headers["if-none-match"]).toBe('W/"one"');
            return { status: 304, headers: { etag: 'W/"one"' } };
          }
          return {
            status: 200,
            body: {
              deployment: { ...running, status: "SUCCEEDED", reason: "done" },
              events: [
                ...events,
                { deploymentId: running.id, sequence: 2, at: NOW, type: "status", message: "SUCCEEDED" },
              ],
            },
            headers: { etag: 'W/"two"' },
          };
        },
      },
      { scope: "read" },
    );
    await until(() => expect(view.text()).toContain("(following live)"));
    await vi.waitFor(() => expect(view.text()).toContain("after"), { timeout: 15_000, interval: 50 });
    expect(view.text()).toContain("SUCCEEDED");
    const settled = polls;
    expect(settled).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(polls).toBe(settled);
    // A read token sees no action.
    expect(button(view.container, "Redeploy")).toBeUndefined();
  });

  it("shows a failed task's health-check output and last log lines, and rolls back only after confirming", async () => {
    const good = deployment({ id: "01JD0000000000000000000001" });
    const newer = deployment({
      id: "01JD0000000000000000000002",
      trigger: "cli",
      requestedBy: "token laptop",
    });
    const failed = deployment({
      id: "01JD0000000000000000000003",
      status: "ROLLED_BACK",
      reason: "2 tasks failed health checks",
    });
    const view = open(
      "/stacks/shop/services/api",
      {
        "GET /v1/stacks/shop/services/api": { status: 200, body: serviceView() },
        "GET /v1/stacks/shop/services/api/deployments": {
          status: 200,
          body: { deployments: [failed, newer, good] },
        },
        "GET /v1/stacks/shop/services/api/logs": {
          status: 200,
          body: { logGroupName: "/berth/shop/api", events: [] },
        },
        [`GET /v1/deployments/${failed.id}`]: {
          status: 200,
          body: {
            deployment: failed,
            events: [
              {
                deploymentId: failed.id,
                sequence: 1,
                at: NOW,
                type: "task-failed",
                message: "task 1 failed",
                data: {
                  healthCheckOutput: "500 health: database unreachable",
                  logLines: ["connecting to db", "timeout"],
                },
              },
            ],
          },
        },
        "POST /v1/stacks/shop/services/api/rollback": (call) => ({
          status: 202,
          body: {
            deployment: deployment({
              id: "01JD0000000000000000000004",
              status: "PENDING",
              trigger: "rollback",
              body: call.body,
            }),
            placement: "active",
            workflow: { started: true },
          },
        }),
      },
      { scope: "deploy" },
    );
    await until(() => expect(view.text()).toContain("database unreachable"));
    expect(view.text()).toContain("connecting to db\ntimeout");
    expect(view.text()).toContain("2 tasks failed health checks");
    // Each deployment says what asked for it and who.
    const newerRow = [...view.container.querySelectorAll("tbody tr")].find((row) =>
      row.textContent?.includes(newer.id.slice(-6)),
    );
    expect(newerRow?.textContent).toContain("cli");
    expect(newerRow?.textContent).toContain("token laptop");
    // Only the older good deployment can be returned to (the newest good one is what runs).
    expect(button(view.container, `Roll back to ${newer.id}`)).toBeUndefined();
    click(button(view.container, `Roll back to ${good.id}`));
    expect(view.api.calls.some((call) => call.method === "POST")).toBe(false);
    click(button(view.container, `Confirm: Roll back to ${good.id}`));
    await until(() => expect(view.api.calls.some((call) => call.path.endsWith("/rollback"))).toBe(true));
    const sent = view.api.calls.find((call) => call.path.endsWith("/rollback"));
    expect(JSON.parse(sent?.body ?? "{}")).toEqual({ deploymentId: good.id });
    expect(sent?.headers["idempotency-key"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("follows the logs when asked: every 2 s it asks for the lines after the last one shown", async () => {
    const first = { timestamp: "2026-01-02T03:04:05.000Z", logStream: "api/1", message: "listening on 8080" };
    const later = { timestamp: "2026-01-02T03:04:09.000Z", logStream: "api/1", message: "GET /health 200" };
    const view = open(
      "/stacks/shop/services/api",
      {
        "GET /v1/stacks/shop/services/api": { status: 200, body: serviceView() },
        "GET /v1/stacks/shop/services/api/deployments": { status: 200, body: { deployments: [] } },
        "GET /v1/stacks/shop/services/api/logs": (call) => ({
          status: 200,
          body: {
            logGroupName: "/berth/shop/api",
            events: call.path.includes("since=1h") ? [first] : [first, later],
          },
        }),
      },
      { scope: "read" },
    );
    await until(() => expect(view.text()).toContain("listening on 8080"));
    const logCalls = () => view.api.calls.filter((call) => call.path.includes("/logs"));
    expect(logCalls()).toHaveLength(1);
    const follow = view.container.querySelector("#logs-follow") as HTMLInputElement;
    act(() => {
      follow.click();
    });
    await vi.waitFor(() => expect(view.text()).toContain("GET /health 200"), {
      timeout: 15_000,
      interval: 50,
    });
    const asked = new URL(`http://x${logCalls()[1]?.path}`).searchParams.get("since");
    expect(asked).toBe(first.timestamp);
    // A line answered twice (the one at the boundary) is shown once.
    expect(view.text().split("listening on 8080")).toHaveLength(2);
  });

  it("cancels the running deployment only after confirming, and says what the API did", async () => {
    const running = deployment({ status: "DEPLOYING", finishedAt: undefined, reason: "rolling out" });
    const view = open(
      "/stacks/shop/services/api",
      {
        "GET /v1/stacks/shop/services/api": {
          status: 200,
          body: serviceView({ status: "DEPLOYING", activeDeployment: running }),
        },
        "GET /v1/stacks/shop/services/api/deployments": { status: 200, body: { deployments: [running] } },
        "GET /v1/stacks/shop/services/api/logs": {
          status: 200,
          body: { logGroupName: "/berth/shop/api", events: [] },
        },
        [`GET /v1/deployments/${running.id}`]: { status: 200, body: { deployment: running, events: [] } },
        [`POST /v1/deployments/${running.id}/cancel`]: {
          status: 202,
          body: { outcome: "cancel-requested", deployment: running },
        },
      },
      { scope: "deploy" },
    );
    await until(() => expect(button(view.container, "Cancel the running deployment")).toBeDefined());
    click(button(view.container, "Cancel the running deployment"));
    expect(view.api.calls.some((call) => call.method === "POST")).toBe(false);
    click(button(view.container, "Confirm: Cancel the running deployment"));
    await until(() => expect(view.text()).toContain(`Cancelling deployment ${running.id}`));
    const sent = view.api.calls.filter((call) => call.method === "POST");
    expect(sent.map((call) => call.path)).toEqual([`/v1/deployments/${running.id}/cancel`]);
  });

  it("shows a refused action's message and request id beside it", async () => {
    const view = open(
      "/stacks/shop/services/api",
      {
        "GET /v1/stacks/shop/services/api": { status: 200, body: serviceView() },
        "GET /v1/stacks/shop/services/api/deployments": { status: 200, body: { deployments: [] } },
        "GET /v1/stacks/shop/services/api/logs": {
          status: 200,
          body: { logGroupName: "/berth/shop/api", events: [] },
        },
        "PUT /v1/stacks/shop/services/api/scale": {
          status: 400,
          body: {
            error: {
              code: "INVALID_INPUT",
              message: "invalid body: min: must not exceed max",
              details: [{ path: "body.min", message: "min must not exceed max" }],
            },
          },
          headers: { "x-request-id": "req-scale" },
        },
      },
      { scope: "deploy" },
    );
    await until(() => expect(button(view.container, "Scale")).toBeDefined());
    click(button(view.container, "Scale"));
    type(view.container.querySelector("#scale-min"), "5");
    type(view.container.querySelector("#scale-max"), "2");
    click(button(view.container, "Confirm: Scale"));
    await until(() =>
      expect(view.container.querySelector("[role=alert]")?.textContent).toContain("req-scale"),
    );
    const alert = view.container.querySelector("[role=alert]")?.textContent ?? "";
    expect(alert).toContain("Scale failed");
    expect(alert).toContain("body.min");
    const sent = view.api.calls.find((call) => call.method === "PUT");
    expect(JSON.parse(sent?.body ?? "{}")).toEqual({ min: 5, max: 2 });
  });
});

describe("tokens", () => {
  it("shows a created token once, with a copy button", async () => {
    const info = { id: "01JD0000000000000000000009", name: "ci", scopes: ["read"], createdAt: NOW };
    const view = open(
      "/tokens",
      {
        "GET /v1/tokens": { status: 200, body: { tokens: [] } },
        "POST /v1/tokens": { status: 201, body: { token: TOKEN, info } },
      },
      { scope: "admin" },
    );
    await until(() => expect(view.text()).toContain("Create a token"));
    type(view.container.querySelector("#token-name"), "ci");
    const form = view.container.querySelector("form");
    form?.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await until(() =>
      expect((view.container.querySelector("#new-token") as HTMLInputElement | null)?.value).toBe(TOKEN),
    );
    expect(button(view.container, "Copy token")).toBeDefined();
    expect(JSON.parse(view.api.calls.find((call) => call.method === "POST")?.body ?? "{}")).toEqual({
      name: "ci",
      scopes: ["read"],
    });
  });
});

describe("webhook receivers", () => {
  const receiver = {
    id: "01JD00000000000000000000R1",
    provider: "github",
    stack: "shop",
    createdAt: NOW,
  };
  const created = {
    id: receiver.id,
    url: `http://console.test/v1/hooks/${receiver.id}`,
    secret: "s".repeat(43),
    receiver,
  };

  it("creates a receiver bound to a stack and shows its URL and secret once, with copy buttons", async () => {
    let listed: unknown[] = [];
    const view = open(
      "/webhooks",
      {
        "GET /v1/webhooks": () => ({ status: 200, body: { receivers: listed } }),
        "POST /v1/webhooks": () => {
          listed = [receiver];
          return { status: 201, body: created };
        },
      },
      { scope: "admin" },
    );
    await until(() => expect(view.text()).toContain("No receivers yet."));
    type(view.container.querySelector("#receiver-stack"), "shop");
    view.container
      .querySelector("form")
      ?.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await until(() =>
      expect((view.container.querySelector("#receiver-secret") as HTMLInputElement | null)?.value).toBe(
        created.secret,
      ),
    );
    expect((view.container.querySelector("#receiver-url") as HTMLInputElement).value).toBe(created.url);
    expect(button(view.container, "Copy URL")).toBeDefined();
    expect(button(view.container, "Copy secret")).toBeDefined();
    const sent = view.api.calls.find((call) => call.method === "POST");
    expect(JSON.parse(sent?.body ?? "{}")).toEqual({ provider: "github", stack: "shop" });
    expect(sent?.headers["idempotency-key"]).toMatch(/^[0-9a-f-]{36}$/);
    // The list is read again: the new receiver is there, linking to its page, without its secret.
    await until(() => expect(view.container.querySelector("tbody")?.textContent).toContain("stack shop"));
    expect(view.container.querySelector(`a[href="/webhooks/${receiver.id}"]`)).not.toBeNull();
    expect(view.container.querySelector("tbody")?.textContent).not.toContain(created.secret);
  });

  it("lists a receiver's deliveries page by page, rotates its secret and deletes it after confirming", async () => {
    const delivery = (index: number, overrides: Record<string, unknown> = {}) => ({
      id: `01JD00000000000000000000D${index}`,
      source: receiver.id,
      key: `delivery-${index}`,
      receivedAt: NOW,
      provider: "github",
      event: "registry_package published",
      image: "ghcr.io/acme/shop:1.4.2",
      digest: `sha256:${String(index).repeat(64)}`,
      outcome: "deployed",
      reason: "",
      services: [{ service: "shop/api", outcome: "deployed", reason: "deployment 01JD (active)" }],
      expiresAt: 0,
      ...overrides,
    });
    let deleted = false;
    const view = open(
      `/webhooks/${receiver.id}`,
      {
        "GET /v1/webhooks": () => ({ status: 200, body: { receivers: deleted ? [] : [receiver] } }),
        [`GET /v1/webhooks/${receiver.id}/deliveries`]: (call) =>
          call.path.includes("cursor=page2")
            ? {
                status: 200,
                body: {
                  deliveries: [delivery(2, { outcome: "ignored", reason: "tag 1.4.2-rc1 is filtered out" })],
                },
              }
            : { status: 200, body: { deliveries: [delivery(1)], nextCursor: "page2" } },
        [`POST /v1/webhooks/${receiver.id}/rotate`]: {
          status: 200,
          body: { ...created, secret: "n".repeat(43), receiver: { ...receiver, rotatedAt: NOW } },
        },
        [`DELETE /v1/webhooks/${receiver.id}`]: () => {
          deleted = true;
          return { status: 204 };
        },
      },
      { scope: "admin" },
    );
    await until(() => expect(view.text()).toContain("ghcr.io/acme/shop:1.4.2"));
    expect(view.text()).toContain("registry_package published");
    expect(view.text()).toContain("shop/api: deployed");
    click(button(view.container, "Older"));
    await until(() => expect(view.text()).toContain("tag 1.4.2-rc1 is filtered out"));
    expect(view.text()).toContain("ignored");

    click(button(view.container, "Rotate the secret"));
    expect(view.api.calls.some((call) => call.method === "POST")).toBe(false);
    click(button(view.container, "Confirm: Rotate the secret"));
    await until(() =>
      expect((view.container.querySelector("#receiver-secret") as HTMLInputElement | null)?.value).toBe(
        "n".repeat(43),
      ),
    );

    click(button(view.container, "Delete the receiver"));
    expect(view.api.calls.some((call) => call.method === "DELETE")).toBe(false);
    click(button(view.container, "Confirm: Delete the receiver"));
    await until(() => expect(location.pathname).toBe("/webhooks"));
  });

  it("shows the API's message and request id when a receiver cannot be created", async () => {
    const view = open(
      "/webhooks",
      {
        "GET /v1/webhooks": { status: 200, body: { receivers: [] } },
        "POST /v1/webhooks": {
          status: 400,
          body: { error: { code: "INVALID_INPUT", message: "service needs a stack", requestId: "r-1" } },
          headers: { "x-request-id": "req-webhook-1" },
        },
      },
      { scope: "admin" },
    );
    await until(() => expect(view.text()).toContain("No receivers yet."));
    type(view.container.querySelector("#receiver-service"), "api");
    view.container
      .querySelector("form")
      ?.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await until(() => expect(view.text()).toContain("service needs a stack"));
    expect(view.text()).toContain("req-webhook-1");
  });

  it("offers the page to admin tokens only", async () => {
    const view = open(
      "/stacks",
      { "GET /v1/stacks": { status: 200, body: { stacks: [] } } },
      { scope: "deploy" },
    );
    await until(() => expect(view.text()).toContain("No stacks yet"));
    expect(view.container.querySelector('a[href="/webhooks"]')).toBeNull();
    expect(parseRoute("/webhooks/ecr")).toEqual({ page: "webhook", id: "ecr" });
  });
});

describe("pieces", () => {
  it("routes paths, decoding names, and calls anything else not found", () => {
    expect(parseRoute("/")).toEqual({ page: "stacks" });
    expect(parseRoute("/stacks/shop/services/api")).toEqual({
      page: "service",
      stack: "shop",
      service: "api",
    });
    expect(parseRoute("/stacks/shop/jobs/nightly")).toEqual({ page: "job", stack: "shop", job: "nightly" });
    expect(parseRoute("/stacks/a%20b")).toEqual({ page: "stack", stack: "a b" });
    expect(parseRoute("/nope/x")).toEqual({ page: "not-found", path: "/nope/x" });
  });

  it("highlights YAML keys, strings, numbers and comments, as text", () => {
    expect(tokenizeLine('  image: "nginx" # pinned')).toEqual([
      { kind: "plain", text: "  " },
      { kind: "key", text: "image" },
      { kind: "plain", text: ":" },
      { kind: "plain", text: " " },
      { kind: "string", text: '"nginx"' },
      { kind: "plain", text: " " },
      { kind: "comment", text: "# pinned" },
    ]);
    expect(tokenizeLine("- port: 8080").map((token) => token.kind)).toEqual([
      "plain",
      "key",
      "plain",
      "plain",
      "number",
    ]);
    expect(tokenizeLine("url: a#b").find((token) => token.kind === "comment")).toBeUndefined();
  });

  it("splits a run's command on spaces, keeping quoted words whole", () => {
    expect(splitCommand('node job.mjs --name "two words"')).toEqual([
      "node",
      "job.mjs",
      "--name",
      "two words",
    ]);
  });

  it("turns an API error body into an ApiError with the request id; a network failure says the API could not be reached", async () => {
    const api = fakeApi({
      "GET /v1/stacks/x": {
        status: 404,
        body: { error: { code: "NOT_FOUND", message: "stack x does not exist" } },
        headers: { "x-request-id": "req-1" },
      },
    });
    const client = createClient({ baseUrl: "", token: TOKEN, fetch: api.fetch });
    const error = await client.getStack("x").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      status: 404,
      code: "NOT_FOUND",
      message: "stack x does not exist",
      requestId: "req-1",
    });
    const offline = createClient({
      baseUrl: "",
      token: TOKEN,
      fetch: () => Promise.reject(new TypeError("Failed to fetch")),
    });
    await expect(offline.listStacks()).rejects.toMatchObject({ code: "NETWORK", status: 0 });
  });
});
