import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { detect, resourceName, stackName } from "./init.ts";
import { berth, configProject, typecheck } from "./test-support.ts";

/** A directory named `name` holding `files` (path → text). */
function project(files: Record<string, string>, name = "shop-api"): string {
  const dir = join(mkdtempSync(join(tmpdir(), "berth-init-")), name);
  mkdirSync(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** Runs `berth init` there, then `berth validate` on what it wrote; returns both and the file's resource. */
async function initAndValidate(dir: string, args: string[] = []) {
  const init = await berth(["init", ...args], dir);
  expect(init, init.err).toMatchObject({ code: 0, err: "" });
  const file = args.includes("--ts") ? "berth.ts" : "berth.yml";
  const validated = await berth(["validate", "-f", file], dir);
  expect(validated, validated.err).toMatchObject({ code: 0, err: "" });
  const text = readFileSync(join(dir, file), "utf8");
  const resources = file === "berth.yml" ? parse(text).resources : undefined;
  const [name, resource] = Object.entries(resources ?? {})[0] ?? [];
  return { init, validated, text, name, resource: resource as { type: string; properties: Properties } };
}

interface Properties {
  packaging: { type: string; properties: Record<string, unknown> };
  port?: number;
  internalHealthCheck?: { healthCheckCommand: string[] };
}

const NODE_SERVER = `import http from "node:http";

const port = Number(process.env.PORT || 8080);
const server = http.createServer((request, response) => {
  if (request.url === "/health") return response.end("ok");
  response.end("hello");
});
server.listen(port);
`;

const FLASK = `import os
from flask import Flask

app = Flask(__name__)

@app.route("/healthz")
def health():
    return "ok"

if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", 5000)))
`;

const GO_SERVER = `package main

import (
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8081"
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.ListenAndServe(":"+port, nil)
}
`;

const JAVA_SERVER = `package com.example;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;

public class App {
    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(9090), 0);
        server.createContext("/ready", exchange -> exchange.sendResponseHeaders(200, -1));
        server.start();
    }
}
`;

const POM = `<project><modelVersion>4.0.0</modelVersion><groupId>com.example</groupId><artifactId>orders-service</artifactId><version>1</version></project>`;

describe("berth init on the buildpacks' languages", () => {
  it("Node: the start script's file, web-service on the port PORT falls back to, a node health check", async () => {
    const dir = project({
      "package.json": JSON.stringify({ name: "@acme/shop-api", scripts: { start: "node src/server.js" } }),
      "src/server.js": NODE_SERVER,
      "src/other.js": "export const x = 1;\n",
    });
    const { init, text, name, resource } = await initAndValidate(dir);
    expect(text.split("\n")[0]).toBe(
      "# yaml-language-server: $schema=http://127.0.0.1:4000/v1/schema/stack-file.json",
    );
    expect(name).toBe("shopApi");
    expect(resource.type).toBe("web-service");
    expect(resource.properties.packaging).toEqual({
      type: "stacktape-image-buildpack",
      properties: { entryfilePath: "src/server.js" },
    });
    expect(resource.properties.port).toBe(8080);
    expect(resource.properties.internalHealthCheck?.healthCheckCommand.slice(0, 3)).toEqual([
      "CMD",
      "node",
      "-e",
    ]);
    expect(resource.properties.internalHealthCheck?.healthCheckCommand[3]).toContain("/health");
    expect(init.out).toContain("Node (JavaScript), entry src/server.js (package.json's start script runs it");
    expect(init.out).toContain("web-service: it listens on a port (src/server.js:4:");
    expect(init.out).toContain("GET /health every 10 s (src/server.js:5:");
    expect(init.out).toContain("berth deploy -f berth.yml --stack shop-api");
  });

  it("Node (TypeScript): package.json's main; no sign of a port makes a worker-service, and says why", async () => {
    const dir = project({
      "package.json": JSON.stringify({ name: "mailer", main: "src/main.ts" }),
      "src/main.ts": "setInterval(() => console.log('sending mail'), 1000);\n",
    });
    const { init, resource } = await initAndValidate(dir);
    expect(resource.type).toBe("worker-service");
    expect(resource.properties.packaging.properties.entryfilePath).toBe("src/main.ts");
    expect(resource.properties.port).toBeUndefined();
    expect(init.out).toMatch(/worker-service: nothing shows that it listens on a port .*--type web-service/);
  });

  it("Python: app.py with Flask, the port from PORT's default, a python3 health check on /healthz", async () => {
    const dir = project({ "app.py": FLASK, "requirements.txt": "flask\n" });
    const { resource } = await initAndValidate(dir);
    expect(resource.type).toBe("web-service");
    expect(resource.properties.packaging.properties.entryfilePath).toBe("app.py");
    expect(resource.properties.port).toBe(5000);
    const command = resource.properties.internalHealthCheck?.healthCheckCommand ?? [];
    expect(command.slice(0, 3)).toEqual(["CMD", "python3", "-c"]);
    expect(command[3]).toContain("/healthz");
  });

  it("Python: main.py that listens nowhere is a worker-service", async () => {
    const dir = project({ "main.py": "import time\nwhile True:\n    time.sleep(5)\n" });
    const { resource } = await initAndValidate(dir);
    expect(resource.type).toBe("worker-service");
    expect(resource.properties.packaging.properties.entryfilePath).toBe("main.py");
  });

  it("Go: the main package under cmd/, its port, and no health check the distroless image could run", async () => {
    const dir = project({
      "go.mod": "module example.com/inventory\n\ngo 1.23\n",
      "cmd/server/main.go": GO_SERVER,
      "internal/store/store.go": "package store\n",
    });
    const { init, name, resource } = await initAndValidate(dir);
    expect(name).toBe("inventory");
    expect(resource.type).toBe("web-service");
    expect(resource.properties.packaging.properties.entryfilePath).toBe("cmd/server/main.go");
    expect(resource.properties.port).toBe(8081);
    expect(resource.properties.internalHealthCheck).toBeUndefined();
    expect(init.out).toMatch(
      /health +none: found \/healthz \(cmd\/server\/main\.go:\d+:.*add internalHealthCheck/,
    );
  });

  it("Java (Maven): the class with main() under src/main/java, its literal port", async () => {
    const dir = project({ "pom.xml": POM, "src/main/java/com/example/App.java": JAVA_SERVER });
    const { name, resource } = await initAndValidate(dir);
    expect(name).toBe("ordersService");
    expect(resource.type).toBe("web-service");
    expect(resource.properties.packaging.properties.entryfilePath).toBe("src/main/java/com/example/App.java");
    expect(resource.properties.port).toBe(9090);
  });

  it("Gradle without a Dockerfile: refused, saying the Java buildpack builds with Maven", async () => {
    const dir = project({ "build.gradle": "plugins { id 'java' }\n", "src/main/java/App.java": JAVA_SERVER });
    const result = await berth(["init"], dir);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/no app found: looked for a Dockerfile; package\.json/);
    expect(result.err).toContain("Found build.gradle: a Gradle build, which the Java buildpack does not run");
    expect(existsSync(join(dir, "berth.yml"))).toBe(false);
  });

  it("a Dockerfile: custom-dockerfile packaging, EXPOSE's port, a node health check for a node image", async () => {
    const dir = project({
      Dockerfile: 'FROM node:22-slim\nWORKDIR /app\nCOPY . .\nEXPOSE 8080\nCMD ["node", "server.js"]\n',
      "server.js": NODE_SERVER.replace("process.env.PORT || 8080", "8080"),
      "package.json": JSON.stringify({ name: "site", main: "server.js" }),
    });
    const { init, resource } = await initAndValidate(dir);
    expect(resource.type).toBe("web-service");
    expect(resource.properties.packaging).toEqual({
      type: "custom-dockerfile",
      properties: { buildContextPath: "." },
    });
    expect(resource.properties.port).toBe(8080);
    expect(resource.properties.internalHealthCheck?.healthCheckCommand[1]).toBe("node");
    expect(init.out).toContain("also found  a Node (JavaScript) app (server.js");
    expect(init.out).toContain("Berth Local does not build Dockerfiles");
  });

  it("a directory with no app: exit 1, naming what it looked for, and writes nothing", async () => {
    const dir = project({ "README.md": "# notes\n" });
    const result = await berth(["init"], dir);
    expect(result.code).toBe(1);
    expect(result.err).toContain("no app found: looked for a Dockerfile; package.json");
    expect(result.err).toContain("main.py, app.py or server.py (Python)");
    expect(result.err).toContain("go.mod with a main package (Go)");
    expect(existsSync(join(dir, "berth.yml"))).toBe(false);
  });

  it("says what was missing when it finds a project file but no entry", async () => {
    const dir = project({ "package.json": JSON.stringify({ name: "ui", scripts: { build: "vite build" } }) });
    const result = await berth(["init"], dir);
    expect(result.code).toBe(1);
    expect(result.err).toContain(
      "Found package.json: no start script or main that runs a .js/.ts file, and no index/main/server/app file",
    );
  });
});

describe("berth init's choices", () => {
  const nodeApp = () =>
    project({ "package.json": JSON.stringify({ name: "shop", main: "index.js" }), "index.js": NODE_SERVER });

  it("never replaces an existing file without --force, and names it", async () => {
    const dir = nodeApp();
    writeFileSync(join(dir, "berth.yml"), "# mine\n");
    const refused = await berth(["init"], dir);
    expect(refused.code).toBe(1);
    expect(refused.err).toBe(
      "berth: berth.yml already exists; berth init leaves it as it is (--force replaces it)",
    );
    expect(readFileSync(join(dir, "berth.yml"), "utf8")).toBe("# mine\n");
    const forced = await berth(["init", "--force"], dir);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, "berth.yml"), "utf8")).toContain("entryfilePath: index.js");
  });

  it("takes a directory argument, --type and --name, and refuses bad ones as usage errors", async () => {
    const dir = nodeApp();
    const parent = dirname(dir);
    const { code, out } = await berth(
      ["init", "shop-api", "--type", "worker-service", "--name", "shopWorker"],
      parent,
    );
    expect(code).toBe(0);
    expect(out).toContain("wrote shop-api/berth.yml");
    expect(out).toContain("worker-service: as --type says");
    expect(out).toContain("berth deploy -f shop-api/berth.yml --stack shop-api");
    const written = parse(readFileSync(join(dir, "berth.yml"), "utf8"));
    expect(Object.keys(written.resources)).toEqual(["shopWorker"]);
    expect(written.resources.shopWorker.type).toBe("worker-service");
    expect((await berth(["init", "--type", "private-service"], dir)).code).toBe(2);
    expect((await berth(["init", "--name", "shop-worker", "--force"], dir)).code).toBe(2);
    expect((await berth(["init", "missing"], parent)).err).toContain("missing: no such directory");
  });

  it("asks on a terminal when it cannot tell, and otherwise chooses worker-service", async () => {
    const files = { "main.py": "print('hi')\n" };
    const questions: string[] = [];
    const asked = await berth(["init"], project(files), {
      prompt: async (question) => {
        questions.push(question);
        return "y";
      },
    });
    expect(questions).toEqual(["Does it serve HTTP on a port? [y/N] "]);
    expect(asked.out).toContain("web-service: you said it serves HTTP");
    const told = await berth(["init"], project(files), { prompt: async () => "" });
    expect(told.out).toContain("worker-service: you said it does not serve HTTP");
  });

  it("--ts writes a berth.ts with @berth/config that passes tsc and berth validate", async () => {
    const dir = configProject({
      "package.json": JSON.stringify({ name: "shop", type: "module", scripts: { start: "node server.js" } }),
      "server.js": NODE_SERVER,
    });
    const { init, text } = await initAndValidate(dir, ["--ts"]);
    expect(init.out).not.toContain("does not resolve");
    expect(text).toContain('import { buildpack, defineStack, webService } from "@berth/config";');
    expect(await typecheck(dir, "berth.ts")).toEqual({ code: 0, output: "" });
    const rendered = await berth(["render", "-f", "berth.ts"], dir);
    const definition = JSON.parse(rendered.out).find(
      (request: { operation: string }) => request.operation === "RegisterTaskDefinition",
    ).input.containerDefinitions[0];
    expect(definition.portMappings[0].containerPort).toBe(8080);
    expect(definition.healthCheck.command[1]).toBe("node");
  }, 180_000);
});

describe("berth init's detection", () => {
  it("prefers the entry file's evidence and ignores comments and tests", () => {
    const files = new Map([
      ["package.json", JSON.stringify({ main: "worker.js" })],
      ["worker.js", "// server.listen(8080) was the old way\nsetInterval(() => {}, 1000);\n"],
      ["test/server.test.js", "app.listen(4000);\n"],
    ]);
    const detection = detect(files, "jobs");
    expect(detection.listens).toBeUndefined();
    expect(detection.port).toBeUndefined();
  });

  it("makes names Berth accepts", () => {
    expect(resourceName("my-shop_api")).toBe("myShopApi");
    expect(resourceName("2fast")).toBe("fast");
    expect(resourceName("---")).toBe("app");
    expect(stackName("My_API.v2")).toBe("my-api-v2");
    expect(stackName("123")).toBe("app");
  });
});
