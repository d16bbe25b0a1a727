import type { ACMClient } from "@aws-sdk/client-acm";
import type { ApiGatewayV2Client } from "@aws-sdk/client-apigatewayv2";
import type { ApplicationAutoScalingClient } from "@aws-sdk/client-application-auto-scaling";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { ECRClient } from "@aws-sdk/client-ecr";
import type { ECSClient } from "@aws-sdk/client-ecs";
import type { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import type { IAMClient } from "@aws-sdk/client-iam";
import type { Route53Client } from "@aws-sdk/client-route-53";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import type { SFNClient } from "@aws-sdk/client-sfn";
import type { Settings } from "../../config.ts";
import type { Store } from "../../store/index.ts";

/** What the installation tells the steps, read by the one configuration module. */
export type { Settings } from "../../config.ts";

/** The AWS clients the steps use; each step is given only those its function may call. */
export interface Clients {
  ecs: Pick<ECSClient, "send">;
  logs: Pick<CloudWatchLogsClient, "send">;
  iam: Pick<IAMClient, "send">;
  autoscaling: Pick<ApplicationAutoScalingClient, "send">;
  secrets: Pick<SecretsManagerClient, "send">;
  ecr: Pick<ECRClient, "send">;
  sfn: Pick<SFNClient, "send">;
  apiGateway: Pick<ApiGatewayV2Client, "send">;
  serviceDiscovery: Pick<ServiceDiscoveryClient, "send">;
  elb: Pick<ElasticLoadBalancingV2Client, "send">;
  /** Custom domains' certificates and DNS; needed where the installation looks them up. */
  acm?: Pick<ACMClient, "send">;
  route53?: Pick<Route53Client, "send">;
}

export interface StepContext {
  store: Store;
  clients: Clients;
  settings: Settings;
}
