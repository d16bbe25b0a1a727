import { createHash, createHmac } from "node:crypto";

/**
 * Starts one execution of a Step Functions state machine (a run of a batch job) with nothing but
 * Node: the request is signed with Signature Version 4 by hand, so the example needs no npm
 * dependency. A real app would use `@aws-sdk/client-sfn` instead; the request is the same.
 *
 * Credentials come from where an AWS SDK finds them in a container: the environment (Berth Local
 * gives every task stand-in keys and its own endpoint), else the ECS task role's credentials
 * endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on AWS).
 */

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

async function credentials(): Promise<Credentials> {
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN } = process.env;
  if (AWS_ACCESS_KEY_ID && AWS_SECRET_ACCESS_KEY) {
    return {
      accessKeyId: AWS_ACCESS_KEY_ID,
      secretAccessKey: AWS_SECRET_ACCESS_KEY,
      ...(AWS_SESSION_TOKEN ? { sessionToken: AWS_SESSION_TOKEN } : {}),
    };
  }
  const relative = process.env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
  if (!relative) throw new Error("no AWS credentials: neither AWS_ACCESS_KEY_ID nor a task role is set");
  const response = await fetch(`http://169.254.170.2${relative}`);
  if (!response.ok) throw new Error(`the task role's credentials endpoint answered ${response.status}`);
  const body = (await response.json()) as { AccessKeyId: string; SecretAccessKey: string; Token: string };
  return { accessKeyId: body.AccessKeyId, secretAccessKey: body.SecretAccessKey, sessionToken: body.Token };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const hmac = (key: string | Buffer, text: string) => createHmac("sha256", key).update(text).digest();

/** Sends `StartExecution` and returns the new execution's ARN. */
export async function startExecution(stateMachineArn: string, name: string, input: unknown): Promise<string> {
  const region = stateMachineArn.split(":")[3] ?? process.env.AWS_REGION ?? "us-east-1";
  const endpoint = new URL(
    process.env.AWS_ENDPOINT_URL_SFN ??
      process.env.AWS_ENDPOINT_URL ??
      `https://states.${region}.amazonaws.com`,
  );
  const body = JSON.stringify({ stateMachineArn, name, input: JSON.stringify(input) });
  const { accessKeyId, secretAccessKey, sessionToken } = await credentials();

  const amzDate = new Date()
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {
    "content-type": "application/x-amz-json-1.0",
    host: endpoint.host,
    "x-amz-date": amzDate,
    "x-amz-target": "AWSStepFunctions.StartExecution",
    ...(sessionToken ? { "x-amz-security-token": sessionToken } : {}),
  };
  const names = Object.keys(headers).sort();
  const signedHeaders = names.join(";");
  const canonicalRequest = [
    "POST",
    "/",
    "",
    ...names.map((header) => `${header}:${headers[header]}`),
    "",
    signedHeaders,
    sha256(body),
  ].join("\n");
  const scope = `${day}/${region}/states/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonicalRequest)].join("\n");
  let key = hmac(`AWS4${secretAccessKey}`, day);
  for (const part of [region, "states", "aws4_request"]) key = hmac(key, part);
  const signature = createHmac("sha256", key).update(stringToSign).digest("hex");

  const response = await fetch(new URL("/", endpoint), {
    method: "POST",
    headers: {
      ...headers,
      authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    },
    body,
  });
  const answer = (await response.json().catch(() => ({}))) as {
    executionArn?: string;
    __type?: string;
    message?: string;
  };
  if (!response.ok || !answer.executionArn) {
    throw new Error(
      `StartExecution failed (${response.status}): ${answer.__type ?? ""} ${answer.message ?? ""}`,
    );
  }
  return answer.executionArn;
}
