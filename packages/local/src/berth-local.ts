import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateClusterCommand, ECSClient } from "@aws-sdk/client-ecs";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { FUNCTIONS } from "@berth/core/functions";
import { Workflows } from "@berth/core/workflows";
import { type ApiHost, startApiHost } from "./api-host.ts";
import { ApiGateways } from "./apigatewayv2/service.ts";
import { Scaler } from "./autoscaling/scaler.ts";
import { autoscalingService } from "./autoscaling/service.ts";
import { AutoscalingStore } from "./autoscaling/store.ts";
import { CodeBuildEngine, codeBuildLogsRoute, codeBuildService } from "./codebuild/index.ts";
import { pushRoute } from "./ecr/push.ts";
import { ArtifactStore, ecrService, RepositoryStore, TagStore } from "./ecr/service.ts";
import { ecsService } from "./ecs/api.ts";
import { FARGATE_PROVIDERS, LOCAL_EC2_CAPACITY_PROVIDER } from "./ecs/capacity.ts";
import { EcsEngine } from "./ecs/engine.ts";
import { LoadBalancers } from "./elasticloadbalancing/service.ts";
import { EventRouter } from "./eventbridge/router.ts";
import { eventBridgeService, RuleStore } from "./eventbridge/service.ts";
import { EventBus } from "./events.ts";
import { iamRoute, RoleStore } from "./iam/service.ts";
import { LOCAL_SCHEDULE_GROUP, localInstallation } from "./installation.ts";
import { FunctionRegistry } from "./lambda/registry.ts";
import { lambdaRoute } from "./lambda/service.ts";
import { logsService } from "./logs/service.ts";
import { LogStore } from "./logs/store.ts";
import { LocalScheduler, schedulerRoute } from "./scheduler/scheduler.ts";
import { secretsService } from "./secrets/service.ts";
import { SecretStore } from "./secrets/store.ts";
import { type AwsEndpoint, startAwsEndpoint } from "./server.ts";
import { CloudMap } from "./servicediscovery/service.ts";
import { StepFunctionsEngine, stepFunctionsService } from "./stepfunctions/index.ts";

export interface BerthLocalOptions {
  /** Where state lives (`${BERTH_DATA_DIR:-.berth}`). */
  dataDir: string;
  /** The AWS-compatible endpoint's port (`${BERTH_AWS_PORT:-4566}`); 0 picks a free one. */
  awsPort: number;
  /** The API's port (`${BERTH_PORT:-4000}`); 0 picks a free one; undefined serves no API. */
  apiPort?: number;
  /** `BERTH_ADMIN_TOKEN`. */
  adminToken?: string;
  /** The console's build directory, served by the API host at `/` (`npm start` builds and passes it). */
  consoleDir?: string;
  account?: string;
  region?: string;
  /** Milliseconds between ECS scheduler passes. */
  tickMs?: number;
  /** Milliseconds one minute of a canary's or linear step's bake time lasts (`BERTH_LOCAL_MINUTE_MS`). */
  strategyMinuteMs?: number;
  /** How many EC2 container instances the capacity provider runs at most (default 10). */
  ec2MaxInstances?: number;
  /** Milliseconds between autoscaling evaluations (AWS's target tracking works per minute; 15 s here). */
  scalingIntervalMs?: number;
  /** The clock the scheduler's timers read (default: the system clock). */
  now?: () => Date;
  /**
   * Whether scheduled EventBridge rules (the weekly refresh) and EventBridge Scheduler schedules
   * (stacks' own refreshes) fire by themselves at their times (`BERTH_LOCAL_TIMED_SCHEDULES=off`
   * says no; default yes). `POST /_local/scheduler/{group}/{name}/fire` fires a schedule either way.
   */
  timedSchedules?: boolean;
  log?: (line: string) => void;
}

