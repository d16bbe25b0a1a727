// Validates definitions with the library's ASL validator, off the main thread: the validator
// compiles its JSON schemas on every call, which takes hundreds of milliseconds.
import { parentPort } from "node:worker_threads";
import { StateMachine } from "aws-local-stepfunctions";

parentPort?.on("message", ({ id, definition }) => {
  try {
    new StateMachine(definition, { validationOptions: { checkArn: false } });
    parentPort?.postMessage({ id, problem: null });
  } catch (error) {
    parentPort?.postMessage({ id, problem: error instanceof Error ? error.message : String(error) });
  }
});
