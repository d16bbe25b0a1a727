import { describe, expect, it } from "vitest";
import type { SpecJson } from "./plan.ts";
import { addressOf } from "./service-spec.ts";

const privateService = (port: number): SpecJson => ({
  type: "private-service",
  properties: {
    packaging: { type: "prebuilt-image", properties: { image: "nginx:1" } },
    resources: { cpu: 0.25, memory: 512 },
    port,
  },
});

describe("addressOf", () => {
  it("follows the spec it is given, also after the same service's address was worked out before", () => {
    const first = addressOf("shop", "api", privateService(3000));
    expect(first).toMatch(/^api\.shop.*:3000$/);
    expect(addressOf("shop", "api", privateService(3000))).toBe(first);
    expect(addressOf("shop", "api", privateService(8080))).toMatch(/:8080$/);
    expect(addressOf("other", "api", privateService(3000))).toMatch(/other.*:3000$/);
  });

  it("is null for a spec that is not a reachable service, or not valid", () => {
    expect(addressOf("shop", "api", { type: "worker-service", properties: {} })).toBeNull();
    expect(addressOf("shop", "api", { type: "private-service", properties: { port: "x" } })).toBeNull();
  });
});