export interface BerthLocal {
  awsEndpoint: AwsEndpoint;
  api?: ApiHost;
  ecs: EcsEngine;
  logs: LogStore;
  secrets: SecretStore;
  bus: EventBus;
  /** EventBridge Scheduler: stacks' refresh schedules; `fire()` runs one now. */
  scheduler: LocalScheduler;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * Starts Berth Local's AWS-compatible endpoint with its services. `close()` stops every task's
 * processes before it returns, so nothing outlives Berth Local.
 */
export async function startBerthLocal(options: BerthLocalOptions): Promise<BerthLocal> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const account = options.account ?? "000000000000";
  const region = options.region ?? "us-east-1";
  const bus = new EventBus({ account, region });
  const installation = localInstallation({ account, region });
  const logs = new LogStore(join(dataDir, "logs"), { account, region });
  const builds = new CodeBuildEngine({
    dataDir,
    account,
    region,
    logs,
    onError: (error) => options.log?.(`codebuild: ${(error as Error).stack ?? error}`),
  });
  const secrets = new SecretStore(join(dataDir, "secrets", "secrets.json"), { account, region });
  let balancers: LoadBalancers | undefined;
  const ecs = new EcsEngine({
    dataDir,
    account,
    region,
    bus,
    logSink: logs,
    logGroups: logs,
    resolveSecret: secrets.resolveValueFrom,
    ...(options.tickMs ? { tickMs: options.tickMs } : {}),
    ...(options.strategyMinuteMs ? { strategyMinuteMs: options.strategyMinuteMs } : {}),
    ...(options.ec2MaxInstances !== undefined ? { ec2MaxInstances: options.ec2MaxInstances } : {}),
    // ECS shifts a gradual deployment's production listener rule in Berth Local's ELB (made below).
    setForwardWeights: (ruleArn, weights) => {
      if (!balancers?.setForwardWeights(ruleArn, weights))
        options.log?.(`ecs: no listener rule ${ruleArn} to shift traffic through`);
    },
  });
  const cloudMap = new CloudMap(join(dataDir, "servicediscovery", "state.json"), {
    account,
    region,
    registeredTasks: (registryArn) => ecs.registeredTasks(registryArn),
  });
  const gateways = new ApiGateways(join(dataDir, "apigatewayv2", "apis.json"), {
    account,
    region,
    targetsOf: (registryArn) => cloudMap.instancesOf(registryArn),
    log: (line) => options.log?.(line),
  });
  await gateways.start();
  balancers = new LoadBalancers(join(dataDir, "elasticloadbalancing", "state.json"), {
    account,
    region,
    targetsOf: (targetGroupArn) => ecs.targetGroupTasks(targetGroupArn),
    log: (line) => options.log?.(line),
  });
  await balancers.start();
  const scalable = ecs.scalableServices();
  const autoscaling = new AutoscalingStore(join(dataDir, "autoscaling", "state.json"), {
    account,
    region,
    services: scalable,
  });
  const scaler = new Scaler(autoscaling, scalable, {
    ...(options.scalingIntervalMs ? { intervalMs: options.scalingIntervalMs } : {}),
    onError: (error) => options.log?.(`autoscaling: ${error}`),
  });
  // The control plane's functions, invoked in-process from the repository's own handler files.
  const functions = FunctionRegistry.fromManifest(FUNCTIONS, {
    rootDir: fileURLToPath(new URL("../../..", import.meta.url)),
    account,
    region,
    environment: installation.functionEnvironment,
  });
  // EventBridge: the manifest's rules, installed at start as the infrastructure installs them on AWS.
  const rules = new RuleStore(join(dataDir, "eventbridge", "rules.json"), { account, region });
  for (const fn of FUNCTIONS) {
    fn.triggers.forEach((trigger, index) => {
      if (trigger.kind !== "eventbridge" && trigger.kind !== "schedule") return;
      const name = `berth-${fn.name}-${index}`;
      rules.put(name, {
        state: "ENABLED",
        description: `installed by Berth Local from the function manifest (${fn.name})`,
        ...(trigger.kind === "eventbridge"
          ? { eventPattern: JSON.stringify(trigger.pattern) }
          : { scheduleExpression: trigger.expression }),
      });
      rules.putTargets(name, [{ Id: fn.name, Arn: functions.arn(fn.name) }]);
    });
  }
  // Step Functions: the workflows as state machines, installed (created, or updated when they
  // changed) at start as the installation installs them on AWS.
  const stepFunctions = new StepFunctionsEngine({
    dir: join(dataDir, "stepfunctions"),
    bus,
    account,
    region,
    log: (line) => options.log?.(line),
  });
  const workflowValues: Record<string, string> = {
    CodeBuildProject: installation.codeBuildProject,
    Cluster: installation.cluster,
  };
  for (const fn of FUNCTIONS) workflowValues[`Function:${fn.name}`] = functions.arn(fn.name);
  stepFunctions.installStateMachines(
    Workflows.WORKFLOWS.map((workflow) => ({
      name: `${installation.stateMachinePrefix}${workflow.name}`,
      definition: Workflows.substitute(workflow.definition, workflowValues),
      roleArn: `arn:aws:iam::${account}:role/berth-workflows`,
    })),
  );
  // EventBridge Scheduler: stacks' own refresh schedules, delivered like the rules' targets.
  let deliverScheduled: (targetArn: string, input: unknown) => Promise<void> = async () => {};
  const scheduler = new LocalScheduler(join(dataDir, "scheduler", "schedules.json"), {
    account,
    region,
    deliver: (targetArn, input) => deliverScheduled(targetArn, input),
    onError: (error) => options.log?.(`scheduler: ${error}`),
    ...(options.now ? { now: options.now } : {}),
  });
  // The installation's schedule group, as the infrastructure creates it on AWS.
  if (!scheduler.hasGroup(LOCAL_SCHEDULE_GROUP)) scheduler.createGroup(LOCAL_SCHEDULE_GROUP);
  const artifacts = new ArtifactStore(join(dataDir, "artifacts"));
  const tags = new TagStore(join(dataDir, "ecr", "tags.json"));
  const awsEndpoint = await startAwsEndpoint({
    port: options.awsPort,
    services: [
      ecsService(ecs),
      logsService(logs),
      secretsService(secrets),
      autoscalingService(autoscaling),
      eventBridgeService(bus, rules),
      stepFunctionsService(stepFunctions),
      ecrService({
        account,
        region,
        repositories: new RepositoryStore(join(dataDir, "ecr", "repositories.json")),
        artifacts,
        tags,
      }),
      codeBuildService(builds),
      cloudMap.service(),
    ],
    routes: [
      // IAM speaks the Query protocol (form-encoded POST /), not AWS JSON.
      iamRoute(new RoleStore(join(dataDir, "iam", "roles.json"), { account }), {
        onInternalError: (error) => options.log?.(`iam: internal error: ${(error as Error).stack ?? error}`),
      }),
      codeBuildLogsRoute(builds),
      schedulerRoute(scheduler),
      pushRoute({ account, region, artifacts, tags, bus }),
      gateways.route(),
      balancers.route(),
      lambdaRoute(functions, {
        onAsyncError: (error, { functionName }) => options.log?.(`lambda ${functionName}: ${error}`),
      }),
      (request, response) => {
        if (request.method === "GET" && request.url === "/_local/elbv2") {
          response.writeHead(200, { "content-type": "application/json" });
          response.end(JSON.stringify({ loadBalancers: balancers.list() }, null, 2));
          return true;
        }
        if (request.method === "GET" && request.url === "/_local/apigatewayv2") {
          response.writeHead(200, { "content-type": "application/json" });
          response.end(JSON.stringify({ apis: gateways.list() }, null, 2));
          return true;
        }
        if (request.method === "GET" && request.url === "/_local/ecs/traffic") {
          response.writeHead(200, { "content-type": "application/json" });
          response.end(JSON.stringify({ services: ecs.trafficView() }, null, 2));
          return true;
        }
        if (request.method !== "GET" || request.url !== "/_local/service-connect") return false;
        const body = JSON.stringify({ aliases: ecs.serviceConnect.list() }, null, 2);
        response.writeHead(200, { "content-type": "application/json" });
        response.end(body);
        return true;
      },
    ],
    onInternalError: (error) => options.log?.(`internal error: ${(error as Error).stack ?? error}`),
  });
  builds.endpointUrl = awsEndpoint.url;
  ecs.options.awsEndpointUrl = awsEndpoint.url;
  stepFunctions.connect(awsEndpoint.url);
  // Rules deliver as EventBridge does: an asynchronous Lambda invocation through the Lambda
  // endpoint. Functions whose handlers are not written yet are skipped.
  const lambda = new LambdaClient({
    endpoint: awsEndpoint.url,
    region,
    credentials: { accessKeyId: "berth-local", secretAccessKey: "berth-local" },
  });
  const invokeEvent = (targetArn: string, payload: unknown) =>
    lambda.send(
      new InvokeCommand({
        FunctionName: targetArn,
        InvocationType: "Event",
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
    );
  const router = new EventRouter({
    bus,
    rules,
    deliver: async (targetArn, payload) => {
      const target = functions.resolve(targetArn);
      if (!target || !functions.isDeployed(target.name)) return;
      await invokeEvent(targetArn, payload);
    },
    onError: (error) => options.log?.(`eventbridge: ${error}`),
    ...(options.timedSchedules === false ? { timedSchedules: false } : {}),
  });
  deliverScheduled = async (targetArn, input) => {
    const target = functions.resolve(targetArn);
    if (!target || !functions.isDeployed(target.name)) {
      throw new Error(`scheduler: the target ${targetArn} is not a deployed function`);
    }
    await invokeEvent(targetArn, input);
  };
  // The cluster the installation runs services in, created as the infrastructure creates it on AWS.
  const ecsClient = new ECSClient({
    endpoint: awsEndpoint.url,
    region,
    credentials: { accessKeyId: "berth-local", secretAccessKey: "berth-local" },
  });
  const capacityProviders = [...FARGATE_PROVIDERS, LOCAL_EC2_CAPACITY_PROVIDER];
  await ecsClient.send(new CreateClusterCommand({ clusterName: installation.cluster, capacityProviders }));
  ecsClient.destroy();
  // A cluster saved before Berth Local had EC2 capacity gets its provider, as an infrastructure
  // update would associate it on AWS.
  const cluster = ecs.findCluster(installation.cluster);
  if (cluster && !cluster.capacityProviders.includes(LOCAL_EC2_CAPACITY_PROVIDER)) {
    cluster.capacityProviders = [...new Set([...cluster.capacityProviders, ...capacityProviders])];
    ecs.save();
  }
  await ecs.start();
  scaler.start();
  router.start();
  if (options.timedSchedules !== false) scheduler.start();
  const api =
    options.apiPort === undefined
      ? undefined
      : await startApiHost({
          dataDir,
          port: options.apiPort,
          awsEndpointUrl: awsEndpoint.url,
          account,
          region,
          ...(options.adminToken ? { adminToken: options.adminToken } : {}),
          ...(options.consoleDir ? { consoleDir: options.consoleDir } : {}),
          log: options.log ?? (() => {}),
        });
  // Executions the last run left RUNNING end now: their status changes go through the rules to
  // functions that need the API host's store, so this comes after both.
  // The one rule: the control plane's functions run in this process and reach Berth Local
  // through the standard endpoint variables, as they reach AWS. Set before anything can invoke
  // them (recovery below publishes events their rules deliver); an operator's values win.
  // What this instance set, it unsets on close: a later instance in the same process (tests)
  // must not inherit a closed endpoint.
  const setHere: string[] = [];
  const setUnlessSet = (name: string, value: string) => {
    if (process.env[name] !== undefined) return;
    process.env[name] = value;
    setHere.push(name);
  };
  setUnlessSet("AWS_ENDPOINT_URL", awsEndpoint.url);
  if (api) setUnlessSet("AWS_ENDPOINT_URL_DYNAMODB", api.dynamoEndpointUrl);
  setUnlessSet("AWS_REGION", region);
  setUnlessSet("AWS_ACCESS_KEY_ID", "berth-local");
  setUnlessSet("AWS_SECRET_ACCESS_KEY", "berth-local");
  await stepFunctions.recover();
  let closed = false;
  return {
    awsEndpoint,
    ...(api ? { api } : {}),
    ecs,
    logs,
    secrets,
    bus,
    scheduler,
    dataDir,
    async close() {
      if (closed) return;
      closed = true;
      try {
        scaler.stop();
        router.stop();
        scheduler.stop();
        await stepFunctions.close();
        lambda.destroy();
        await api?.close();
        await awsEndpoint.close();
        await gateways.close();
        await balancers.close();
      } finally {
        // Whatever failed above, no task process outlives Berth Local.
        await ecs.shutdown();
        await builds.shutdown();
        logs.close();
        for (const name of setHere) delete process.env[name];
      }
    },
  };
}
