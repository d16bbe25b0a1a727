import { ensureConsoleBuilt } from "@berth/web/build";
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
const apiPort = portFrom("BERTH_PORT", 4000);
const adminToken = process.env.BERTH_ADMIN_TOKEN || undefined;
const strategyMinuteMs = minuteFrom("BERTH_LOCAL_MINUTE_MS");
const timedSchedules = onOffFrom("BERTH_LOCAL_TIMED_SCHEDULES");

/** `on` (the default when unset) or `off`. */
function onOffFrom(name: string): boolean {
  const raw = process.env[name];
  if (raw === undefined || raw === "" || raw === "on") return true;
  if (raw === "off") return false;
  console.error(`${name} must be on or off, got "${raw}"`);
  process.exit(2);
}

/** How long a deployment strategy's minute lasts here (bake and step times); unset is 60 000. */
function minuteFrom(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  const millis = Number(raw);
  if (!Number.isInteger(millis) || millis < 1 || millis > 3_600_000) {
    console.error(`${name} must be whole milliseconds from 1 to 3600000, got "${raw}"`);
    process.exit(2);
  }
  return millis;
}

// `npm ci` builds the console; a checkout installed without scripts, or edited since, builds here.
const consoleDir = await ensureConsoleBuilt((line) => console.error(line)).catch((error: Error) => {
  console.error(`the console could not be built (the API still starts; GET / says so): ${error.message}`);
  return undefined;
});

const local = await startBerthLocal({
  dataDir,
  ...(consoleDir ? { consoleDir } : {}),
  awsPort,
  apiPort,
  ...(adminToken ? { adminToken } : {}),
  ...(strategyMinuteMs ? { strategyMinuteMs } : {}),
  timedSchedules,
  log: (line) => console.error(line),
}).catch((error: NodeJS.ErrnoException & { port?: number }) => {
  if (error.code === "EADDRINUSE")
    console.error(`port ${error.port} is in use: set BERTH_PORT or BERTH_AWS_PORT`);
  else if (error.code === "INVALID_INPUT") console.error(`BERTH_ADMIN_TOKEN: ${error.message}`);
  else console.error(error);
  process.exit(1);
});

const admin = local.api?.admin;
const tokenLine = admin?.generated
  ? `${admin.token}\n                           (shown once; kept in ${local.dataDir}/admin-token, mode 0600)`
  : adminToken
    ? "from BERTH_ADMIN_TOKEN"
    : `in ${local.dataDir}/admin-token`;
console.log(`Berth Local
  console                  ${local.api?.url}/  (sign in with the admin token)
  API                      ${local.api?.url}  (OpenAPI 3.1: ${local.api?.url}/v1/openapi.json)
  AWS-compatible endpoint  ${local.awsEndpoint.url}  (ECS, Logs, Secrets Manager, Auto Scaling, Lambda, EventBridge, Step Functions, CodeBuild, IAM, ECR)
  data                     ${local.dataDir}
  admin token              ${tokenLine}
  try: curl -H "Authorization: Bearer <admin token>" ${local.api?.url}/v1/stacks
  shell setup (the aws CLI and SDKs need credentials, any will do; berth then runs from any directory):
  ${shellSetup(local.awsEndpoint.url, local.api?.url, local.dataDir)}`);

/** One line to paste: dummy AWS credentials and where Berth Local is, for the aws CLI and `berth`. */
function shellSetup(awsUrl: string, apiUrl: string | undefined, dataDir: string): string {
  const region = process.env.AWS_REGION ?? "us-east-1";
  const variables = {
    AWS_ACCESS_KEY_ID: "berth-local",
    AWS_SECRET_ACCESS_KEY: "berth-local",
    AWS_REGION: region,
    // The aws CLI v1 reads only this one.
    AWS_DEFAULT_REGION: region,
    AWS_ENDPOINT_URL: awsUrl,
    ...(apiUrl ? { BERTH_URL: apiUrl } : {}),
    BERTH_DATA_DIR: dataDir,
  };
  const quote = (value: string) =>
    /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
  return `export ${Object.entries(variables)
    .map(([name, value]) => `${name}=${quote(value)}`)
    .join(" ")}`;
}

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log("stopping: every task gets SIGTERM, then SIGKILL after its stop timeout");
    void local.close().then(() => process.exit(0));
  });
}
