import {
  FUNCTIONS,
  type FunctionDefinition,
  findFunction,
  type PermissionPlaceholder,
} from "@berth/core/functions";
import { TTL_ATTRIBUTE, tableDefinition } from "@berth/core/store";
import { Workflows } from "@berth/core/workflows";
import { beforeAll, describe, expect, it } from "vitest";
import { environmentOf, stateMachineVariable } from "./environment.ts";
import { OFFLINE_ACCOUNT, OFFLINE_REGION, synthesizeOffline, type Template } from "./offline.ts";
import { grantedPermissions, statementOf } from "./placeholders.ts";
import { allStatements, normalizeStatement, Templates } from "./testing.ts";

// What the stacks must produce for stage "test", written out here rather than taken from the
// stacks' own helpers, so a naming slip there shows up as a failure here.
const STAGE = "test";
const PREFIX = "berth-test-";
const CLUSTER = "berth-test";
const BUILDER = "berth-test-builder";
const EXECUTION_ROLE = "berth-test-task-execution";
const BOUNDARY_ARN = `arn:aws:iam::${OFFLINE_ACCOUNT}:policy/berth/berth-test-task-boundary`;
const TASK_ROLE_PATH = "/berth/test/";
const functionArn = (name: string) =>
  `arn:aws:lambda:${OFFLINE_REGION}:${OFFLINE_ACCOUNT}:function:${PREFIX}${name}`;
const stateMachineArn = (name: string) =>
  `arn:aws:states:${OFFLINE_REGION}:${OFFLINE_ACCOUNT}:stateMachine:${PREFIX}${name}`;

let templates: Templates;

beforeAll(async () => {
  const synthesis = await synthesizeOffline({
    stage: STAGE,
    settings: { ec2: { instanceTypes: ["m7g.large", "c7g.large"] } },
  });
  templates = new Templates(synthesis, STAGE);
});

function lambdaOf(name: string): Template {
  return templates.resource(
    "Functions",
    "AWS::Lambda::Function",
    (fn) => fn.FunctionName === `${PREFIX}${name}`,
  );
}

/** The build-source bucket, as another stack sees it. */
function sourceBucketRef(): string {
  return templates.ref(
    "Registry",
    templates.logicalId("Registry", "AWS::S3::Bucket", () => true),
  );
}

function ingressNamespaceId(): string {
  const id = templates.logicalId("Cluster", "AWS::ServiceDiscovery::PrivateDnsNamespace", () => true);
  return `<GetAtt ${templates.stackName("Cluster")}.${id}.Id>`;
}

/** The load balancers' security group, as another stack sees it. */
function loadBalancerSecurityGroup(): string {
  const id = templates.logicalId("Cluster", "AWS::EC2::SecurityGroup", (group) =>
    String(group.GroupDescription).includes("load balancers"),
  );
  return `<GetAtt ${templates.stackName("Cluster")}.${id}.GroupId>`;
}

/** The network load balancers' security group, as another stack sees it. */
function networkLoadBalancerSecurityGroup(): string {
  const id = templates.logicalId("Cluster", "AWS::EC2::SecurityGroup", (group) =>
    String(group.GroupDescription).includes("network balancers"),
  );
  return `<GetAtt ${templates.stackName("Cluster")}.${id}.GroupId>`;
}

/** The EC2 hosts' launch template (its id) and instance role (its name), as the Functions stack imports them. */
function launchTemplateId(): string {
  return templates.ref(
    "Cluster",
    templates.logicalId("Cluster", "AWS::EC2::LaunchTemplate", () => true),
  );
}

function hostRoleName(): string {
  const id = templates.logicalId("Cluster", "AWS::IAM::Role", (role) =>
    String(role.Description ?? "").startsWith("Berth EC2 hosts"),
  );
  return templates.ref("Cluster", id);
}

function roleOf(stack: string, roleArn: string): Template {
  const match = /^<GetAtt [^.]+\.([^.]+)\.Arn>$/.exec(roleArn);
  if (!match?.[1]) throw new Error(`not a role of the stack: ${roleArn}`);
  return templates.resolve(stack, templates.template(stack).Resources[match[1]].Properties) as Template;
}

function inlineStatements(role: Template, policyName?: string): Template[] {
  return (role.Policies ?? [])
    .filter((policy: Template) => policyName === undefined || policy.PolicyName === policyName)
    .flatMap((policy: Template) => policy.PolicyDocument.Statement);
}

describe("the SST app", () => {
  it("has one stack per concern, named from the stage", () => {
    expect([...templates.synthesis.stackNames.keys()].sort()).toEqual(
      [
        "Api",
        "Cluster",
        "Console",
        "Events",
        "Functions",
        "Iam",
        "Network",
        "Registry",
        "Store",
        "Workflows",
      ].sort(),
    );
    for (const name of templates.synthesis.templates.keys()) expect(name).toMatch(/^test-berth-[A-Z][a-z]+$/);
  });
});

describe("store", () => {
  it("is the store's own table definition: keys, indexes, on demand, PITR, TTL, protected", () => {
    const table = templates.resource("Store", "AWS::DynamoDB::Table");
    const definition = tableDefinition("unused").createTable;
    expect(table.KeySchema).toEqual(definition.KeySchema);
    expect(table.KeySchema).toEqual([
      { AttributeName: "PK", KeyType: "HASH" },
      { AttributeName: "SK", KeyType: "RANGE" },
    ]);
    expect(new Set(table.AttributeDefinitions)).toEqual(new Set(definition.AttributeDefinitions));
    const indexes = table.GlobalSecondaryIndexes.map((index: Template) => ({
      IndexName: index.IndexName,
      KeySchema: index.KeySchema,
      Projection: index.Projection,
    }));
    expect(indexes).toEqual(definition.GlobalSecondaryIndexes);
    expect(
      indexes.map((index: Template) => index.KeySchema.map((key: Template) => key.AttributeName)),
    ).toEqual([
      ["GSI1PK", "GSI1SK"],
      ["GSI2PK", "GSI2SK"],
    ]);
    expect(table.BillingMode).toBe("PAY_PER_REQUEST");
    expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: TTL_ATTRIBUTE, Enabled: true });
    expect(TTL_ATTRIBUTE).toBe("expiresAt");
    expect(table.DeletionProtectionEnabled).toBe(true);
    const [resource] = Object.values<Template>(templates.template("Store").Resources).filter(
      (candidate) => candidate.Type === "AWS::DynamoDB::Table",
    );
    expect(resource?.DeletionPolicy).toBe("Retain");
  });
});

