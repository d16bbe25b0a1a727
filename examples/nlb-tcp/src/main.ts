import { createServer, type Socket } from "node:net";

// A line service over plain TCP: each connection sends one line and gets one line back, then
// the app closes the connection. PORT is the container port the balancer's target group
// forwards to; GREETING changes between revisions.
const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port < 1 || port > 65535)
  throw new Error(`PORT must be a port number, got ${process.env.PORT}`);
const greeting = process.env.GREETING ?? "hello";

const open = new Set<Socket>();
const server = createServer((socket) => {
  open.add(socket);
  socket.on("close", () => open.delete(socket));
  socket.on("error", () => socket.destroy());
  let received = "";
  socket.on("data", (data) => {
    received += data.toString("utf8");
    const end = received.indexOf("\n");
    if (end < 0) return;
    // The answer, then a graceful close (FIN) from the app's side.
    socket.end(`${greeting} ${process.pid} ${received.slice(0, end)}\n`);
  });
});
server.listen(port, () => console.log(`listening on tcp ${port}`));

// ECS sends SIGTERM before it stops a task: stop accepting, let open connections finish, exit.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    console.log(`${signal}: closing the server with ${open.size} open connection(s)`);
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 4_000).unref();
  });
}
