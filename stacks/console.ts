import { RemovalPolicy } from "aws-cdk-lib";
import * as cloudfront from "aws-cdk-lib/aws-cloudfront";
import * as origins from "aws-cdk-lib/aws-cloudfront-origins";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as s3 from "aws-cdk-lib/aws-s3";
import * as s3deploy from "aws-cdk-lib/aws-s3-deployment";
import type { StackContext } from "sst/constructs/FunctionalStack.js";
import { suppress, suppressCdkProviders } from "./nag.ts";

/**
 * Until `packages/web` exists, the console is this page: it tells whoever opens the console
 * URL where the API is documented instead of answering with an S3 error.
 */
export const PLACEHOLDER_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Berth</title></head>
<body>
<h1>Berth</h1>
<p>The web console is not part of this installation yet. Use the <code>berth</code> CLI or the HTTP API
(its URL is the <code>ApiUrl</code> output of the installation; <code>GET /v1/openapi.json</code> describes it).</p>
</body>
</html>
`;

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
      responseHeadersPolicy: cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
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

  new s3deploy.BucketDeployment(stack, "Placeholder", {
    destinationBucket: bucket,
    sources: [s3deploy.Source.data("index.html", PLACEHOLDER_PAGE)],
    distribution,
    distributionPaths: ["/*"],
    // The console build will replace the placeholder; deploying the stack must not delete it.
    prune: false,
    memoryLimit: 256,
  });

  // Some CDK releases run the upload on python3.11, which Lambda no longer accepts for new
  // functions (creation disabled 2026-07-31); the AWS CLI v1 in its layer supports 3.13, so the
  // runtime is pinned whatever the release chose.
  for (const child of stack.node.findAll()) {
    if (child instanceof lambda.CfnFunction && String(child.runtime).startsWith("python3.")) {
      child.runtime = lambda.Runtime.PYTHON_3_13.name;
    }
  }

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
  suppressCdkProviders(stack);

  const consoleUrl = `https://${distribution.distributionDomainName}`;
  stack.addOutputs({ ConsoleUrl: consoleUrl, ConsoleBucket: bucket.bucketName });
  return { consoleUrl, bucket, distribution };
}
