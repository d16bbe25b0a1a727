import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import * as codebuild from "aws-cdk-lib/aws-codebuild";
import * as ecr from "aws-cdk-lib/aws-ecr";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import * as s3 from "aws-cdk-lib/aws-s3";
import type { StackContext } from "sst/constructs/FunctionalStack.js";
import { suppress, suppressCdkProviders } from "./nag.ts";
import { namesFor, registryHost } from "./names.ts";
import { settingsOf } from "./settings.ts";

/** Every repository Berth builds into is `berth/<stack>/<resource>` (render's `repositoryName`). */
const REPOSITORY_PREFIX = "berth";

/**
 * Which images ECR may delete on its own. Only untagged images, and only after some days:
 * every build pushes a tag of its own (`build-<n>`, or the tag the deployment asked for) and
 * never moves it, so an image a task definition was registered with keeps a tag and is never
 * a candidate; what turns untagged is a superseded build cache or an image whose tag a later
 * build took over. A rule that counts tagged images ("keep the last N") is deliberately absent:
 * it could delete the digest a live or last-good task definition still uses, and then a scale-out
 * or a rollback could not pull its image.
 */
function repositoryLifecyclePolicy(untaggedExpiryDays: number): string {
  return JSON.stringify({
    rules: [
      {
        rulePriority: 1,
        description: `Untagged images (superseded caches, images whose tag moved) after ${untaggedExpiryDays} days`,
        selection: {
          tagStatus: "untagged",
          countType: "sinceImagePushed",
          countUnit: "days",
          countNumber: untaggedExpiryDays,
        },
        action: { type: "expire" },
      },
    ],
  });
}

/**
 * Where images come from: the ECR settings for the repositories the builds create under
 * `berth/`, the bucket the control plane uploads build sources to, and the CodeBuild project
 * that builds them.
 */
export function Registry({ stack, app }: StackContext) {
  const settings = settingsOf(app);
  const names = namesFor(app.stage);

  if (settings.registry.owner) {
    // Repositories do not exist before the first build pushes to them: ECR creates them on
    // push, with these settings, when the pusher may ecr:CreateRepository (the builder may).
    new ecr.CfnRepositoryCreationTemplate(stack, "RepositoryTemplate", {
      prefix: REPOSITORY_PREFIX,
      description: "Berth: repositories of built images, created on the first push",
      appliedFor: ["CREATE_ON_PUSH"],
      // Builds push `build-<n>` tags and a `buildcache` tag that every build moves.
      imageTagMutability: "MUTABLE",
      encryptionConfiguration: { encryptionType: "AES256" },
      lifecyclePolicy: repositoryLifecyclePolicy(settings.registry.untaggedImageExpiryDays),
    });
    // The creation template cannot carry scanning settings: scanning is the registry's.
    new ecr.CfnRegistryScanningConfiguration(stack, "ScanOnPush", {
      scanType: "BASIC",
      rules: [
        {
          scanFrequency: "SCAN_ON_PUSH",
          repositoryFilters: [{ filter: `${REPOSITORY_PREFIX}/*`, filterType: "WILDCARD" }],
        },
      ],
    });
  }

  const sources = new s3.Bucket(stack, "BuildSources", {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    lifecycleRules: [
      {
        id: "transient-sources",
        expiration: Duration.days(settings.builder.sourceExpiryDays),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      },
    ],
    removalPolicy: settings.dev ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    autoDeleteObjects: settings.dev,
  });
  suppress(sources, [
    {
      id: "AwsSolutions-S1",
      reason:
        "Build sources are transient inputs (expired after days) that only the control plane and the builder touch; their API calls are in CloudTrail",
    },
  ]);

  const buildLogs = new logs.LogGroup(stack, "BuildLogs", {
    logGroupName: `/aws/codebuild/${names.builderProject}`,
    retention: settings.logRetentionDays,
    removalPolicy: RemovalPolicy.DESTROY,
  });

  const arm = settings.builder.architecture === "arm64";
  const project = new codebuild.Project(stack, "Builder", {
    projectName: names.builderProject,
    description: `Berth ${app.stage}: builds service images; every build brings its own buildspec`,
    // No source: each build is started with the source location (BERTH_SOURCE) and the buildspec
    // of the service it builds. This one only answers a build started without them.
    buildSpec: codebuild.BuildSpec.fromObject({
      version: "0.2",
      phases: {
        build: {
          commands: [
            'echo "berth: a build must be started with the buildspec of the service it builds (buildspecOverride)" >&2',
            "exit 1",
          ],
        },
      },
    }),
    environment: {
      buildImage: arm
        ? codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0
        : codebuild.LinuxBuildImage.AMAZON_LINUX_2023_5,
      // The settings name the API's values, which are the enum's values.
      computeType: settings.builder.computeType as codebuild.ComputeType,
      // Docker builds need the Docker daemon, which needs privileged mode.
      privileged: true,
    },
    // Layers stay on the build host between builds that land on it; the registry cache
    // (`--cache-from`/`--cache-to` in the buildspec) serves the others.
    cache: codebuild.Cache.local(codebuild.LocalCacheMode.DOCKER_LAYER, codebuild.LocalCacheMode.SOURCE),
    logging: { cloudWatch: { logGroup: buildLogs } },
    timeout: Duration.minutes(60),
    queuedTimeout: Duration.hours(2),
  });

  const repositories = Stack.of(stack).formatArn({
    service: "ecr",
    resource: "repository",
    resourceName: `${REPOSITORY_PREFIX}/*`,
  });
  project.addToRolePolicy(
    new iam.PolicyStatement({
      actions: [
        "ecr:CreateRepository",
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
      ],
      resources: [repositories],
    }),
  );
  // GetAuthorizationToken has no resource-level permissions: it is registry-wide by design.
  project.addToRolePolicy(
    new iam.PolicyStatement({ actions: ["ecr:GetAuthorizationToken"], resources: ["*"] }),
  );
  project.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["s3:GetObject", "s3:GetObjectVersion"],
      resources: [sources.arnForObjects("*")],
    }),
  );

  suppress(project, [
    {
      id: "AwsSolutions-CB3",
      reason:
        "Building container images needs the Docker daemon, which CodeBuild runs only in privileged mode",
    },
    {
      id: "AwsSolutions-CB4",
      reason:
        "The project stores no artifacts; its cache and logs are encrypted with AWS managed keys, a customer key would add cost and no control",
    },
    {
      id: "AwsSolutions-IAM5",
      reason:
        "Builds push to repositories created on demand under berth/ and read any uploaded source object; GetAuthorizationToken and the report groups CDK grants have no narrower resource",
      appliesTo: [
        "Resource::*",
        { regex: "/^Resource::arn:<AWS::Partition>:ecr:.*:repository/berth/\\*$/" },
        { regex: "/^Resource::<BuildSources.*\\.Arn>/\\*$/" },
        { regex: "/^Resource::arn:<AWS::Partition>:codebuild:.*:report-group/.*-\\*$/" },
        // CDK's grant on the project's log group (BuildLogs, named after the project), streams included.
        { regex: "/^Resource::arn:<AWS::Partition>:logs:.*:log-group:/aws/codebuild/<Builder.*>:\\*$/" },
      ],
    },
  ]);

  suppressCdkProviders(stack);

  stack.addOutputs({
    BuilderProject: project.projectName,
    BuildSourcesBucket: sources.bucketName,
    Registry: registryHost(stack),
  });
  return { project, sources };
}