describe("functions", () => {
  it("creates every manifest function: Node 22 on arm64, its memory, timeout and handler export", () => {
    for (const definition of FUNCTIONS) {
      const fn = lambdaOf(definition.name);
      expect(fn.Runtime, definition.name).toBe("nodejs22.x");
      expect(fn.Architectures, definition.name).toEqual(["arm64"]);
      expect(fn.MemorySize, definition.name).toBe(definition.memoryMiB);
      expect(fn.Timeout, definition.name).toBe(definition.timeoutSeconds);
      expect(fn.Handler, definition.name).toBe(`index.${definition.handler.split(".").pop()}`);
    }
    expect(templates.resources("Functions", "AWS::Lambda::Function").size).toBe(FUNCTIONS.length + 1); // + SST's
  });

  it("sets exactly the variables each function names, to the installation's values", () => {
    const tableRef = templates.ref(
      "Store",
      templates.logicalId("Store", "AWS::DynamoDB::Table", () => true),
    );
    const namespace = `<GetAtt ${templates.stackName("Cluster")}.${templates.logicalId(
      "Cluster",
      "AWS::ServiceDiscovery::HttpNamespace",
      () => true,
    )}.Arn>`;
    const securityGroup = `<GetAtt ${templates.stackName("Network")}.${templates.logicalId(
      "Network",
      "AWS::EC2::SecurityGroup",
      (group) => String(group.GroupDescription).includes("every task"),
    )}.GroupId>`;
    const privateSubnets = [...templates.resources("Network", "AWS::EC2::Subnet")]
      .filter(([, subnet]) => subnet.MapPublicIpOnLaunch === false)
      .map(([id]) => templates.ref("Network", id));
    const publicSubnets = [...templates.resources("Network", "AWS::EC2::Subnet")]
      .filter(([, subnet]) => subnet.MapPublicIpOnLaunch === true)
      .map(([id]) => templates.ref("Network", id));
    const expected: Record<string, string> = {
      BERTH_TABLE_NAME: tableRef,
      BERTH_STAGE: STAGE,
      BERTH_PARTITION: "aws",
      BERTH_ACCOUNT: OFFLINE_ACCOUNT,
      BERTH_CLUSTER: CLUSTER,
      BERTH_REGISTRY: `${OFFLINE_ACCOUNT}.dkr.ecr.${OFFLINE_REGION}.amazonaws.com`,
      BERTH_EXECUTION_ROLE_ARN: `arn:aws:iam::${OFFLINE_ACCOUNT}:role/${EXECUTION_ROLE}`,
      BERTH_TASK_ROLE_PATH: TASK_ROLE_PATH,
      BERTH_PERMISSIONS_BOUNDARY_ARN: BOUNDARY_ARN,
      BERTH_SUBNETS: privateSubnets.join(","),
      BERTH_SECURITY_GROUPS: securityGroup,
      BERTH_SERVICE_CONNECT_NAMESPACE: namespace,
      BERTH_INGRESS: "{}",
      BERTH_INGRESS_MISSING: "error",
      BERTH_DOMAIN_LOOKUPS: "acm-route53",
      BERTH_VPC_LINK_ID: templates.ref(
        "Cluster",
        templates.logicalId("Cluster", "AWS::ApiGatewayV2::VpcLink", () => true),
      ),
      BERTH_INGRESS_NAMESPACE_ID: ingressNamespaceId(),
      BERTH_VPC_ID: templates.ref(
        "Network",
        templates.logicalId("Network", "AWS::EC2::VPC", () => true),
      ),
      BERTH_PUBLIC_SUBNETS: publicSubnets.join(","),
      BERTH_LB_SECURITY_GROUPS: loadBalancerSecurityGroup(),
      BERTH_NLB_SECURITY_GROUPS: networkLoadBalancerSecurityGroup(),
      BERTH_SOURCE_BUCKET: sourceBucketRef(),
      BERTH_STATE_MACHINE_PREFIX: PREFIX,
      BERTH_JOB_RUN_ROLE_ARN: `arn:aws:iam::${OFFLINE_ACCOUNT}:role/${PREFIX}job-run`,
      BERTH_DEPLOYMENT_ROLE_ARN: `arn:aws:iam::${OFFLINE_ACCOUNT}:role/${PREFIX}ecs-load-balancers`,
      BERTH_SCHEDULE_GROUP: `${PREFIX}refresh`,
      BERTH_SCHEDULER_ROLE_ARN: `arn:aws:iam::${OFFLINE_ACCOUNT}:role/${PREFIX}scheduler`,
      BERTH_SCHEDULED_REFRESH_ARN: `arn:aws:lambda:${OFFLINE_REGION}:${OFFLINE_ACCOUNT}:function:${PREFIX}scheduled-refresh`,
      // This stage has EC2 hosts (settings.ec2), so the API accepts and the steps render instanceTypes.
      BERTH_EC2_CAPACITY_PROVIDER: `${PREFIX}ec2`,
      // and the refreshes replace those hosts.
      BERTH_HOST_GROUP: `${PREFIX}hosts`,
      BERTH_HOST_LAUNCH_TEMPLATE: launchTemplateId(),
      BERTH_HOST_AMI_PARAMETER: "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
    };
    expect(privateSubnets).toHaveLength(2);
    expect(publicSubnets).toHaveLength(2);
    for (const workflow of Workflows.WORKFLOWS) {
      expected[stateMachineVariable(workflow.name)] = stateMachineArn(workflow.name);
    }
    for (const definition of FUNCTIONS) {
      const variables = lambdaOf(definition.name).Environment?.Variables ?? {};
      expect(Object.keys(variables).sort(), definition.name).toEqual([...definition.environment].sort());
      for (const name of definition.environment)
        expect(variables[name], `${definition.name} ${name}`).toBe(expected[name]);
    }
    // Every state machine a variable names exists.
    const machines = [...templates.resources("Workflows", "AWS::StepFunctions::StateMachine").values()];
    for (const definition of FUNCTIONS) {
      for (const [name, value] of Object.entries<string>(
        lambdaOf(definition.name).Environment?.Variables ?? {},
      )) {
        if (!name.endsWith("_STATE_MACHINE_ARN")) continue;
        expect(
          machines.map((machine) => stateMachineArn(machine.StateMachineName.slice(PREFIX.length))),
        ).toContain(value);
      }
    }
  });

  it("refuses a function that reads a variable the installation does not provide", () => {
    const [first] = FUNCTIONS;
    const definition = {
      ...(first as FunctionDefinition),
      environment: ["BERTH_TABLE_NAME", "BERTH_NO_SUCH_THING"],
    };
    const values = {
      tableName: "t",
      stage: "s",
      partition: "aws",
      account: "123456789012",
      cluster: "c",
      registry: "r",
      executionRoleArn: "e",
      taskRolePath: "/p/",
      permissionsBoundaryArn: "b",
      subnets: "s1",
      securityGroups: "g",
      serviceConnectNamespace: "n",
      ingress: "{}",
      vpcLinkId: "v",
      ingressNamespaceId: "ns",
      vpcId: "vpc",
      loadBalancerSecurityGroups: "lb",
      networkLoadBalancerSecurityGroups: "nlb",
      sourceBucket: "b",
      stateMachineArn: (workflow: string) => workflow,
      stateMachinePrefix: "p-",
      jobRunRoleArn: "j",
      deploymentRoleArn: "d",
      scheduleGroup: "g",
      schedulerRoleArn: "sr",
      scheduledRefreshArn: "f",
    };
    expect(() => environmentOf(definition, values)).toThrow(/BERTH_NO_SUCH_THING/);
    expect(environmentOf({ ...definition, environment: ["BERTH_TABLE_NAME"] }, values)).toEqual({
      BERTH_TABLE_NAME: "t",
    });
    // A stage without EC2 hosts leaves the capacity provider out; the function reads it as unset.
    const withCapacity = { ...definition, environment: ["BERTH_TABLE_NAME", "BERTH_EC2_CAPACITY_PROVIDER"] };
    expect(environmentOf(withCapacity, values)).toEqual({ BERTH_TABLE_NAME: "t" });
    expect(environmentOf(withCapacity, { ...values, ec2CapacityProvider: "p-ec2" })).toEqual({
      BERTH_TABLE_NAME: "t",
      BERTH_EC2_CAPACITY_PROVIDER: "p-ec2",
    });
    // Likewise the hosts a refresh replaces: all three variables, or none.
    const refresh = findFunction("weekly-refresh");
    if (!refresh) throw new Error("no weekly-refresh function");
    const hostVariables = ["BERTH_HOST_GROUP", "BERTH_HOST_LAUNCH_TEMPLATE", "BERTH_HOST_AMI_PARAMETER"];
    expect(Object.keys(environmentOf(refresh, values))).not.toEqual(
      expect.arrayContaining(["BERTH_HOST_GROUP"]),
    );
    const withHosts = environmentOf(refresh, {
      ...values,
      hostGroup: "p-hosts",
      hostLaunchTemplate: "lt-0123456789abcdef0",
      hostAmiParameter: "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    });
    for (const name of hostVariables) expect(withHosts[name], name).toBeDefined();
  });

  it("leaves the host refresh grants out where the stage has no EC2 hosts, and refuses an unknown placeholder", () => {
    const refresh = findFunction("scheduled-refresh");
    if (!refresh) throw new Error("no scheduled-refresh function");
    const base = {
      Partition: "aws",
      Region: "r",
      Account: "a",
      Table: "t",
      Cluster: "c",
      TaskRolePath: "/p/",
      ExecutionRole: "e",
      StateMachinePrefix: "p-",
      CodeBuildProject: "b",
      PermissionsBoundary: "pb",
      SourceBucket: "s",
      Stage: "st",
      IngressNamespace: "ns",
    };
    const without = grantedPermissions(refresh.permissions, base);
    const actions = without.flatMap((permission) => permission.actions);
    expect(actions).not.toContain("autoscaling:StartInstanceRefresh");
    expect(actions).not.toContain("iam:PassRole");
    expect(actions).not.toContain("ec2:CreateLaunchTemplateVersion");
    // The grants that name no host placeholder stay (the table, the workflows).
    expect(actions).toContain("dynamodb:PutItem");
    const withHosts = grantedPermissions(refresh.permissions, {
      ...base,
      HostGroup: "g",
      HostLaunchTemplate: "lt-1",
      HostRole: "h",
    });
    expect(withHosts).toHaveLength(refresh.permissions.length);
    // Only the host placeholders are optional: a permission naming another unknown one still fails.
    expect(() =>
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a manifest placeholder, not a template
      grantedPermissions([{ actions: ["s3:GetObject"], resources: ["${NoSuchThing}"] }], base).map(
        (permission) => statementOf(permission, base),
      ),
    ).toThrow(/NoSuchThing/);
  });

  it("gives each function a role with exactly its manifest permissions, placeholders filled", () => {
    const table = templates.ref(
      "Store",
      templates.logicalId("Store", "AWS::DynamoDB::Table", () => true),
    );
    const values: Record<PermissionPlaceholder, string> = {
      Partition: "aws",
      Region: OFFLINE_REGION,
      Account: OFFLINE_ACCOUNT,
      Table: table,
      Cluster: CLUSTER,
      TaskRolePath: TASK_ROLE_PATH,
      ExecutionRole: EXECUTION_ROLE,
      StateMachinePrefix: PREFIX,
      CodeBuildProject: BUILDER,
      PermissionsBoundary: BOUNDARY_ARN,
      SourceBucket: sourceBucketRef(),
      Stage: STAGE,
      IngressNamespace: ingressNamespaceId(),
      HostGroup: `${PREFIX}hosts`,
      HostLaunchTemplate: launchTemplateId(),
      HostRole: hostRoleName(),
    };
    const fill = (text: string) =>
      text.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
        const value = values[name as PermissionPlaceholder];
        if (value === undefined) throw new Error(`no test value for \${${name}}`);
        return value;
      });
    for (const definition of FUNCTIONS) {
      const role = roleOf("Functions", lambdaOf(definition.name).Role);
      const actual = inlineStatements(role, "manifest").map(normalizeStatement);
      const expected = definition.permissions.map((permission) =>
        normalizeStatement({
          Effect: "Allow",
          Action: permission.actions,
          Resource: permission.resources.map(fill),
          ...(permission.conditions
            ? {
                Condition: Object.fromEntries(
                  Object.entries(permission.conditions).map(([operator, keys]) => [
                    operator,
                    Object.fromEntries(
                      Object.entries(keys).map(([key, value]) => [
                        key,
                        Array.isArray(value) ? value.map(fill) : fill(value),
                      ]),
                    ),
                  ]),
                ),
              }
            : {}),
        }),
      );
      expect(actual, definition.name).toEqual(expected);
      // Besides the manifest: writing its own log group, nothing else.
      const others = (role.Policies ?? []).filter((policy: Template) => policy.PolicyName !== "manifest");
      expect(
        others.map((policy: Template) => policy.PolicyName),
        definition.name,
      ).toEqual(["logs"]);
      expect(role.ManagedPolicyArns ?? [], definition.name).toEqual([]);
    }
  });
});

