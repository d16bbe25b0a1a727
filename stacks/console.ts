import { existsSync } from "node:fs";
import { join } from "node:path";
import { CONSOLE_DIST } from "@berth/web/build";
import { Duration, RemovalPolicy, type Stack } from "aws-cdk-lib";
import * as cloudfront from "aws-cdk-lib/aws-cloudfront";
import * as origins from "aws-cdk-lib/aws-cloudfront-origins";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as s3 from "aws-cdk-lib/aws-s3";
import * as s3deploy from "aws-cdk-lib/aws-s3-deployment";
import type { StackContext } from "sst/constructs/FunctionalStack.js";
import { suppress, suppressCdkProviders } from "./nag.ts";
import { settingsOf } from "./settings.ts";

/**
 * The console's build (packages/web/dist: `npm ci` builds it, `npm run synth` builds it when
 * stale). Deploying without it would upload nothing useful, so its absence stops the synth.
 */
function consoleBuild(): string {
  if (!existsSync(join(CONSOLE_DIST, "index.html"))) {
    throw new Error(
      `the console is not built (${CONSOLE_DIST} has no index.html): run \`npm run build -w @berth/web\` (npm ci builds it)`,
    );
  }
  return CONSOLE_DIST;
}

/**
 * The headers the console is served with: scripts and styles from its own origin only (the build
 * has no inline script), API calls to API Gateway's domain in the region or the API origins a
 * stage names, and no framing.
 */
function securityHeaders(stack: Stack, apiOrigins: string[]): cloudfront.ResponseHeadersPolicyProps {
  const connect = ["'self'", `https://*.execute-api.${stack.region}.amazonaws.com`, ...apiOrigins];
  return {
    comment: "Berth console: CSP without inline script, no framing",
    securityHeadersBehavior: {
      contentSecurityPolicy: {
        override: true,
        contentSecurityPolicy: [
          "default-src 'none'",
          "script-src 'self'",
          "style-src 'self'",
          "img-src 'self' data:",
          `connect-src ${connect.join(" ")}`,
          "base-uri 'none'",
          "form-action 'self'",
          "frame-ancestors 'none'",
        ].join("; "),
      },
      contentTypeOptions: { override: true },
      frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
      referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      strictTransportSecurity: {
        accessControlMaxAge: Duration.days(365),
        includeSubdomains: true,
        override: true,
      },
    },
  };
}

/**
 * CDK's BucketDeployment functions, made acceptable wherever one is used: some CDK releases run
 * the upload on python3.11, which Lambda no longer accepts for new functions (creation disabled
 * 2026-07-31); the AWS CLI v1 in its layer supports 3.13, so the runtime is pinned whatever the
 * release chose. Then the provider's findings are suppressed with their reasons.
 */
export function settleBucketDeployments(stack: Stack): void {
  for (const child of stack.node.findAll()) {
    if (child instanceof lambda.CfnFunction && String(child.runtime).startsWith("python3.")) {
      child.runtime = lambda.Runtime.PYTHON_3_13.name;
    }
  }
  suppressCdkProviders(stack);
}

/**
 * The console: a private bucket served by CloudFront (origin access control), answering every
 * path with index.html as a single-page app needs.
 */
export function Console({ stack, app }: StackContext) {
  const bucket = new s3.Bucket(stack, "Site", {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    // The site is a build output: it can always be uploaded again.
    removalPolicy: RemovalPolicy.DESTROY,
    autoDeleteObjects: true,
  });

  const distribution = new cloudfront.Distribution(stack, "Distribution", {
    comment: `Berth ${app.stage} console`,
    defaultRootObject: "index.html",
    defaultBehavior: {
      origin: origins.S3BucketOrigin.withOriginAccessControl(bucket),
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
      responseHeadersPolicy: new cloudfront.ResponseHeadersPolicy(
        stack,
        "SecurityHeaders",
        securityHeaders(stack, settingsOf(app).console.apiOrigins),
      ),
      cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
    },
    // Client-side routes: S3 knows no such key (403 through OAC); the app resolves them.
    errorResponses: [403, 404].map((httpStatus) => ({
      httpStatus,
      responseHttpStatus: 200,
      responsePagePath: "/index.html",
    })),
    priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
    httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
    minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
  });

  // The build, hashed assets and all; config.json (where the API is) is written by the Api stack.
  new s3deploy.BucketDeployment(stack, "Upload", {
    destinationBucket: bucket,
    sources: [s3deploy.Source.asset(consoleBuild())],
    distribution,
    distributionPaths: ["/*"],
    exclude: ["config.json"],
    // Old hashed assets stay a while for tabs still open on the previous build.
    prune: false,
    memoryLimit: 256,
  });
  settleBucketDeployments(stack);

  suppress(bucket, [
    {
      id: "AwsSolutions-S1",
      reason:
        "The bucket holds the public console build and is read only by CloudFront; requests are seen there",
    },
  ]);
  suppress(distribution, [
    {
      id: "AwsSolutions-CFR1",
      reason:
        "The console is a static app for the installation's own users, wherever they are; the API authenticates",
    },
    {
      id: "AwsSolutions-CFR2",
      reason:
        "No WAF: the distribution serves static files only (a web ACL costs more than the console); the API has its own throttling",
    },
    {
      id: "AwsSolutions-CFR3",
      reason: "Access logs of a static console would record only page loads; the API logs every request",
    },
    {
      id: "AwsSolutions-CFR4",
      reason:
        "The default *.cloudfront.net certificate cannot pin a minimum TLS version; with a custom domain the TLS 1.2 policy set here applies",
    },
  ]);
  const consoleUrl = `https://${distribution.distributionDomainName}`;
  stack.addOutputs({ ConsoleUrl: consoleUrl, ConsoleBucket: bucket.bucketName });
  return { consoleUrl, bucket, distribution };
}
