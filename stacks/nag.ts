import type { IConstruct } from "constructs";

/** One cdk-nag rule that does not apply to a resource, and why. */
export interface Suppression {
  id: string;
  reason: string;
  /** Limits the suppression to these findings of the rule (`Resource::…`, `Action::…`). */
  appliesTo?: (string | { regex: string })[];
}

interface CfnResourceLike extends IConstruct {
  cfnResourceType: string;
  addMetadata(key: string, value: unknown): void;
  getMetadata(key: string): unknown;
}

function isCfnResource(construct: IConstruct): construct is CfnResourceLike {
  const candidate = construct as Partial<CfnResourceLike>;
  return typeof candidate.cfnResourceType === "string" && typeof candidate.addMetadata === "function";
}

/**
 * Records suppressions on every CloudFormation resource under `scope`, in the `cdk_nag`
 * metadata cdk-nag reads. Written by hand rather than with `NagSuppressions` because SST's
 * own constructs come from its own copy of aws-cdk-lib, whose resources cdk-nag's `instanceof`
 * checks do not recognise; and because the checks run on the synthesized templates, where
 * only this metadata survives.
 */
export function suppress(scope: IConstruct, suppressions: Suppression[]): void {
  for (const suppression of suppressions) {
    if (suppression.reason.trim().length < 10)
      throw new Error(`suppression of ${suppression.id} needs a reason`);
  }
  for (const construct of scope.node.findAll()) {
    if (!isCfnResource(construct)) continue;
    const existing = (construct.getMetadata("cdk_nag") as { rules_to_suppress?: unknown[] } | undefined)
      ?.rules_to_suppress;
    construct.addMetadata("cdk_nag", {
      rules_to_suppress: [
        ...(existing ?? []),
        ...suppressions.map(({ id, reason, appliesTo }) => ({
          id,
          reason,
          ...(appliesTo ? { applies_to: appliesTo } : {}),
        })),
      ],
    });
  }
}

/**
 * CDK's own provider functions (the bucket emptier of `autoDeleteObjects`, BucketDeployment's
 * uploader) come with CDK's choices of policy and runtime; these are the findings about them.
 */
export function suppressCdkProviders(scope: IConstruct): void {
  for (const child of scope.node.children) {
    if (!/^Custom::(S3AutoDeleteObjects|CDKBucketDeployment)/.test(child.node.id)) continue;
    suppress(child, [
      {
        id: "AwsSolutions-IAM4",
        reason:
          "CDK's provider functions use the AWS managed basic execution policy, which only writes their logs",
      },
      {
        id: "AwsSolutions-IAM5",
        reason:
          "CDK's BucketDeployment copies from its staging bucket to the site bucket, object keys unknown in advance",
      },
      {
        id: "AwsSolutions-L1",
        reason: "The runtime of a CDK provider function is chosen by the CDK release",
      },
    ]);
  }
}
