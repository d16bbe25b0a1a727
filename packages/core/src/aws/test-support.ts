import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** Listens on a free loopback port; answers the server's base URL. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function close(server: Server): Promise<void> {
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}

export interface AwsJsonCall {
  target: string;
  body: Record<string, unknown>;
}

export type AwsJsonAnswer = { status: number; body: unknown };

/**
 * An endpoint speaking the AWS JSON protocol for the SDK client under test, answering with what
 * the test scripts; it records the requests the real client serialised.
 */
export async function startAwsJsonEndpoint(answer: (call: AwsJsonCall) => AwsJsonAnswer) {
  const calls: AwsJsonCall[] = [];
  const readAll = async (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  };
  const server = createServer(async (request, response) => {
    const call = {
      target: String(request.headers["x-amz-target"] ?? ""),
      body: JSON.parse((await readAll(request)) || "{}") as Record<string, unknown>,
    };
    calls.push(call);
    const { status, body } = answer(call);
    response.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
    response.end(JSON.stringify(body));
  });
  // Node's server drops a keep-alive connection after 5 s idle, and the SDK's agent does not know
  // it: a call sent as the drop happens fails with ECONNRESET, which a client of `maxAttempts: 1`
  // (the tests', so that a scripted error is not retried) does not survive. Connections stay open
  // until `stop` (whose close ends the idle ones).
  server.keepAliveTimeout = 0;
  const url = await listen(server);
  return { url, calls, stop: () => close(server) };
}
