/**
 * One module per AWS service the control plane calls: a factory for its client, and the
 * exceptions the code acts on, turned into answers (`isNotFound`, `isAlreadyExists`, …), so no
 * AWS exception name is spelled anywhere else. The clients read their region and credentials
 * from the environment; constructing one does no I/O, so a module may build its clients when
 * it loads.
 */
export * as Acm from "./acm.ts";
export * as ApiGateway from "./apigatewayv2.ts";
export * as AutoScaling from "./application-auto-scaling.ts";
export * as AutoScalingGroups from "./auto-scaling-groups.ts";
export * as Logs from "./cloudwatch-logs.ts";
export * as DynamoDb from "./dynamodb.ts";
export * as Ecr from "./ecr.ts";
export * as Ecs from "./ecs.ts";
export * as Elb from "./elbv2.ts";
export { awsErrorName, type ClientConfig, isAwsError } from "./errors.ts";
export * as Iam from "./iam.ts";
export * as Lambda from "./lambda.ts";
export * as Route53 from "./route53.ts";
export * as Scheduler from "./scheduler.ts";
export * as SecretsManager from "./secrets-manager.ts";
export * as ServiceDiscovery from "./servicediscovery.ts";
export * as StepFunctions from "./step-functions.ts";
