import {
  ApiClient,
  ApiRequestError,
  type Deployment,
  type DeploymentPage,
  encode,
  type ServiceView,
  type StackDetail,
  type StackList,
  urlLines,
} from "./api.ts";
import { type Context, parseOptions, stringOption } from "./command.ts";
import { age, type Paint, painter, statusStyle, table } from "./format.ts";

export async function status(args: string[], context: Context): Promise<number> {
  const { values } = parseOptions(args, { stack: { type: "string" }, json: { type: "boolean" } });
  const api = ApiClient.fromEnv(context.env, context.cwd);
  const stack = stringOption(values, "stack");
  const paint = painter(context.color);
  if (stack === undefined) {
    const { body } = await api.request<StackList>("GET", "/v1/stacks");
    if (values.json) context.out(JSON.stringify(body, null, 2));
    else for (const line of stackListLines(body, paint)) context.out(line);
    return 0;
  }
  const base = `/v1/stacks/${encode(stack)}`;
  const { body: detail } = await api.request<StackDetail>("GET", base);
  const services = await Promise.all(
    detail.services.map(async (summary) => {
      const path = `${base}/services/${encode(summary.name)}`;
      const [view, deployments] = await Promise.all([
        orGone(api.request<ServiceView>("GET", path)),
        orGone(api.request<DeploymentPage>("GET", `${path}/deployments`, { query: { limit: 1 } })),
      ]);
      return { name: summary.name, service: view, deployments };
    }),
  );
  if (values.json) {
    const byName = Object.fromEntries(
      services.map(({ name, service, deployments }) => [name, { service, deployments }]),
    );
    context.out(JSON.stringify({ stack: detail, services: byName }, null, 2));
    return 0;
  }
  const now = Date.now();
  context.out(
    `Stack ${detail.stack.name} (stage ${detail.stack.stage}), applied ${age(detail.stack.updatedAt, now)}`,
  );
  if (services.length === 0) {
    context.out("No services.");
    return 0;
  }
  const rows = services.map(({ name, service, deployments }) => {
    // Gone between the two reads: deleted while this ran.
    if (!service) return [name, "-", "DELETED", "-", "-", "-", "-", "-", "-", ""];
    const last: Deployment | undefined = deployments?.deployments[0];
    const count = (value: number | null) => (value === null ? "-" : String(value));
    return [
      name,
      service.type,
      service.status,
      `${count(service.tasks.running)}/${count(service.tasks.desired)}`,
      service.address ?? "-",
      last?.id ?? "-",
      last?.status ?? "-",
      last ? age(last.createdAt, now) : "-",
      last ? requestedBy(last) : "-",
      last?.reason ?? "",
    ];
  });
  const header = [
    "SERVICE",
    "TYPE",
    "STATUS",
    "RUNNING/DESIRED",
    "ADDRESS",
    "LAST DEPLOYMENT",
    "",
    "AGE",
    "BY",
    "REASON",
  ];
  const lines = table(header, rows, (_row, column, text) =>
    column === 2 || column === 6 ? paint(statusStyle(text.trim()), text) : text,
  );
  for (const line of lines) context.out(line);
  for (const line of urlLines(detail)) context.out(line);
  for (const { name, service } of services) {
    const queued = service?.queuedDeployment;
    if (queued) context.out(`${name}: deployment ${queued.id} waits its turn (${queued.reason})`);
  }
  return 0;
}

/** How a deployment came to be: its trigger, and the token that asked when the API knows it. */
export function requestedBy(deployment: Pick<Deployment, "trigger" | "requestedBy">): string {
  return deployment.requestedBy ? `${deployment.trigger} (${deployment.requestedBy})` : deployment.trigger;
}

async function orGone<T>(request: Promise<{ body: T }>): Promise<T | undefined> {
  try {
    return (await request).body;
  } catch (error) {
    if (error instanceof ApiRequestError && error.status === 404) return undefined;
    throw error;
  }
}

function stackListLines(list: StackList, paint: Paint): string[] {
  if (list.stacks.length === 0)
    return ["No stacks yet. Deploy one with: berth deploy -f berth.yml --stack NAME"];
  const now = Date.now();
  return table(
    ["STACK", "STAGE", "APPLIED", "FILE SHA-256"],
    list.stacks.map((stack) => [
      stack.name,
      stack.stage,
      age(stack.updatedAt, now),
      stack.stackFileHash.slice(0, 12),
    ]),
    (_row, column, text) => (column === 0 ? paint("bold", text) : text),
  );
}
