import type { z } from "zod";

/**
 * An error in the shape AWS's JSON protocols use: `{"__type": "<ErrorCode>", "message": "..."}`
 * with the HTTP status AWS gives that error. The SDK maps `__type` to its exception classes.
 */
export class AwsError extends Error {
  readonly type: string;
  readonly status: number;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.name = type;
    this.type = type;
    this.status = status;
  }
}

/** One AWS operation: its input schema (the members AWS requires, typed) and its handler. */
export interface Operation<Schema extends z.ZodType = z.ZodType> {
  input: Schema;
  handle: (input: z.infer<Schema>) => unknown | Promise<unknown>;
}

export function operation<Schema extends z.ZodType>(
  input: Schema,
  handle: (input: z.infer<Schema>) => unknown | Promise<unknown>,
): Operation {
  return { input, handle } as Operation;
}

/**
 * A service on the endpoint, addressed by the `X-Amz-Target` prefix its SDK client sends
 * (e.g. `AmazonEC2ContainerServiceV20141113` for ECS).
 */
export interface AwsJsonService {
  name: string;
  targetPrefix: string;
  /** The exception class AWS returns for a malformed request to this service. */
  validationError: string;
  operations: Record<string, Operation>;
}

/** Validates a request body and runs the operation; every failure is an AwsError. */
export async function dispatch(
  service: AwsJsonService,
  operationName: string,
  body: unknown,
): Promise<unknown> {
  const op = Object.hasOwn(service.operations, operationName) ? service.operations[operationName] : undefined;
  if (!op)
    throw new AwsError(
      "UnknownOperationException",
      `${service.name} has no operation ${operationName} in Berth Local`,
    );
  const parsed = op.input.safeParse(body ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.map(String).join(".");
      return path ? `${path}: ${issue.message}` : issue.message;
    });
    throw new AwsError(service.validationError, problems.join("; "));
  }
  return (await op.handle(parsed.data)) ?? {};
}
