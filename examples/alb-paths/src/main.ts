import { createServer } from "node:http";

// The stack file sets PORT (the container port the balancer's target group forwards to) and
// SERVICE, which tells the two services apart in their answers.
const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port < 1 || port > 65535)
  throw new Error(`PORT must be a port number, got ${process.env.PORT}`);
const service = process.env.SERVICE ?? "app";
const greeting = process.env.GREETING ?? `hello from ${service}`;

const server = createServer((request, response) => {
  const path = (request.url ?? "/").split("?")[0];
  const body =
    path === "/health"
      ? { status: "ok" }
      : {
          service,
          greeting,
          path,
          method: request.method,
          pid: process.pid,
          forwardedFor: request.headers["x-forwarded-for"] ?? null,
        };
  const text = JSON.stringify(body);
  response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  response.end(text);
});
server.keepAliveTimeout = 5_000;
server.listen(port, () => console.log(`${service} listening on ${port}`));

// ECS sends SIGTERM before it stops a task: stop accepting, finish what is in flight, exit.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    console.log(`${signal}: closing the server`);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 4_000).unref();
  });
}