describe("iam", () => {
  it("lets the control plane create or write task roles only with the permissions boundary attached", () => {
    const boundary = templates.resource("Iam", "AWS::IAM::ManagedPolicy");
    expect(`arn:aws:iam::${OFFLINE_ACCOUNT}:policy${boundary.Path}${boundary.ManagedPolicyName}`).toBe(
      BOUNDARY_ARN,
    );
    const roleWriting = [
      "iam:CreateRole",
      "iam:PutRolePolicy",
      "iam:AttachRolePolicy",
      "iam:PutRolePermissionsBoundary",
    ];
    let creators = 0;
    for (const { stack, statement } of allStatements(templates)) {
      const actions = normalizeStatement(statement).Action;
      if (statement.Effect !== "Allow" || !actions.some((action) => roleWriting.includes(action))) continue;
      if (stack === "Functions") creators += 1;
      expect(stack).toBe("Functions");
      const resolved = templates.resolve(stack, statement) as Template;
      expect(resolved.Condition).toEqual({ StringEquals: { "iam:PermissionsBoundary": BOUNDARY_ARN } });
      for (const resource of normalizeStatement(resolved).Resource) {
        expect(resource).toBe(`arn:aws:iam::${OFFLINE_ACCOUNT}:role${TASK_ROLE_PATH}*`);
      }
    }
    expect(creators).toBeGreaterThan(0);
  });

  it("lets stacks' refresh schedules invoke the scheduled-refresh function and nothing else", () => {
    const [role] = [...templates.resources("Iam", "AWS::IAM::Role")].filter(
      ([, properties]) => properties.RoleName === `${PREFIX}scheduler`,
    );
    expect(role).toBeDefined();
    const properties = role?.[1] as Template;
    expect(properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Action: "sts:AssumeRole",
        Principal: { Service: "scheduler.amazonaws.com" },
        Condition: { StringEquals: { "aws:SourceAccount": OFFLINE_ACCOUNT } },
      }),
    ]);
    const statements = (properties.Policies as Template[]).flatMap(
      (policy) => policy.PolicyDocument.Statement,
    );
    expect(
      statements.map((statement) => normalizeStatement(templates.resolve("Iam", statement) as Template)),
    ).toEqual([
      expect.objectContaining({
        Action: ["lambda:InvokeFunction"],
        Resource: [`arn:aws:lambda:${OFFLINE_REGION}:${OFFLINE_ACCOUNT}:function:${PREFIX}scheduled-refresh`],
      }),
    ]);
    const groups = [...templates.resources("Events", "AWS::Scheduler::ScheduleGroup")];
    expect(groups.map(([, group]) => group.Name)).toEqual([`${PREFIX}refresh`]);
  });

  it("passes only Berth's task roles, the execution role, the job run role, (to the scheduler) the scheduler role, (to EC2) the hosts' role and (to ECS) its load balancer role", () => {
    const schedulerRole = `arn:aws:iam::${OFFLINE_ACCOUNT}:role/${PREFIX}scheduler`;
    const hostRole = `arn:aws:iam::${OFFLINE_ACCOUNT}:role/${hostRoleName()}`;
    const deploymentRole = `arn:aws:iam::${OFFLINE_ACCOUNT}:role/${PREFIX}ecs-load-balancers`;
    let passingHostRole = 0;
    let passingDeploymentRole = 0;
    const allowed = [
      hostRole,
      deploymentRole,
      `arn:aws:iam::${OFFLINE_ACCOUNT}:role${TASK_ROLE_PATH}*`,
      `arn:aws:iam::${OFFLINE_ACCOUNT}:role/${EXECUTION_ROLE}`,
      `arn:aws:iam::${OFFLINE_ACCOUNT}:role/${PREFIX}job-run`,
      schedulerRole,
    ];
    let passing = 0;
    for (const { stack, id, statement } of allStatements(templates)) {
      const resolved = normalizeStatement(templates.resolve(stack, statement) as Template);
      if (resolved.Effect !== "Allow" || !resolved.Action.includes("iam:PassRole")) continue;
      passing += 1;
      expect(resolved.Action).toEqual(["iam:PassRole"]);
      // CDK's VPC flow-log role may pass itself to the flow-log service; no other role passes.
      const self = `<GetAtt ${templates.stackName(stack)}.${templates.template(stack).Resources[id].Properties.Roles?.[0]?.Ref}.Arn>`;
      for (const resource of resolved.Resource) expect([...allowed, self]).toContain(resource);
      if (resolved.Resource.includes(schedulerRole)) {
        expect(resolved.Resource).toEqual([schedulerRole]);
        expect(resolved.Condition).toEqual({
          StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" },
        });
      }
      if (resolved.Resource.includes(deploymentRole)) {
        passingDeploymentRole += 1;
        expect(resolved.Resource).toEqual([deploymentRole]);
        expect(resolved.Condition).toEqual({ StringEquals: { "iam:PassedToService": "ecs.amazonaws.com" } });
      }
      if (resolved.Resource.includes(hostRole)) {
        passingHostRole += 1;
        expect(resolved.Resource).toEqual([hostRole]);
        expect(resolved.Condition).toEqual({ StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } });
      }
    }
    expect(passing).toBeGreaterThan(0);
    // The two refresh functions, which start instance refreshes of the hosts.
    expect(passingHostRole).toBe(2);
    // Only the two steps that send CreateService and UpdateService, which name it in loadBalancers:
    // apply-service, and load-deployment, which applies a deploy that builds nothing itself.
    expect(passingDeploymentRole).toBe(2);
    const execution = templates.resource("Iam", "AWS::IAM::Role", (role) => role.RoleName === EXECUTION_ROLE);
    expect(execution.Path ?? "/").toBe("/");
  });

  it("gives ECS a role for load balancers: trusted by ECS of this account, with AWS's managed policy for them", () => {
    const role = templates.resource(
      "Iam",
      "AWS::IAM::Role",
      (candidate) => candidate.RoleName === `${PREFIX}ecs-load-balancers`,
    );
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: "sts:AssumeRole",
        Effect: "Allow",
        Principal: { Service: "ecs.amazonaws.com" },
        Condition: { StringEquals: { "aws:SourceAccount": OFFLINE_ACCOUNT } },
      },
    ]);
    expect(JSON.stringify(role.ManagedPolicyArns)).toContain(
      ":iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers",
    );
    expect(role.Policies ?? []).toEqual([]);
  });

  it("grants no * action on * anywhere; the boundary's service-wide ceilings are the only service wildcards", () => {
    for (const { stack, id, statement } of allStatements(templates)) {
      const { Action, Resource, Effect } = normalizeStatement(statement);
      expect(Action, `${stack}/${id}`).not.toContain("*");
      if (Effect === "Allow")
        expect(Action.filter((action) => action.startsWith("iam:") && action.endsWith("*"))).toEqual([]);
      const serviceWide = Action.filter((action) => action.endsWith(":*"));
      if (serviceWide.length > 0 && Effect === "Allow" && Resource.includes("*")) {
        expect(templates.template(stack).Resources[id].Type, `${stack}/${id}`).toBe(
          "AWS::IAM::ManagedPolicy",
        );
      }
    }
  });
});

