import { randomBytes } from "node:crypto";
import { z } from "zod";
import { AwsError, type AwsJsonService, operation } from "../protocol.ts";
import type { RegisteredTask } from "../proxy/weighted.ts";
import { JsonFile } from "../state.ts";

/**
 * Berth Local's Cloud Map: one private DNS namespace, created with the data dir, and the
 * services Berth creates in it for API Gateway. Instances are not stored: ECS registers a
 * service's tasks in the Cloud Map services its `serviceRegistries` name, so ListInstances
 * answers from ECS's live tasks (healthy or not, as ECS reports each task's health).
 */

const LOCAL_NAMESPACE_NAME = "berth.internal";
/** Fixed, so the installation can name it before the data dir is read. */
export const LOCAL_NAMESPACE_ID = "ns-berthlocal0000000";

export type { RegisteredTask };

interface ServiceEntry {
  Id: string;
  Arn: string;
  Name: string;
  NamespaceId: string;
  Description?: string;
  DnsConfig?: unknown;
  HealthCheckCustomConfig?: unknown;
  Type: string;
  CreateDate: number;
  CreatorRequestId?: string;
  Tags: { Key: string; Value: string }[];
}

interface State {
  namespace: { Id: string; Arn: string; Name: string; CreateDate: number };
  services: ServiceEntry[];
}

