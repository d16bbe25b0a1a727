import { randomUUID } from "node:crypto";
import { ApiError } from "../errors.ts";
import { defineRoute, reply } from "../route.ts";
import { CreatedSource, NoQuery } from "../schemas.ts";

/** Long enough to pack and send a large directory on a slow link, short enough that a leaked URL soon dies. */
const UPLOAD_EXPIRY_SECONDS = 15 * 60;
const CONTENT_TYPE = "application/gzip";

const createSource = defineRoute({
  method: "POST",
  path: "/v1/sources",
  operationId: "createSource",
  summary: "Get a URL to upload a build source to, and the `source` to apply a stack with",
  description:
    "The source is a gzipped tar of the stack file's directory. Send it with the given method and " +
    "headers to `upload.url` within 15 minutes, then apply the stack with `?source=<source>`. An " +
    "installation that keeps no uploaded sources (Berth Local, which builds from `file://` " +
    "directories) answers 409 `SOURCES_UNSUPPORTED`.",
  access: "deploy",
  query: NoQuery,
  responses: { 201: { description: "Where to upload the source", schema: CreatedSource } },
  // Each call reserves a fresh object; a replayed answer would hand out a URL that may have expired.
  usesIdempotencyKey: () => false,
  async handle({ context }) {
    const { sources, clock } = context.dependencies;
    if (!sources) {
      throw new ApiError(
        "SOURCES_UNSUPPORTED",
        "this installation keeps no uploaded sources: Berth Local builds from file:// directories on its own machine",
      );
    }
    const key = `sources/${randomUUID()}.tar.gz`;
    const signedAt = clock();
    // S3's packages are imported on the first upload only (see ApiDependencies.sources).
    const [{ PutObjectCommand }, { getSignedUrl }, client] = await Promise.all([
      import("@aws-sdk/client-s3"),
      import("@aws-sdk/s3-request-presigner"),
      sources.client(),
    ]);
    const url = await getSignedUrl(
      client,
      new PutObjectCommand({ Bucket: sources.bucket, Key: key, ContentType: CONTENT_TYPE }),
      { expiresIn: UPLOAD_EXPIRY_SECONDS, signingDate: signedAt },
    );
    return reply(201, CreatedSource, {
      source: `s3://${sources.bucket}/${key}`,
      upload: { url, method: "PUT", headers: { "content-type": CONTENT_TYPE } },
      expiresAt: new Date(signedAt.getTime() + UPLOAD_EXPIRY_SECONDS * 1000).toISOString(),
    });
  },
});

export const sourceRoutes = [createSource];
