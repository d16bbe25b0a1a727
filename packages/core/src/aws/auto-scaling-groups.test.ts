import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { afterEach, describe, expect, it } from "vitest";
import { ssmClient } from "./auto-scaling-groups.ts";
import { startAwsJsonEndpoint } from "./test-support.ts";

let stop: (() => Promise<void>) | undefined;

afterEach(async () => {
  await stop?.();
  stop = undefined;
});

describe("the host refresh's clients, created on their first request", () => {
  it("send to the configured endpoint from the first request on, concurrent first requests included", async () => {
    const endpoint = await startAwsJsonEndpoint(() => ({
      status: 200,
      body: { Parameter: { Name: "/ami", Value: "ami-0123456789abcdef0" } },
    }));
    stop = endpoint.stop;
    const ssm = ssmClient({
      endpoint: endpoint.url,
      region: "eu-west-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const [first, second] = await Promise.all([
      ssm.send(new GetParameterCommand({ Name: "/ami" })),
      ssm.send(new GetParameterCommand({ Name: "/ami/2" })),
    ]);
    expect(first.Parameter?.Value).toBe("ami-0123456789abcdef0");
    expect(second.Parameter?.Value).toBe("ami-0123456789abcdef0");
    expect(endpoint.calls).toEqual([
      { target: "AmazonSSM.GetParameter", body: { Name: "/ami" } },
      { target: "AmazonSSM.GetParameter", body: { Name: "/ami/2" } },
    ]);
  });
});