const Tag = z.object({ Key: z.string().min(1).max(128), Value: z.string().max(256) });
const ServiceName = z
  .string()
  .max(127)
  .regex(
    /^((?=^.{1,127}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])(\.([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)|(^\.$)/,
    "must be a DNS name",
  );
const DnsConfig = z.object({
  NamespaceId: z.string().optional(),
  RoutingPolicy: z.enum(["MULTIVALUE", "WEIGHTED"]).optional(),
  DnsRecords: z.array(
    z.object({ Type: z.enum(["SRV", "A", "AAAA", "CNAME"]), TTL: z.number().int().min(0) }),
  ),
});
const Filter = z.object({
  Name: z.string(),
  Values: z.array(z.string()).min(1),
  Condition: z.enum(["EQ", "IN", "BETWEEN", "BEGINS_WITH"]).optional(),
});

export class CloudMap {
  private readonly file: JsonFile<State>;
  private readonly state: State;

  constructor(
    path: string,
    private readonly options: {
      account: string;
      region: string;
      /** ECS's registrations of a Cloud Map service. */
      registeredTasks: (serviceArn: string) => RegisteredTask[];
    },
  ) {
    this.file = new JsonFile(path);
    const id = LOCAL_NAMESPACE_ID;
    this.state = this.file.read({
      namespace: {
        Id: id,
        Arn: this.arn(`namespace/${id}`),
        Name: LOCAL_NAMESPACE_NAME,
        CreateDate: Date.now() / 1000,
      },
      services: [],
    });
    this.file.write(this.state);
  }

  get namespaceId(): string {
    return this.state.namespace.Id;
  }

  private arn(resource: string): string {
    return `arn:aws:servicediscovery:${this.options.region}:${this.options.account}:${resource}`;
  }

  /** The live tasks registered in a service, by ARN (what the HTTP API gateway routes to). */
  instancesOf(serviceArn: string): RegisteredTask[] {
    return this.options.registeredTasks(serviceArn);
  }

  findService(reference: string): ServiceEntry | undefined {
    return this.state.services.find((service) => service.Id === reference || service.Arn === reference);
  }

  private requireService(id: string): ServiceEntry {
    const service = this.findService(id);
    if (!service) throw new AwsError("ServiceNotFound", `Service ${id} not found`);
    return service;
  }

  private requireNamespace(id: string | undefined): void {
    if (id !== this.state.namespace.Id) {
      throw new AwsError("NamespaceNotFound", `Namespace ${id ?? "(none)"} not found`);
    }
  }

  private summary(service: ServiceEntry) {
    const { Tags: _tags, ...rest } = service;
    return { ...rest, InstanceCount: this.instancesOf(service.Arn).length };
  }

  service(): AwsJsonService {
    const namespace = () => ({
      ...this.state.namespace,
      Type: "DNS_PRIVATE",
      ServiceCount: this.state.services.length,
      Properties: { DnsProperties: { HostedZoneId: "ZBERTHLOCAL" } },
    });
    const matches = (service: ServiceEntry, filters: z.infer<typeof Filter>[]) =>
      filters.every((filter) => {
        const value = filter.Name === "NAMESPACE_ID" ? service.NamespaceId : undefined;
        if (filter.Name !== "NAMESPACE_ID")
          throw new AwsError("InvalidInput", `unsupported filter ${filter.Name}`);
        return value !== undefined && filter.Values.includes(value);
      });
    return {
      name: "Cloud Map",
      targetPrefix: "Route53AutoNaming_v20170314",
      validationError: "InvalidInput",
      operations: {
        ListNamespaces: operation(z.object({}).passthrough(), () => ({ Namespaces: [namespace()] })),
        GetNamespace: operation(z.object({ Id: z.string() }), (input) => {
          this.requireNamespace(input.Id);
          return { Namespace: namespace() };
        }),
        CreateService: operation(
          z.object({
            Name: ServiceName,
            NamespaceId: z.string().max(64).optional(),
            CreatorRequestId: z.string().max(64).optional(),
            Description: z.string().max(1024).optional(),
            DnsConfig: DnsConfig.optional(),
            HealthCheckCustomConfig: z.object({ FailureThreshold: z.number().int().optional() }).optional(),
            HealthCheckConfig: z.unknown().optional(),
            Tags: z.array(Tag).max(200).optional(),
            Type: z.literal("HTTP").optional(),
          }),
          (input) => {
            const namespaceId = input.NamespaceId ?? input.DnsConfig?.NamespaceId;
            this.requireNamespace(namespaceId);
            const existing = this.state.services.find(
              (service) => service.Name === input.Name && service.NamespaceId === namespaceId,
            );
            if (existing) {
              if (input.CreatorRequestId && existing.CreatorRequestId === input.CreatorRequestId)
                return { Service: this.summary(existing) };
              throw new AwsError(
                "ServiceAlreadyExists",
                `Service ${input.Name} already exists in ${namespaceId}`,
              );
            }
            const id = `srv-${randomBytes(8).toString("hex")}`;
            const service: ServiceEntry = {
              Id: id,
              Arn: this.arn(`service/${id}`),
              Name: input.Name,
              NamespaceId: namespaceId as string,
              ...(input.Description ? { Description: input.Description } : {}),
              ...(input.DnsConfig ? { DnsConfig: { ...input.DnsConfig, NamespaceId: namespaceId } } : {}),
              ...(input.HealthCheckCustomConfig
                ? { HealthCheckCustomConfig: input.HealthCheckCustomConfig }
                : {}),
              ...(input.CreatorRequestId ? { CreatorRequestId: input.CreatorRequestId } : {}),
              Type: input.DnsConfig ? "DNS_HTTP" : "HTTP",
              CreateDate: Date.now() / 1000,
              Tags: input.Tags ?? [],
            };
            this.state.services.push(service);
            this.file.write(this.state);
            return { Service: this.summary(service) };
          },
        ),
        GetService: operation(z.object({ Id: z.string().max(64) }), (input) => ({
          Service: this.summary(this.requireService(input.Id)),
        })),
        ListServices: operation(
          z.object({
            NextToken: z.string().optional(),
            MaxResults: z.number().int().min(1).max(100).optional(),
            Filters: z.array(Filter).optional(),
          }),
          (input) => {
            const all = this.state.services.filter((service) => matches(service, input.Filters ?? []));
            const start = input.NextToken ? Number(input.NextToken) : 0;
            const size = input.MaxResults ?? 100;
            const page = all.slice(start, start + size);
            return {
              Services: page.map((service) => this.summary(service)),
              ...(start + size < all.length ? { NextToken: String(start + size) } : {}),
            };
          },
        ),
        DeleteService: operation(z.object({ Id: z.string().max(64) }), (input) => {
          const service = this.requireService(input.Id);
          if (this.instancesOf(service.Arn).length > 0) {
            throw new AwsError("ResourceInUse", `Service ${input.Id} still has registered instances`);
          }
          this.state.services = this.state.services.filter((candidate) => candidate !== service);
          this.file.write(this.state);
          return {};
        }),
        ListInstances: operation(
          z.object({
            ServiceId: z.string().max(64),
            NextToken: z.string().optional(),
            MaxResults: z.number().optional(),
          }),
          (input) => {
            const service = this.requireService(input.ServiceId);
            return {
              Instances: this.instancesOf(service.Arn).map((task) => ({
                Id: task.taskId,
                Attributes: {
                  AWS_INSTANCE_IPV4: "127.0.0.1",
                  AWS_INSTANCE_PORT: String(task.port),
                  AWS_INIT_HEALTH_STATUS: task.healthy ? "HEALTHY" : "UNHEALTHY",
                  ECS_TASK_DEFINITION_FAMILY: "",
                },
              })),
            };
          },
        ),
        ListTagsForResource: operation(z.object({ ResourceARN: z.string() }), (input) => ({
          Tags: this.requireService(input.ResourceARN).Tags,
        })),
      },
    };
  }
}
