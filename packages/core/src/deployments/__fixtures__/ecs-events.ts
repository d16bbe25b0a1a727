// EventBridge events as ECS sends them about a service a wait record follows: for tests of the
// ECS event handler, in core and across packages.
import type * as WaitRecord from "../../store/wait-record.ts";

const ARN = "arn:aws:ecs:us-east-1:000000000000";

/** ECS finished rolling out the wait's service (SERVICE_DEPLOYMENT_COMPLETED). */
export function deploymentCompleted(wait: WaitRecord.Info, ecsDeploymentId = "ecs-svc/1") {
  return {
    source: "aws.ecs",
    "detail-type": "ECS Deployment State Change",
    resources: [`${ARN}:service/berth/${wait.ecsService}`],
    detail: { eventName: "SERVICE_DEPLOYMENT_COMPLETED", deploymentId: ecsDeploymentId },
  };
}

/** ECS failed an ECS deployment of the wait's service (SERVICE_DEPLOYMENT_FAILED), with its reason. */
export function deploymentFailed(wait: WaitRecord.Info, reason: string, ecsDeploymentId = "ecs-svc/1") {
  return {
    source: "aws.ecs",
    "detail-type": "ECS Deployment State Change",
    resources: [`${ARN}:service/berth/${wait.ecsService}`],
    detail: {
      eventType: "ERROR",
      eventName: "SERVICE_DEPLOYMENT_FAILED",
      deploymentId: ecsDeploymentId,
      reason,
    },
  };
}

/** A task of the wait's revision stopped because its essential container exited; `detail` overrides. */
export function taskStopped(wait: WaitRecord.Info, task: string, overrides: Record<string, unknown> = {}) {
  return {
    source: "aws.ecs",
    "detail-type": "ECS Task State Change",
    resources: [`${ARN}:task/berth/${task}`],
    detail: {
      taskArn: `${ARN}:task/berth/${task}`,
      clusterArn: `${ARN}:cluster/berth`,
      taskDefinitionArn: wait.taskDefinitionArn,
      group: `service:${wait.ecsService}`,
      lastStatus: "STOPPED",
      stopCode: "EssentialContainerExited",
      stoppedReason: "Essential container in task exited",
      containers: [{ name: "api", exitCode: 3 }],
      ...overrides,
    },
  };
}
