import { startBerthLocal } from "./berth-local.ts";

/** `npm start`: Berth Local in the foreground until SIGINT or SIGTERM. */
function portFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`${name} must be a port number, got "${raw}"`);
    process.exit(2);
  }
  return port;
}

const dataDir = process.env.BERTH_DATA_DIR || ".berth";
const awsPort = portFrom("BERTH_AWS_PORT", 4566);

const local = await startBerthLocal({ dataDir, awsPort, log: (line) => console.error(line) }).catch(
  (error: NodeJS.ErrnoException) => {
    console.error(error.code === "EADDRINUSE" ? `port ${awsPort} is in use: set BERTH_AWS_PORT` : error);
    process.exit(1);
  },
);

console.log(`Berth Local
  AWS-compatible endpoint  ${local.awsEndpoint.url}  (ECS, CloudWatch Logs, Secrets Manager, Application Auto Scaling)
  data                     ${local.dataDir}
  try: aws --endpoint-url ${local.awsEndpoint.url} ecs list-clusters`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log("stopping: every task gets SIGTERM, then SIGKILL after its stop timeout");
    void local.close().then(() => process.exit(0));
  });
}
