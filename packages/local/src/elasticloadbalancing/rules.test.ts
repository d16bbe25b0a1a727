import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { inCidr, matchesRule, wildcardMatch } from "./rules.ts";

function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; ip?: string } = {},
) {
  return {
    url,
    method: options.method ?? "GET",
    headers: options.headers ?? {},
    socket: { remoteAddress: options.ip ?? "127.0.0.1" },
  } as unknown as IncomingMessage;
}

describe("listener rule conditions on Berth Local", () => {
  it("match ELB's wildcards in paths and hosts", () => {
    expect(wildcardMatch("/orders/*", "/orders/7")).toBe(true);
    expect(wildcardMatch("/orders/*", "/users/7")).toBe(false);
    expect(wildcardMatch("/v?/x", "/v2/x")).toBe(true);
    expect(wildcardMatch("*.Example.com", "api.example.com", true)).toBe(true);
    expect(wildcardMatch("/a.b", "/axb")).toBe(false);
  });

  it("match IPv4 CIDR blocks, mapped addresses included", () => {
    expect(inCidr("10.1.2.3", "10.0.0.0/8")).toBe(true);
    expect(inCidr("::ffff:10.1.2.3", "10.0.0.0/8")).toBe(true);
    expect(inCidr("11.0.0.1", "10.0.0.0/8")).toBe(false);
    expect(inCidr("127.0.0.1", "127.0.0.1/32")).toBe(true);
  });

  it("need every condition, and any value of each", () => {
    const conditions = [
      { Field: "path-pattern", PathPatternConfig: { Values: ["/orders/*", "/o/*"] } },
      { Field: "http-request-method", HttpRequestMethodConfig: { Values: ["GET", "POST"] } },
      { Field: "http-header", HttpHeaderConfig: { HttpHeaderName: "X-Tenant", Values: ["a*"] } },
      { Field: "query-string", QueryStringConfig: { Values: [{ Key: "v", Value: "1" }] } },
      { Field: "host-header", HostHeaderConfig: { Values: ["shop.example"] } },
    ];
    const headers = { "x-tenant": "acme", host: "shop.example:8080" };
    expect(matchesRule(conditions, request("/o/1?v=1", { headers }))).toBe(true);
    expect(matchesRule(conditions, request("/o/1?v=2", { headers }))).toBe(false);
    expect(matchesRule(conditions, request("/o/1?v=1", { headers, method: "DELETE" }))).toBe(false);
    expect(matchesRule(conditions, request("/o/1?v=1", { headers: { ...headers, "x-tenant": "b" } }))).toBe(
      false,
    );
    expect(matchesRule(conditions, request("/users/1?v=1", { headers }))).toBe(false);
    expect(matchesRule([{ Field: "unknown-field" }], request("/"))).toBe(false);
  });
});