describe("workflows", () => {
  it("creates every workflow as a Standard state machine whose definition is the core's, filled in", () => {
    const values: Record<string, string> = { CodeBuildProject: BUILDER, Cluster: CLUSTER };
    for (const definition of FUNCTIONS) {
      // The ARN of the function the Functions stack really created under that name.
      values[`Function:${definition.name}`] = functionArn(
        lambdaOf(definition.name).FunctionName.slice(PREFIX.length),
      );
    }
    const machines = templates.resources("Workflows", "AWS::StepFunctions::StateMachine");
    expect(machines.size).toBe(Workflows.WORKFLOWS.length);
    for (const workflow of Workflows.WORKFLOWS) {
      const machine = [...machines.values()].find(
        (candidate) => candidate.StateMachineName === `${PREFIX}${workflow.name}`,
      );
      expect(machine, workflow.name).toBeDefined();
      expect(machine?.StateMachineType).toBe("STANDARD");
      expect(JSON.parse(machine?.DefinitionString)).toEqual(
        Workflows.substitute(workflow.definition, values),
      );
      expect(machine?.LoggingConfiguration?.Level).toBe("ALL");
      expect(machine?.LoggingConfiguration?.Destinations).toHaveLength(1);
    }
  });

  it("lets each state machine invoke exactly its functions, and only deploy run builds", () => {
    for (const workflow of Workflows.WORKFLOWS) {
      const machine = templates.resource(
        "Workflows",
        "AWS::StepFunctions::StateMachine",
        (candidate) => candidate.StateMachineName === `${PREFIX}${workflow.name}`,
      );
      const policies = templates.resources("Workflows", "AWS::IAM::Policy");
      const roleId = /^<GetAtt [^.]+\.([^.]+)\.Arn>$/.exec(machine.RoleArn)?.[1];
      const statements = [...policies.values()]
        .filter((policy) => policy.Roles.includes(templates.ref("Workflows", roleId ?? "")))
        .flatMap((policy) => policy.PolicyDocument.Statement)
        .map(normalizeStatement);
      const invoked = Workflows.placeholdersOf(workflow.definition)
        .filter((name) => name.startsWith("Function:"))
        .map((name) => functionArn(name.slice("Function:".length)))
        .sort();
      expect(statements.filter((s) => s.Action.includes("lambda:InvokeFunction"))).toEqual([
        { Effect: "Allow", Action: ["lambda:InvokeFunction"], Resource: invoked },
      ]);
      const build = statements.filter((s) => s.Action.some((action) => action.startsWith("codebuild:")));
      const events = statements.filter((s) => s.Action.some((action) => action.startsWith("events:")));
      if (Workflows.placeholdersOf(workflow.definition).includes("CodeBuildProject")) {
        expect(build).toEqual([
          {
            Effect: "Allow",
            Action: ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"],
            Resource: [`arn:aws:codebuild:${OFFLINE_REGION}:${OFFLINE_ACCOUNT}:project/${BUILDER}`],
          },
        ]);
        expect(events[0]?.Resource).toEqual([
          `arn:aws:events:${OFFLINE_REGION}:${OFFLINE_ACCOUNT}:rule/StepFunctionsGetEventForCodeBuildStartBuildRule`,
        ]);
      } else {
        expect(build, workflow.name).toEqual([]);
        expect(events, workflow.name).toEqual([]);
      }
      const rest = statements.filter(
        (s) => !s.Action.some((action) => /^(lambda|codebuild|events):/.test(action)),
      );
      // What remains is CDK's log delivery grant for the logging configuration.
      for (const statement of rest) for (const action of statement.Action) expect(action).toMatch(/^logs:/);
    }
  });
});

