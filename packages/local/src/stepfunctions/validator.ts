import { Worker } from "node:worker_threads";

interface Pending {
  resolve: (problem: string | null) => void;
  reject: (error: Error) => void;
}

/**
 * Checks definitions against the ASL schema (the library's validator) in a worker thread, so a
 * CreateStateMachine never holds up the endpoint. The worker starts on first use and does not
 * keep the process alive.
 */
export class DefinitionValidator {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  /** The validator's complaint about the definition, or null when it is valid. */
  validate(definition: unknown): Promise<string | null> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, definition });
      worker.ref();
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.fail(new Error("the definition validator was closed"));
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./validate-worker.mjs", import.meta.url));
    worker.unref();
    worker.on("message", (message: { id: number; problem: string | null }) => {
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      pending?.resolve(message.problem);
      if (this.pending.size === 0) worker.unref();
    });
    const lost = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      this.fail(error);
    };
    worker.on("error", lost);
    worker.on("exit", (code) => lost(new Error(`the definition validator exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private fail(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
