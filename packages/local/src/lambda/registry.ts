import { existsSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import type { FunctionDefinition } from "@berth/core/functions";

/** A Lambda context object, as the Node.js runtime passes it to a handler. */
export interface LambdaContext {
  awsRequestId: string;
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
}

export type LambdaHandler = (event: unknown, context: LambdaContext) => unknown;

/** One function Berth Local serves: its handler runs in-process. */
export interface LocalFunction {
  name: string;
  /** `<module path>.<export name>`, the module path relative to the registry's root dir and without extension. */
  handler: string;
  timeoutSeconds: number;
  /** Defaults to 128, as Lambda. */
  memoryMiB?: number;
  environment?: Record<string, string>;
}

export interface RegistryOptions {
  /** The directory handler module paths are relative to. */
  rootDir: string;
  /** Defaults to 000000000000. */
  account?: string;
  /** Defaults to us-east-1. */
  region?: string;
}

export interface ManifestOptions extends RegistryOptions {
  /**
   * Configuration values; each function gets those among the variables its manifest entry
   * names (the installation sets exactly these), the others are left out.
   */
  environment?: Record<string, string | undefined>;
}

/** The function exists but its handler module does not (yet): Lambda would not know it. */
class FunctionNotDeployedError extends Error {
  override readonly name = "FunctionNotDeployedError";
}

/** Raised by `load` for what the Lambda runtime reports as `Runtime.*` errors. */
export class HandlerLoadError extends Error {
  constructor(
    readonly errorType: "Runtime.ImportModuleError" | "Runtime.HandlerNotFound",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = errorType;
  }
}

/** Extensions tried, in order, for a handler's module path. */
const MODULE_EXTENSIONS = [".ts", ".mts", ".js", ".mjs"];

const ARN = /^arn:[^:]+:lambda:([^:]+):([^:]+):function:([^:]+)(?::([^:]+))?$/;
const PARTIAL_ARN = /^([0-9]{12}):function:([^:]+)(?::([^:]+))?$/;
const NAME = /^([^:]+)(?::([^:]+))?$/;

function splitHandler(handler: string): { modulePath: string; exportName: string } {
  const dot = handler.lastIndexOf(".");
  if (dot <= 0 || dot === handler.length - 1) throw new Error(`malformed handler "${handler}"`);
  return { modulePath: handler.slice(0, dot), exportName: handler.slice(dot + 1) };
}

/** The functions Berth Local's Lambda endpoint serves, and their handlers loaded on demand. */
export class FunctionRegistry {
  readonly rootDir: string;
  readonly account: string;
  readonly region: string;
  private readonly functions = new Map<string, LocalFunction>();
  private readonly modules = new Map<string, Promise<Record<string, unknown>>>();

  constructor(definitions: readonly LocalFunction[], options: RegistryOptions) {
    this.rootDir = resolvePath(options.rootDir);
    this.account = options.account ?? "000000000000";
    this.region = options.region ?? "us-east-1";
    for (const definition of definitions) {
      splitHandler(definition.handler);
      if (this.functions.has(definition.name)) throw new Error(`function "${definition.name}" defined twice`);
      this.functions.set(definition.name, definition);
    }
  }

  /** The registry of the control plane's functions (`FUNCTIONS` of `@berth/core/functions`). */
  static fromManifest(manifest: readonly FunctionDefinition[], options: ManifestOptions): FunctionRegistry {
    const values = options.environment ?? {};
    const definitions = manifest.map((entry): LocalFunction => {
      const environment: Record<string, string> = {};
      for (const variable of entry.environment) {
        const value = values[variable];
        if (value !== undefined) environment[variable] = value;
      }
      return {
        name: entry.name,
        handler: entry.handler,
        timeoutSeconds: entry.timeoutSeconds,
        memoryMiB: entry.memoryMiB,
        environment,
      };
    });
    return new FunctionRegistry(definitions, options);
  }

  arn(name: string): string {
    return `arn:aws:lambda:${this.region}:${this.account}:function:${name}`;
  }

  /** Every function, deployed or not. */
  list(): LocalFunction[] {
    return [...this.functions.values()];
  }

  /**
   * The function a `FunctionName` designates: a name, a full ARN or a partial one
   * (`<account>:function:<name>`), each optionally qualified with `$LATEST` (the only version).
   * Undefined for anything else, including another region's or account's ARN.
   */
  resolve(nameOrArn: string): LocalFunction | undefined {
    let name: string | undefined;
    let qualifier: string | undefined;
    const arn = ARN.exec(nameOrArn);
    const partial = PARTIAL_ARN.exec(nameOrArn);
    if (arn) {
      if (arn[1] !== this.region || arn[2] !== this.account) return undefined;
      [name, qualifier] = [arn[3], arn[4]];
    } else if (partial) {
      if (partial[1] !== this.account) return undefined;
      [name, qualifier] = [partial[2], partial[3]];
    } else {
      const plain = NAME.exec(nameOrArn);
      if (!plain) return undefined;
      [name, qualifier] = [plain[1], plain[2]];
    }
    if (qualifier !== undefined && qualifier !== "$LATEST") return undefined;
    return name === undefined ? undefined : this.functions.get(name);
  }

  /** The file of the function's handler module, or undefined when it does not exist (yet). */
  modulePath(name: string): string | undefined {
    const definition = this.functions.get(name);
    if (!definition) return undefined;
    const base = resolvePath(this.rootDir, splitHandler(definition.handler).modulePath);
    return MODULE_EXTENSIONS.map((extension) => base + extension).find((file) => existsSync(file));
  }

  /** Whether the function's handler module exists: a function without one is not deployed. */
  isDeployed(name: string): boolean {
    return this.modulePath(name) !== undefined;
  }

  /** Deployed functions only, as Lambda's ListFunctions would show them. */
  deployed(): LocalFunction[] {
    return this.list().filter((definition) => this.isDeployed(definition.name));
  }

  /**
   * The function's exported handler. The module is imported once and cached (a failed import is
   * retried on the next call). Throws `FunctionNotDeployedError` for an unknown or undeployed
   * function, `HandlerLoadError` when the module does not load or lacks the export.
   */
  async load(name: string): Promise<LambdaHandler> {
    const definition = this.functions.get(name);
    const file = this.modulePath(name);
    if (!definition || !file) throw new FunctionNotDeployedError(`function "${name}" is not deployed`);
    const { modulePath, exportName } = splitHandler(definition.handler);
    let loading = this.modules.get(file);
    if (!loading) {
      loading = import(pathToFileURL(file).href) as Promise<Record<string, unknown>>;
      this.modules.set(file, loading);
    }
    let module: Record<string, unknown>;
    try {
      module = await loading;
    } catch (error) {
      this.modules.delete(file);
      const message = error instanceof Error ? error.message : String(error);
      throw new HandlerLoadError("Runtime.ImportModuleError", `Error: ${message}`, { cause: error });
    }
    const handler = module[exportName];
    if (typeof handler !== "function") {
      throw new HandlerLoadError(
        "Runtime.HandlerNotFound",
        `${modulePath.split("/").pop()}.${exportName} is undefined or not exported`,
      );
    }
    return handler as LambdaHandler;
  }
}
