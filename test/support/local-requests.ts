import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { readSettings, type Settings } from "../../packages/core/src/config.ts";
import { Spec } from "../../packages/core/src/spec/index.ts";
import { type LocalTable, startLocalTable } from "../../packages/core/src/store/test-support.ts";
import { type BerthLocal, startBerthLocal } from "../../packages/local/src/berth-local.ts";
import { localInstallation } from "../../packages/local/src/installation.ts";
import { type ContractRequest, recordingInto } from "./botocore.ts";

/**
 * For contract tests that run Berth's own code against Berth Local's AWS endpoints in-process and
 * record every request it sends, for botocore's ParamValidator to judge afterwards.
 */
export interface RecordingBerthLocal {
  /** The DynamoDB table Berth's records live in. */
  readonly table: LocalTable;
  readonly local: BerthLocal;
  /** Every request sent through a client `recording` wrapped, in order. */
  readonly recorded: ContractRequest[];
  /** Wraps an SDK client so that each request it sends is also recorded under `service`. */
  recording<T extends object>(service: string, client: T): T;
  /** An SDK client configuration for Berth Local's AWS endpoint. */
  aws(): { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  /** The installation settings Berth Local gives its functions. */
  settings(): Settings;
}

/**
 * Starts a local table and an in-process Berth Local before the file's tests, and stops both after
 * them; the returned object's `table` and `local` are set once `beforeAll` has run.
 */
export function recordingBerthLocal(dataDirPrefix: string): RecordingBerthLocal {
  let table: LocalTable | undefined;
  let local: BerthLocal | undefined;
  const recorded: ContractRequest[] = [];
  beforeAll(async () => {
    table = await startLocalTable();
    local = await startBerthLocal({
      dataDir: mkdtempSync(join(tmpdir(), dataDirPrefix)),
      awsPort: 0,
      timedSchedules: false,
    });
  });
  afterAll(async () => {
    await local?.close();
    await table?.stop();
  });
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is used before beforeAll started it`);
    return value;
  };
  return {
    get table() {
      return started(table, "the local table");
    },
    get local() {
      return started(local, "Berth Local");
    },
    recorded,
    recording: (service, client) => recordingInto(recorded, service, client),
    aws: () => ({
      endpoint: started(local, "Berth Local").awsEndpoint.url,
      region: "us-east-1",
      credentials: { accessKeyId: "berth-local", secretAccessKey: "berth-local" },
    }),
    settings: () => {
      const installation = localInstallation({ account: "000000000000", region: "us-east-1" });
      return readSettings({ ...installation.functionEnvironment, AWS_REGION: "us-east-1" });
    },
  };
}

/** A stack file's text, parsed; a stack file the test wrote wrong fails with its issues. */
export function parseStack(text: string): Spec.Stack {
  const parsed = Spec.parse(text);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.stack;
}

/** Expects each `service:Operation` among the requests, naming the first one missing. */
export function expectOperations(requests: readonly ContractRequest[], expected: readonly string[]): void {
  const operations = new Set(requests.map((request) => `${request.service}:${request.operation}`));
  for (const operation of expected) {
    expect([...operations], operation).toContain(operation);
  }
}
