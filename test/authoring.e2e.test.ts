import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ECSClient } from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configProject } from "../packages/cli/src/test-support.ts";
import { waitFor } from "./support/apps.ts";
import { BerthApi } from "./support/berth-api.ts";
import { type BerthLocalProcess, logTail, startBerthLocalProcess } from "./support/berth-local-process.ts";
import {
  e2eWorkspace,
  getText,
  localAwsConfig,
  newestDeployment,
  runBerth,
  runningTasks,
  taskProcessesLeft,
} from "./support/e2e.ts";

/**
 * Authoring a stack, end to end on Berth Local: a typed `berth.ts` and a file `berth init`
 * wrote are deployed with the CLI, as a user would, from a project directory outside the
 * repository, in a Berth Local child process of its own.
 */

const { dataDir, logFile, adminToken } = e2eWorkspace("berth-authoring-e2e-");

/** Set by beforeAll; a test that runs without it fails on its first use. */
let local: BerthLocalProcess;
let api: BerthApi;
let ecs: ECSClient;

/** `berth …` against this file's Berth Local, from the project directory `cwd`. */
function berth(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return runBerth(args, { apiUrl: local.apiUrl, token: adminToken, cwd });
}

/** A small JavaScript HTTP app the buildpack builds: answers `answer` on / and 200 on /health. */
function serverSource(answer: string): string {
  return `import http from "node:http";

const server = http.createServer((request, response) => {
  if (request.url === "/health") {
    response.end("ok");
    return;
  }
  response.end(${JSON.stringify(answer)});
});
server.listen(Number(process.env.PORT || 8080), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
`;
}

/** Waits until the service's task answers `/` on its host port, and returns the answer. */
async function answerOf(service: string): Promise<string> {
  return waitFor(
    `${service} to answer`,
    async () => {
      const [task] = await runningTasks(ecs, service);
      return task && task.hostPort > 0 ? await getText(`http://127.0.0.1:${task.hostPort}/`) : undefined;
    },
    60_000,
    250,
  );
}

beforeAll(async () => {
  local = await startBerthLocalProcess({ dataDir, adminToken, logFile });
  api = new BerthApi(local.apiUrl, adminToken);
  ecs = new ECSClient(localAwsConfig(local.awsUrl));
});

afterAll(async () => {
  ecs?.destroy();
  await local?.stop();
  const leftovers = await taskProcessesLeft([dataDir]);
  expect(leftovers, logTail(logFile)).toEqual([]);
});

describe("authoring on Berth Local", () => {
  it("deploys a typed berth.ts with `berth deploy -f berth.ts`: built from source, SUCCEEDED, answering", async () => {
    const dir = configProject({
      "package.json": JSON.stringify({ name: "typed-app", type: "module" }),
      "src/server.js": serverSource("typed berth.ts"),
      "berth.ts": `import { buildpack, defineStack, webService } from "@berth/config";

export default defineStack({
  resources: {
    site: webService({
      packaging: buildpack("src/server.js"),
      resources: { cpu: 0.25, memory: 512 },
      internalHealthCheck: {
        healthCheckCommand: [
          "CMD",
          "node",
          "-e",
          "fetch('http://127.0.0.1:' + process.env.PORT + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))",
        ],
        intervalSeconds: 5,
        timeoutSeconds: 3,
        retries: 2,
      },
    }),
  },
});
`,
    });
    const { code, output } = await berth(
      ["deploy", "-f", "berth.ts", "--stack", "typed", "--timeout", "5m"],
      dir,
    );
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    expect(output.slice(output.indexOf("Summary:"))).toMatch(/^\s*site\s+SUCCEEDED\s/m);
    const deployment = await newestDeployment(api, "typed", "site");
    expect(deployment.status).toBe("SUCCEEDED");
    const { events } = await api.deployment(deployment.id);
    expect(events.filter((event) => event.type === "built")).toHaveLength(1);
    expect(await answerOf("typed-site")).toBe("typed berth.ts");
  }, 360_000);

  it("deploys what `berth init` wrote for a Node app with the command it printed: SUCCEEDED, healthy, answering", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "berth-init-e2e-")), "hello-node");
    mkdirSync(join(dir, "src"), { recursive: true });
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ name: "hello-node", type: "module", scripts: { start: "node src/server.js" } }),
    );
    writeFileSync(join(dir, "src/server.js"), serverSource("written by berth init"));

    const init = await berth(["init"], dir);
    expect(init.code, init.output).toBe(0);
    // The schema line points at this Berth's API, which serves the schema without a token.
    const [schemaLine] = readFileSync(join(dir, "berth.yml"), "utf8").split("\n");
    const schemaUrl = /^# yaml-language-server: \$schema=(\S+)$/.exec(schemaLine ?? "")?.[1];
    expect(schemaUrl).toBe(`${local.apiUrl}/v1/schema/stack-file.json`);
    expect(JSON.parse(await getText(schemaUrl ?? "")).$schema).toMatch(/2020-12/);

    const next = /^\s*berth (deploy .*)$/m.exec(init.output)?.[1]?.split(" ") ?? [];
    expect(next).toEqual(["deploy", "-f", "berth.yml", "--stack", "hello-node"]);
    const { code, output } = await berth([...next, "--timeout", "5m"], dir);
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    const deployment = await newestDeployment(api, "hello-node", "helloNode");
    expect(deployment.status).toBe("SUCCEEDED");
    // The health check init set (GET /health with node) is what ECS judged the task by.
    const [task] = await waitFor(
      "the task to be HEALTHY",
      async () => {
        const tasks = await runningTasks(ecs, "hello-node-helloNode");
        return tasks[0]?.healthStatus === "HEALTHY" ? tasks : undefined;
      },
      60_000,
      250,
    );
    expect(task?.lastStatus).toBe("RUNNING");
    expect(await answerOf("hello-node-helloNode")).toBe("written by berth init");
  }, 360_000);

  it("deploys what `berth init` wrote for a Python app: its python3 health check passes, it answers", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "berth-init-e2e-")), "hello-python");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "main.py"),
      `import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if self.path == "/health" else b"python by berth init"
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
`,
    );
    const init = await berth(["init"], dir);
    expect(init.code, init.output).toBe(0);
    expect(init.output).toContain("health    GET /health every 10 s (main.py:7:");
    const { code, output } = await berth(
      ["deploy", "-f", "berth.yml", "--stack", "hello-python", "--timeout", "5m"],
      dir,
    );
    expect(code, `${output}\n${logTail(logFile)}`).toBe(0);
    expect((await newestDeployment(api, "hello-python", "helloPython")).status).toBe("SUCCEEDED");
    await waitFor(
      "the task to be HEALTHY",
      async () =>
        (await runningTasks(ecs, "hello-python-helloPython"))[0]?.healthStatus === "HEALTHY" || undefined,
      60_000,
      250,
    );
    expect(await answerOf("hello-python-helloPython")).toBe("python by berth init");
  }, 360_000);
});
