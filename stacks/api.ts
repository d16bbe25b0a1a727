import { FUNCTIONS } from "@berth/core/functions";
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as apigateway from "aws-cdk-lib/aws-apigateway";
import * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as s3deploy from "aws-cdk-lib/aws-s3-deployment";
import { dependsOn, type StackContext, use } from "sst/constructs/FunctionalStack.js";
import { Console, settleBucketDeployments } from "./console.ts";
import { Functions } from "./functions.ts";
import { suppress } from "./nag.ts";
import { functionArn, namesFor } from "./names.ts";
import { settingsOf } from "./settings.ts";

/**
 * The HTTP API: every request goes to the manifest's `http-api` function, which routes and
 * authenticates it itself (bearer tokens; see packages/functions/src/api).
 */
export function Api({ stack, app }: StackContext) {
  const settings = settingsOf(app);
  const names = namesFor(app.stage);
  const { consoleUrl, bucket: consoleBucket, distribution } = use(Console);
  dependsOn(Functions);

  const handlers = FUNCTIONS.filter((definition) =>
    definition.triggers.some((trigger) => trigger.kind === "http-api"),
  );
  const [handler] = handlers;
  if (handlers.length !== 1 || handler === undefined) {
    throw new Error(`the API needs exactly one http-api function; the manifest has ${handlers.length}`);
  }
  // Imported by name, so the invoke permission is created here, next to the API it names.
  const fn = lambda.Function.fromFunctionAttributes(stack, "HandlerFunction", {
    functionArn: functionArn(stack, names, handler.name),
    sameEnvironment: true,
  });

  const api = new apigwv2.HttpApi(stack, "Api", {
    apiName: `berth-${app.stage}`,
    description: `Berth ${app.stage}: stacks, services, deployments, tokens`,
    defaultIntegration: new HttpLambdaIntegration("Handler", fn, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    }),
    corsPreflight: {
      allowOrigins: [consoleUrl, ...settings.api.extraOrigins],
      allowMethods: [
        apigwv2.CorsHttpMethod.GET,
        apigwv2.CorsHttpMethod.POST,
        apigwv2.CorsHttpMethod.PUT,
        apigwv2.CorsHttpMethod.PATCH,
        apigwv2.CorsHttpMethod.DELETE,
      ],
      allowHeaders: ["authorization", "content-type", "idempotency-key", "if-none-match"],
      exposeHeaders: ["etag", "idempotency-replayed", "retry-after", "x-request-id", "www-authenticate"],
      maxAge: Duration.hours(1),
    },
    // The default stage is created below, where throttling and access logs can be set.
    createDefaultStage: false,
  });

  const accessLogs = new logs.LogGroup(stack, "AccessLogs", {
    retention: settings.logRetentionDays,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  new apigwv2.HttpStage(stack, "DefaultStage", {
    httpApi: api,
    stageName: "$default",
    autoDeploy: true,
    throttle: { rateLimit: settings.api.rateLimit, burstLimit: settings.api.burstLimit },
    accessLogSettings: {
      destination: new apigwv2.LogGroupLogDestination(accessLogs),
      format: apigateway.AccessLogFormat.custom(
        JSON.stringify({
          requestId: "$context.requestId",
          ip: "$context.identity.sourceIp",
          requestTime: "$context.requestTime",
          method: "$context.httpMethod",
          path: "$context.path",
          status: "$context.status",
          latency: "$context.responseLatency",
          integrationError: "$context.integrationErrorMessage",
        }),
      ),
    },
  });

  suppress(api, [
    {
      id: "AwsSolutions-APIG4",
      reason:
        "The API function authenticates every route itself (Berth bearer tokens with scopes); an API Gateway authorizer would duplicate it",
    },
  ]);

  // The console is served from its own origin: this tells it where the API is.
  new s3deploy.BucketDeployment(stack, "ConsoleConfig", {
    destinationBucket: consoleBucket,
    sources: [s3deploy.Source.jsonData("config.json", { apiUrl: api.apiEndpoint })],
    distribution,
    distributionPaths: ["/config.json"],
    prune: false,
    memoryLimit: 256,
  });
  settleBucketDeployments(stack);

  stack.addOutputs({ ApiUrl: api.apiEndpoint });
  return { api, apiUrl: api.apiEndpoint };
}
