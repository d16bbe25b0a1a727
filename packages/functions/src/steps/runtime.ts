import { readConfig } from "@berth/core/config";
import { Rollout } from "@berth/core/rollout";
import type { Context } from "aws-lambda";
import type { z } from "zod";
import { type Runtime, stepRuntime } from "../build.ts";

export type { Runtime } from "../build.ts";

let runtime: Runtime | undefined;

/**
 * The runtime of this Lambda container, built once, at load: a missing variable fails the
 * function as it loads.
 */
export function loadRuntime(): Runtime {
  runtime ??= stepRuntime(readConfig(["store", "installation"], "the step"));
  return runtime;
}

/**
 * A step's handler: validates the payload Step Functions sends with the step's schema, runs the
 * domain verb and returns its answer as the step's result. Errors keep their names (the
 * workflows' Retry and Catch match on them); a payload that does not match is a bug, not input.
 */
export function stepHandler<Schema extends z.ZodType, Result>(
  name: string,
  schema: Schema,
  run: (runtime: Runtime, input: z.output<Schema>) => Promise<Result>,
): (event: unknown, context?: Partial<Context>) => Promise<Result> {
  const current = loadRuntime();
  return async (event, context) => {
    const parsed = schema.safeParse(event);
    if (!parsed.success) {
      const error = new Error(
        `${name}: the payload does not match the step's input: ${parsed.error.message}`,
      );
      error.name = Rollout.STEP_ERRORS.invalidInput;
      throw error;
    }
    const logger = current.logger.createChild({
      persistentKeys: { step: name, requestId: context?.awsRequestId },
    });
    try {
      return await run(current, parsed.data);
    } catch (error) {
      logger.warn("step failed", { error });
      throw error;
    }
  };
}