describe("triggers", () => {
  it("routes the HTTP API's default route to the http-api function, throttled, CORS for the console", () => {
    const handlers = FUNCTIONS.filter((fn) => fn.triggers.some((trigger) => trigger.kind === "http-api"));
    expect(handlers).toHaveLength(1);
    const handler = handlers[0] as FunctionDefinition;
    const integration = templates.resource("Api", "AWS::ApiGatewayV2::Integration");
    expect(integration.IntegrationUri).toBe(functionArn(handler.name));
    expect(integration.PayloadFormatVersion).toBe("2.0");
    const route = templates.resource("Api", "AWS::ApiGatewayV2::Route");
    expect(route.RouteKey).toBe("$default");
    const stage = templates.resource("Api", "AWS::ApiGatewayV2::Stage");
    expect(stage.StageName).toBe("$default");
    expect(stage.DefaultRouteSettings).toMatchObject({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    expect(stage.AccessLogSettings?.DestinationArn).toBeDefined();
    const api = templates.resource("Api", "AWS::ApiGatewayV2::Api");
    const distribution = templates.logicalId("Console", "AWS::CloudFront::Distribution", () => true);
    expect(api.CorsConfiguration.AllowOrigins).toEqual([
      `https://<GetAtt ${templates.stackName("Console")}.${distribution}.DomainName>`,
    ]);
    expect(api.CorsConfiguration.AllowHeaders).toEqual(
      expect.arrayContaining(["authorization", "idempotency-key", "if-none-match"]),
    );
    // The console reads ETags (conditional polling) and request ids (shown with every error).
    expect(api.CorsConfiguration.ExposeHeaders).toEqual(expect.arrayContaining(["etag", "x-request-id"]));
    const permission = templates.resource("Api", "AWS::Lambda::Permission");
    expect(permission.FunctionName).toBe(functionArn(handler.name));
    expect(permission.Principal).toBe("apigateway.amazonaws.com");
  });

  it("creates a rule, targeting the function, for every eventbridge and schedule trigger", () => {
    const rules = templates.resources("Events", "AWS::Events::Rule");
    const permissions = [...templates.resources("Events", "AWS::Lambda::Permission").values()];
    let expected = 0;
    for (const definition of FUNCTIONS) {
      for (const trigger of definition.triggers) {
        if (trigger.kind !== "eventbridge" && trigger.kind !== "schedule") continue;
        expected += 1;
        const matching = [...rules].filter(([, rule]) =>
          trigger.kind === "eventbridge"
            ? JSON.stringify(rule.EventPattern) === JSON.stringify(trigger.pattern)
            : rule.ScheduleExpression === trigger.expression,
        );
        expect(matching, definition.name).toHaveLength(1);
        const [[ruleId, rule]] = matching as [[string, Template]];
        expect(rule.State).toBe("ENABLED");
        expect(rule.Targets.map((target: Template) => target.Arn)).toEqual([functionArn(definition.name)]);
        expect(permissions).toContainEqual(
          expect.objectContaining({
            FunctionName: functionArn(definition.name),
            Principal: "events.amazonaws.com",
            SourceArn: `<GetAtt ${templates.stackName("Events")}.${ruleId}.Arn>`,
          }),
        );
      }
    }
    expect(expected).toBeGreaterThan(0);
    expect(rules.size).toBe(expected);
  });

  it("gives every state-machine-task function to at least one workflow", () => {
    const invoked = new Set(
      Workflows.WORKFLOWS.flatMap((workflow) => Workflows.placeholdersOf(workflow.definition)),
    );
    for (const definition of FUNCTIONS) {
      if (!definition.triggers.some((trigger) => trigger.kind === "state-machine-task")) continue;
      expect(invoked, definition.name).toContain(`Function:${definition.name}`);
    }
  });
});

describe("cluster", () => {
  it("runs Fargate, Fargate Spot and the EC2 hosts, with a Service Connect namespace", () => {
    const cluster = templates.resource("Cluster", "AWS::ECS::Cluster");
    expect(cluster.ClusterName).toBe(CLUSTER);
    const associations = templates.resource("Cluster", "AWS::ECS::ClusterCapacityProviderAssociations");
    const ec2Provider = templates.logicalId("Cluster", "AWS::ECS::CapacityProvider", () => true);
    expect(associations.CapacityProviders).toEqual(
      expect.arrayContaining(["FARGATE", "FARGATE_SPOT", templates.ref("Cluster", ec2Provider)]),
    );
    const provider = templates.resource("Cluster", "AWS::ECS::CapacityProvider");
    expect(provider.AutoScalingGroupProvider.ManagedScaling.Status).toBe("ENABLED");
    expect(provider.AutoScalingGroupProvider.ManagedDraining).toBe("ENABLED");
    expect(cluster.ServiceConnectDefaults?.Namespace).toBeDefined();
    expect(templates.resource("Cluster", "AWS::ServiceDiscovery::HttpNamespace").Name).toBe(CLUSTER);
  });

  /** The CIDR rules (CIDR, protocol, ports) of the Cluster stack's group whose description says `what`. */
  const openRulesOf = (what: string) =>
    (
      templates.resource("Cluster", "AWS::EC2::SecurityGroup", (candidate) =>
        String(candidate.GroupDescription).includes(what),
      ).SecurityGroupIngress as Template[]
    ).map((rule) => [rule.CidrIp ?? rule.CidrIpv6, rule.IpProtocol, rule.FromPort, rule.ToPort]);

  /** A balancer group's egress rule, and the task group's ingress rule that accepts it. */
  const rulesOf = (balancers: unknown) => ({
    egress: templates.resource(
      "Cluster",
      "AWS::EC2::SecurityGroupEgress",
      (rule) => rule.GroupId === balancers,
    ),
    accepted: templates.resource(
      "Cluster",
      "AWS::EC2::SecurityGroupIngress",
      (rule) => rule.SourceSecurityGroupId === balancers,
    ),
  });

  it("gives the load balancers a group open on 80 and 443 only, reaching only the tasks, which accept it", () => {
    const balancers = loadBalancerSecurityGroup();
    const open = openRulesOf("load balancers");
    expect(open.sort()).toEqual(
      [
        ["0.0.0.0/0", "tcp", 443, 443],
        ["0.0.0.0/0", "tcp", 80, 80],
        ["::/0", "tcp", 443, 443],
        ["::/0", "tcp", 80, 80],
      ].sort(),
    );
    const egress = rulesOf(balancers).egress;
    const tasks = templates.resource("Network", "AWS::EC2::SecurityGroup", (candidate) =>
      String(candidate.GroupDescription).includes("every task"),
    );
    expect(egress.DestinationSecurityGroupId).toMatch(/^<GetAtt [^.]+\.TaskSecurityGroup/);
    expect(tasks.SecurityGroupEgress).toBeDefined();
    const accepted = rulesOf(balancers).accepted;
    expect(accepted.GroupId).toBe(egress.DestinationSecurityGroupId);
    expect([accepted.IpProtocol, accepted.FromPort, accepted.ToPort]).toEqual(["tcp", 0, 65535]);
  });

  it("gives network load balancers a group taking TCP, reaching only the tasks, which accept it", () => {
    const balancers = networkLoadBalancerSecurityGroup();
    const open = openRulesOf("network balancers");
    expect(open.sort()).toEqual(
      [
        ["0.0.0.0/0", "tcp", 0, 65535],
        ["::/0", "tcp", 0, 65535],
      ].sort(),
    );
    const egress = rulesOf(balancers).egress;
    expect(egress.DestinationSecurityGroupId).toMatch(/^<GetAtt [^.]+\.TaskSecurityGroup/);
    const accepted = rulesOf(balancers).accepted;
    expect(accepted.GroupId).toBe(egress.DestinationSecurityGroupId);
  });

  it("launches hosts on the current ECS-optimized AMI and refreshes them weekly without losing capacity", () => {
    const template = templates.resource("Cluster", "AWS::EC2::LaunchTemplate");
    expect(template.LaunchTemplateData.ImageId).toBe(
      "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
    );
    expect(template.LaunchTemplateData.MetadataOptions.HttpTokens).toBe("required");
    for (const mapping of template.LaunchTemplateData.BlockDeviceMappings)
      expect(mapping.Ebs.Encrypted).toBe(true);
    const group = templates.resource("Cluster", "AWS::AutoScaling::AutoScalingGroup");
    expect(
      group.MixedInstancesPolicy.LaunchTemplate.Overrides.map((override: Template) => override.InstanceType),
    ).toEqual(["m7g.large", "c7g.large"]);
    expect(group.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.LaunchTemplateId).toBe(
      launchTemplateId(),
    );
    // One mechanism replaces the hosts: the refresh functions (a new launch template version and
    // an instance refresh), not a schedule of the cluster's own.
    expect(templates.resources("Cluster", "AWS::Scheduler::Schedule").size).toBe(0);
    expect(group.AutoScalingGroupName).toBe(`${PREFIX}hosts`);
    // The refresh functions may change exactly these hosts: their launch template and group.
    for (const name of ["weekly-refresh", "scheduled-refresh"]) {
      const statements = inlineStatements(roleOf("Functions", lambdaOf(name).Role), "manifest").map(
        normalizeStatement,
      );
      expect(statements).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Action: ["ec2:CreateLaunchTemplateVersion", "ec2:RunInstances"].sort(),
            Resource: [
              `arn:aws:ec2:${OFFLINE_REGION}:${OFFLINE_ACCOUNT}:launch-template/${launchTemplateId()}`,
            ],
          }),
          expect.objectContaining({
            Action: ["autoscaling:StartInstanceRefresh"],
            Resource: [
              `arn:aws:autoscaling:${OFFLINE_REGION}:${OFFLINE_ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/${PREFIX}hosts`,
            ],
          }),
          expect.objectContaining({
            Action: ["ssm:GetParameter"],
            Resource: [`arn:aws:ssm:${OFFLINE_REGION}::parameter/aws/service/ecs/optimized-ami/*`],
          }),
        ]),
      );
    }
  });
});

