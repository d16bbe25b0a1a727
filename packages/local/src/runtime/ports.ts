import { createServer, type Server } from "node:net";

/**
 * Free TCP ports on 127.0.0.1, one per request, all distinct. Every listener stays open until all
 * ports are known, so the kernel cannot hand out the same port twice within one call. Another
 * program may still take a port between this call and the container binding it; a container that
 * then fails to listen exits, which the task reports like any other exit.
 */
export async function allocateHostPorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let index = 0; index < count; index++) {
      const server = createServer();
      servers.push(server);
      ports.push(await listenOnFreePort(server));
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

function listenOnFreePort(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
      const address = server.address();
      if (address && typeof address === "object") resolve(address.port);
      else reject(new Error("listening socket has no TCP address"));
    });
  });
}

/** `localhost:<port>` or `127.0.0.1:<port>`, not followed by another digit (3000 must not match 30001). */
const LOOPBACK_ADDRESS = /\b(localhost|127\.0\.0\.1):(\d+)(?!\d)/g;

/**
 * Rewrites loopback addresses of the task's container ports to their host ports: inside one ECS
 * task the containers share a network namespace, so `http://localhost:3000` reaches the sibling
 * listening on 3000; on one machine that sibling listens on its host port instead.
 */
export function rewriteLoopbackPorts(value: string, hostPortOf: ReadonlyMap<number, number>): string {
  return value.replace(LOOPBACK_ADDRESS, (whole, host: string, port: string) => {
    const hostPort = hostPortOf.get(Number(port));
    return hostPort === undefined ? whole : `${host}:${hostPort}`;
  });
}

export interface ContainerEnvironmentInput {
  /** What the container inherits from Berth Local itself (PATH, HOME). */
  inherited: Record<string, string>;
  /** The artifact manifest's environment. */
  image: Record<string, string>;
  /** The task definition's environment for this container. */
  container: Record<string, string>;
  /** This container's ports. */
  containerPorts: readonly number[];
  /** containerPort → hostPort for every port of every container of the task. */
  taskHostPorts: ReadonlyMap<number, number>;
}

/** The environment a container process gets; see the comment at the top of task-run.ts. */
export function containerEnvironment(input: ContainerEnvironmentInput): Record<string, string> {
  const environment: Record<string, string> = { ...input.inherited };
  for (const [name, value] of Object.entries({ ...input.image, ...input.container })) {
    environment[name] = rewriteLoopbackPorts(value, input.taskHostPorts);
  }
  for (const [containerPort, hostPort] of input.taskHostPorts) {
    environment[`BERTH_HOST_PORT_${containerPort}`] = String(hostPort);
  }
  const onlyPort = input.containerPorts.length === 1 ? input.containerPorts[0] : undefined;
  const onlyHostPort = onlyPort === undefined ? undefined : input.taskHostPorts.get(onlyPort);
  if (onlyHostPort !== undefined) environment.PORT = String(onlyHostPort);
  return environment;
}