describe("registry and builder", () => {
  it("creates berth/ repositories on push, expiring only untagged images, scanned on push", () => {
    const template = templates.resource("Registry", "AWS::ECR::RepositoryCreationTemplate");
    expect(template.Prefix).toBe("berth");
    expect(template.AppliedFor).toEqual(["CREATE_ON_PUSH"]);
    const rules = JSON.parse(template.LifecyclePolicy).rules;
    for (const rule of rules) expect(rule.selection.tagStatus).toBe("untagged");
    const scanning = templates.resource("Registry", "AWS::ECR::RegistryScanningConfiguration");
    expect(scanning.Rules).toEqual([
      { ScanFrequency: "SCAN_ON_PUSH", RepositoryFilters: [{ Filter: "berth/*", FilterType: "WILDCARD" }] },
    ]);
  });

  it("keeps build sources in an encrypted, private, TLS-only bucket that forgets them", () => {
    const bucket = templates.resource("Registry", "AWS::S3::Bucket");
    expect(
      bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm,
    ).toBe("AES256");
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.LifecycleConfiguration.Rules[0].ExpirationInDays).toBeGreaterThan(0);
    const policy = templates.resource("Registry", "AWS::S3::BucketPolicy");
    expect(policy.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
    );
  });

  it("builds in a privileged, source-less CodeBuild project named from the stage, with a layer cache", () => {
    const project = templates.resource("Registry", "AWS::CodeBuild::Project");
    expect(project.Name).toBe(BUILDER);
    expect(project.Source.Type).toBe("NO_SOURCE");
    expect(project.Environment.PrivilegedMode).toBe(true);
    expect(project.Cache).toEqual({
      Type: "LOCAL",
      Modes: ["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE"],
    });
  });

  it("lets the builder read uploaded sources (sources/*), which the API lets clients upload", () => {
    const project = templates.resource("Registry", "AWS::CodeBuild::Project");
    const builderRole = /^<GetAtt [^.]+\.([^.]+)\.Arn>$/.exec(project.ServiceRole)?.[1];
    const bucketArn = `<GetAtt ${templates.stackName("Registry")}.${templates.logicalId(
      "Registry",
      "AWS::S3::Bucket",
      () => true,
    )}.Arn>`;
    const readable = allStatements(templates)
      .filter(({ stack, id }) => {
        if (stack !== "Registry") return false;
        const roles = templates.template(stack).Resources[id].Properties.Roles ?? [];
        return roles.some((role: Template) => role.Ref === builderRole);
      })
      .map(({ statement }) => normalizeStatement(templates.resolve("Registry", statement) as Template))
      .filter((statement) => statement.Effect === "Allow" && statement.Action.includes("s3:GetObject"))
      .flatMap((statement) => statement.Resource);
    expect(readable).toContain(`${bucketArn}/*`);
    const api = roleOf("Functions", lambdaOf("api").Role);
    expect(inlineStatements(api, "manifest").map(normalizeStatement)).toContainEqual({
      Effect: "Allow",
      Action: ["s3:PutObject"],
      Resource: [`arn:aws:s3:::${sourceBucketRef()}/sources/*`],
    });
  });
});

describe("network and console", () => {
  it("creates a VPC with public and private subnets and a task security group open only to itself", () => {
    const subnets = [...templates.resources("Network", "AWS::EC2::Subnet").values()];
    expect(subnets.filter((subnet) => subnet.MapPublicIpOnLaunch === true)).toHaveLength(2);
    expect(subnets.filter((subnet) => subnet.MapPublicIpOnLaunch === false)).toHaveLength(2);
    const ingress = templates.resource("Network", "AWS::EC2::SecurityGroupIngress");
    expect(ingress.SourceSecurityGroupId).toBe(ingress.GroupId);
  });

  it("serves the console from a private bucket through CloudFront", () => {
    const distribution = templates.resource("Console", "AWS::CloudFront::Distribution");
    expect(distribution.DistributionConfig.DefaultRootObject).toBe("index.html");
    expect(distribution.DistributionConfig.DefaultCacheBehavior.ViewerProtocolPolicy).toBe(
      "redirect-to-https",
    );
    expect(templates.resources("Console", "AWS::CloudFront::OriginAccessControl").size).toBe(1);
    // No function on a runtime Lambda no longer creates (CDK's uploader defaults to python3.11).
    for (const stack of ["Console", "Api"]) {
      for (const fn of templates.resources(stack, "AWS::Lambda::Function").values()) {
        if (String(fn.Runtime).startsWith("python")) expect(fn.Runtime).toBe("python3.13");
      }
    }
  });

  it("uploads the console's build, and the API's URL beside it, served with a CSP and no framing", () => {
    const uploads = [...templates.resources("Console", "Custom::CDKBucketDeployment").values()];
    expect(uploads).toHaveLength(1);
    // The build is an asset (a zip of packages/web/dist), not an inline placeholder page.
    expect(JSON.stringify(uploads[0]?.SourceObjectKeys)).toMatch(/\.zip/);
    expect(uploads[0]?.Prune).toBe(false);
    const config = templates.resource("Api", "Custom::CDKBucketDeployment");
    // config.json's one value is the API's endpoint (a deploy-time marker in the uploaded JSON).
    expect(JSON.stringify(config.SourceMarkers)).toContain(`${templates.stackName("Api")}.`);
    expect(JSON.stringify(config.SourceMarkers)).toContain(".ApiEndpoint>");
    const policy = templates.resource("Console", "AWS::CloudFront::ResponseHeadersPolicy");
    const headers = policy.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
    const csp: string = headers.ContentSecurityPolicy.ContentSecurityPolicy;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/connect-src 'self' https:\/\/\*\.execute-api\./);
    expect(headers.FrameOptions.FrameOption).toBe("DENY");
    expect(headers.ContentTypeOptions.Override).toBe(true);
    expect(headers.ReferrerPolicy.ReferrerPolicy).toBe("no-referrer");
    const distribution = templates.resource("Console", "AWS::CloudFront::Distribution");
    expect(distribution.DistributionConfig.DefaultCacheBehavior.ResponseHeadersPolicyId).toBeDefined();
  });
});
