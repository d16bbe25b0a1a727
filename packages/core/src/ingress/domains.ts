import {
  type ACMClient,
  type CertificateSummary,
  DescribeCertificateCommand,
  type KeyAlgorithm,
  ListCertificatesCommand,
  type ListCertificatesCommandInput,
} from "@aws-sdk/client-acm";
import {
  type ApiGatewayV2Client,
  type ApiMapping,
  CreateApiMappingCommand,
  type CreateApiMappingCommandInput,
  CreateDomainNameCommand,
  type CreateDomainNameCommandInput,
  DeleteApiMappingCommand,
  DeleteDomainNameCommand,
  type DomainNameConfiguration,
  GetApiMappingsCommand,
  GetDomainNameCommand,
  type GetDomainNameCommandOutput,
  UpdateDomainNameCommand,
} from "@aws-sdk/client-apigatewayv2";
import {
  type ChangeAction,
  ChangeResourceRecordSetsCommand,
  type ChangeResourceRecordSetsCommandInput,
  ListHostedZonesByNameCommand,
  type ListHostedZonesByNameCommandInput,
  ListResourceRecordSetsCommand,
  type ListResourceRecordSetsCommandInput,
  type Route53Client,
} from "@aws-sdk/client-route-53";
import { ApiGateway, Route53 } from "../aws/index.ts";
import { BerthError } from "../errors.ts";
import type { Environment } from "../render/environment.ts";
import { standardTags } from "../render/names.ts";
import type { IngressRecord } from "../store/index.ts";

/**
 * Custom domains of gateways and load balancers: the ACM certificate that covers each, API
 * Gateway's domain name and API mapping, and the Route 53 alias record where the account has a
 * public hosted zone for the domain. The installation may turn the ACM and Route 53 lookups off
 * (`none`: Berth Local, which has neither): a domain is then served without a certificate, and
 * its DNS is left to the user.
 */
export type DomainLookups = "acm-route53" | "none";

export interface DomainClients {
  /** Needed for gateways' domains only. */
  apiGateway?: Pick<ApiGatewayV2Client, "send">;
  acm?: Pick<ACMClient, "send"> | undefined;
  route53?: Pick<Route53Client, "send"> | undefined;
}

export interface DomainContext {
  clients: DomainClients;
  lookups: DomainLookups;
  env: Environment;
  log?: (line: string) => void;
}

export type DomainRecord = IngressRecord.Domain;

/** Whether a certificate name (`api.example.com` or `*.example.com`) covers the domain. */
export function coversDomain(certificateName: string, domain: string): boolean {
  const name = certificateName.toLowerCase();
  const wanted = domain.toLowerCase();
  if (name === wanted) return true;
  if (!name.startsWith("*.")) return false;
  // A wildcard covers exactly one label: *.example.com covers api.example.com, not a.b.example.com.
  const dot = wanted.indexOf(".");
  return dot > 0 && wanted.slice(dot + 1) === name.slice(2);
}

/** The key types API Gateway and ELB accept; ListCertificates lists RSA 2048 alone unless told. */
const KEY_TYPES: KeyAlgorithm[] = ["RSA_2048", "EC_prime256v1", "EC_secp384r1"];

export function listCertificatesInput(nextToken?: string): ListCertificatesCommandInput {
  return {
    CertificateStatuses: ["ISSUED"],
    Includes: { keyTypes: KEY_TYPES },
    MaxItems: 1000,
    ...(nextToken ? { NextToken: nextToken } : {}),
  };
}

export function describeCertificateInput(summary: Pick<CertificateSummary, "CertificateArn">) {
  return { CertificateArn: summary.CertificateArn };
}

async function certificateNames(
  acm: Pick<ACMClient, "send">,
  summary: CertificateSummary,
): Promise<string[]> {
  const listed = [summary.DomainName, ...(summary.SubjectAlternativeNameSummaries ?? [])].filter(
    (name): name is string => typeof name === "string",
  );
  if (!summary.HasAdditionalSubjectAlternativeNames) return listed;
  // ListCertificates shows the first names only; the certificate itself has them all.
  const described = await acm.send(
    new DescribeCertificateCommand({ CertificateArn: summary.CertificateArn }),
  );
  return [
    ...listed,
    ...(described.Certificate?.SubjectAlternativeNames ?? []),
    ...(described.Certificate?.DomainName ? [described.Certificate.DomainName] : []),
  ];
}

/**
 * The ISSUED certificate of the stack's region that covers each domain (an exact name before a
 * wildcard, then the one that expires last). Refuses, naming every uncovered domain, when one
 * has none. Without lookups every domain is answered without a certificate.
 */
export async function certificatesFor(
  context: DomainContext,
  owner: string,
  domains: readonly string[],
): Promise<Map<string, string | undefined>> {
  const found = new Map<string, string | undefined>();
  if (domains.length === 0) return found;
  if (context.lookups === "none") {
    for (const domain of domains) found.set(domain, undefined);
    return found;
  }
  const acm = context.clients.acm;
  if (!acm) throw new BerthError("MISSING_INGRESS", "custom domains need an ACM client, and none was given");
  const summaries: CertificateSummary[] = [];
  let token: string | undefined;
  do {
    const page = await acm.send(new ListCertificatesCommand(listCertificatesInput(token)));
    summaries.push(...(page.CertificateSummaryList ?? []));
    token = page.NextToken;
  } while (token);
  const candidates: { arn: string; names: string[]; notAfter: number }[] = [];
  for (const summary of summaries) {
    if (!summary.CertificateArn) continue;
    candidates.push({
      arn: summary.CertificateArn,
      names: await certificateNames(acm, summary),
      notAfter: summary.NotAfter?.getTime() ?? 0,
    });
  }
  const missing: string[] = [];
  for (const domain of domains) {
    const rank = (names: string[]) =>
      names.some((name) => name.toLowerCase() === domain)
        ? 2
        : names.some((n) => coversDomain(n, domain))
          ? 1
          : 0;
    const best = candidates
      .filter((candidate) => rank(candidate.names) > 0)
      .sort((a, b) => rank(b.names) - rank(a.names) || b.notAfter - a.notAfter)[0];
    if (best) found.set(domain, best.arn);
    else missing.push(domain);
  }
  if (missing.length > 0) {
    throw new BerthError(
      "MISSING_INGRESS",
      `no ISSUED ACM certificate in ${context.env.region} covers ${missing.join(", ")} (custom domain${missing.length > 1 ? "s" : ""} of ${owner}); request or import one for the name or its wildcard (*.${missing[0]?.split(".").slice(1).join(".")}) in ${context.env.region}, then deploy again`,
    );
  }
  return found;
}

/** The public URL of a custom domain: HTTPS with a certificate, else the resource's own scheme and port. */
export function domainUrl(domain: string, ownUrl: string, secure: boolean): string {
  const url = new URL(ownUrl);
  if (secure && url.protocol !== "https:") {
    url.protocol = "https:";
    url.port = "";
  }
  url.hostname = domain;
  return `${url.protocol}//${url.host}`;
}

// API Gateway domain names --------------------------------------------------------------------

export function createDomainNameInput(
  env: Environment,
  gateway: string,
  domain: string,
  certificateArn: string | undefined,
): CreateDomainNameCommandInput {
  return {
    DomainName: domain,
    DomainNameConfigurations: [domainConfiguration(certificateArn)],
    Tags: standardTags(env, gateway),
  };
}

function domainConfiguration(certificateArn: string | undefined): DomainNameConfiguration {
  return {
    ...(certificateArn ? { CertificateArn: certificateArn } : {}),
    EndpointType: "REGIONAL",
    SecurityPolicy: "TLS_1_2",
  };
}

export function createApiMappingInput(domain: string, apiId: string): CreateApiMappingCommandInput {
  // No mapping key: the whole domain leads to the API's one stage.
  return { DomainName: domain, ApiId: apiId, Stage: "$default" };
}

function apiGateway(context: DomainContext): Pick<ApiGatewayV2Client, "send"> {
  const client = context.clients.apiGateway;
  if (!client) throw new Error("a gateway's custom domains need an API Gateway client");
  return client;
}

async function getDomainName(
  context: DomainContext,
  domain: string,
): Promise<GetDomainNameCommandOutput | undefined> {
  try {
    return await apiGateway(context).send(new GetDomainNameCommand({ DomainName: domain }));
  } catch (error) {
    if (ApiGateway.isNotFound(error)) return undefined;
    throw error;
  }
}

async function mappingsOf(context: DomainContext, domain: string): Promise<ApiMapping[]> {
  const mappings: ApiMapping[] = [];
  let token: string | undefined;
  do {
    const page = await apiGateway(context).send(
      new GetApiMappingsCommand({ DomainName: domain, ...(token ? { NextToken: token } : {}) }),
    );
    mappings.push(...(page.Items ?? []));
    token = page.NextToken;
  } while (token);
  return mappings;
}

function refuseForeign(
  context: DomainContext,
  gateway: string,
  domain: string,
  found: Pick<GetDomainNameCommandOutput, "Tags">,
): void {
  const owner = found.Tags?.["berth:stack"];
  const resource = found.Tags?.["berth:resource"];
  if (owner !== context.env.stack || resource !== gateway) {
    throw new BerthError(
      "CONFLICT",
      `custom domain ${domain} of gateway ${gateway} already exists in API Gateway${owner ? ` for ${owner}/${resource}` : ", not created by Berth"}; remove it there or from the stack file`,
    );
  }
}

/** Refuses, before anything is created, a domain name that belongs to another stack or resource. */
export async function checkGatewayDomains(
  context: DomainContext,
  gateway: string,
  domains: readonly string[],
): Promise<void> {
  for (const domain of domains) {
    const found = await getDomainName(context, domain);
    if (found) refuseForeign(context, gateway, domain, found);
  }
}

/**
 * Makes the gateway's custom domains exactly the declared ones (the keys of `certificates`, each
 * with its certificate from `certificatesFor`): a REGIONAL domain name (TLS 1.2)
 * with the covering certificate and a mapping to the API's stage for each, its alias record
 * where Route 53 hosts the domain; a domain no longer declared is removed. A domain name that
 * belongs to another stack or resource is refused rather than taken over.
 */
export async function syncGatewayDomains(
  context: DomainContext,
  gateway: string,
  apiId: string,
  ownUrl: string,
  certificates: Map<string, string | undefined>,
  previous: readonly DomainRecord[],
): Promise<DomainRecord[]> {
  return syncDomains(
    certificates,
    previous,
    async (domain, certificateArn) => {
      let found = await getDomainName(context, domain);
      if (found) {
        refuseForeign(context, gateway, domain, found);
        const current = found.DomainNameConfigurations?.[0];
        if (certificateArn && current?.CertificateArn !== certificateArn) {
          const updated = await apiGateway(context).send(
            new UpdateDomainNameCommand({
              DomainName: domain,
              DomainNameConfigurations: [domainConfiguration(certificateArn)],
            }),
          );
          found = { ...found, ...updated, $metadata: found.$metadata };
          context.log?.(`gateway ${gateway}: domain ${domain} now uses certificate ${certificateArn}`);
        }
      } else {
        try {
          found = await apiGateway(context).send(
            new CreateDomainNameCommand(createDomainNameInput(context.env, gateway, domain, certificateArn)),
          );
          context.log?.(`gateway ${gateway}: created domain name ${domain}`);
        } catch (error) {
          // Another service of the same gateway deploying at once created it first.
          if (!ApiGateway.isConflict(error)) throw error;
          found = await getDomainName(context, domain);
        }
      }
      const mappings = await mappingsOf(context, domain);
      const other = mappings.find((mapping) => !mapping.ApiMappingKey && mapping.ApiId !== apiId);
      if (other) {
        throw new BerthError(
          "CONFLICT",
          `custom domain ${domain} already leads to API ${other.ApiId}; gateway ${gateway} cannot take it`,
        );
      }
      if (!mappings.some((mapping) => mapping.ApiId === apiId)) {
        try {
          await apiGateway(context).send(new CreateApiMappingCommand(createApiMappingInput(domain, apiId)));
          context.log?.(`gateway ${gateway}: ${domain} → API ${apiId}`);
        } catch (error) {
          if (!ApiGateway.isConflict(error)) throw error;
        }
      }
      const configuration = found?.DomainNameConfigurations?.[0];
      const target = configuration?.ApiGatewayDomainName;
      if (!target)
        throw new BerthError("MISSING_INGRESS", `API Gateway answered no target for domain ${domain}`);
      return pointDomain(context, domain, certificateArn, {
        url: ownUrl,
        target,
        zoneId: configuration?.HostedZoneId,
      });
    },
    (record) => removeGatewayDomain(context, gateway, apiId, record),
  );
}

/** Deletes the alias record, the API's mapping and, with no mapping left, the domain name. */
export async function removeGatewayDomain(
  context: DomainContext,
  gateway: string,
  apiId: string,
  record: DomainRecord,
): Promise<void> {
  await removeAlias(context, record);
  try {
    const mappings = await mappingsOf(context, record.name);
    for (const mapping of mappings) {
      if (mapping.ApiId !== apiId || !mapping.ApiMappingId) continue;
      await apiGateway(context).send(
        new DeleteApiMappingCommand({ DomainName: record.name, ApiMappingId: mapping.ApiMappingId }),
      );
    }
    if (mappings.every((mapping) => mapping.ApiId === apiId)) {
      await apiGateway(context).send(new DeleteDomainNameCommand({ DomainName: record.name }));
    }
    context.log?.(`gateway ${gateway}: removed domain ${record.name}`);
  } catch (error) {
    if (!ApiGateway.isNotFound(error)) throw error;
  }
}

// Route 53 -------------------------------------------------------------------------------------

export function aliasChangeInput(
  action: ChangeAction,
  zoneId: string,
  domain: string,
  target: string,
  targetZoneId: string,
): ChangeResourceRecordSetsCommandInput {
  return {
    HostedZoneId: zoneId,
    ChangeBatch: {
      Comment: `Berth: custom domain ${domain}`,
      Changes: [
        {
          Action: action,
          ResourceRecordSet: {
            Name: domain,
            Type: "A",
            AliasTarget: { HostedZoneId: targetZoneId, DNSName: target, EvaluateTargetHealth: false },
          },
        },
      ],
    },
  };
}

export function hostedZonesInput(name: string): ListHostedZonesByNameCommandInput {
  // Zones listed from this name on, in order: the first ones are those of this name (Route 53's
  // MaxItems is left at its default; the SDK and botocore disagree on its type).
  return { DNSName: name };
}

export function recordSetsInput(zoneId: string, domain: string): ListResourceRecordSetsCommandInput {
  return { HostedZoneId: zoneId, StartRecordName: domain };
}

/** The account's public hosted zone that holds the domain: the longest matching zone name. */
async function publicZoneOf(
  route53: Pick<Route53Client, "send">,
  domain: string,
): Promise<string | undefined> {
  const labels = domain.split(".");
  for (let start = 0; start < labels.length - 1; start++) {
    const name = labels.slice(start).join(".");
    const listed = await route53.send(new ListHostedZonesByNameCommand(hostedZonesInput(name)));
    const zone = (listed.HostedZones ?? []).find(
      (candidate) => candidate.Name === `${name}.` && candidate.Config?.PrivateZone !== true,
    );
    if (zone?.Id) return zone.Id.replace(/^\/hostedzone\//, "");
  }
  return undefined;
}

const sameName = (a: string | undefined, b: string) =>
  a?.replace(/\.$/, "").toLowerCase() === b.toLowerCase();

/**
 * Points the domain at the target with an alias A record where a public hosted zone of the
 * account holds it. A record of that name the user made (pointing elsewhere) is left alone; the
 * domain's DNS is then theirs to change, as it is without a hosted zone.
 */
async function ensureAlias(
  context: DomainContext,
  domain: string,
  target: string,
  targetZoneId: string | undefined,
): Promise<Pick<DomainRecord, "dns" | "zoneId">> {
  const route53 = context.clients.route53;
  if (context.lookups === "none" || !route53 || !targetZoneId) return { dns: "manual" };
  const zoneId = await publicZoneOf(route53, domain);
  if (!zoneId) return { dns: "manual" };
  const existing = await route53.send(new ListResourceRecordSetsCommand(recordSetsInput(zoneId, domain)));
  const taken = (existing.ResourceRecordSets ?? []).find(
    (record) =>
      sameName(record.Name, domain) &&
      (record.Type === "CNAME" || record.Type === "A") &&
      !sameName(record.AliasTarget?.DNSName, target),
  );
  if (taken) {
    context.log?.(`${domain}: its ${taken.Type} record in Route 53 points elsewhere; left unchanged`);
    return { dns: "manual" };
  }
  await route53.send(
    new ChangeResourceRecordSetsCommand(aliasChangeInput("UPSERT", zoneId, domain, target, targetZoneId)),
  );
  context.log?.(`${domain}: alias record → ${target} (Route 53 zone ${zoneId})`);
  return { dns: "route53", zoneId };
}

async function removeAlias(context: DomainContext, record: DomainRecord): Promise<void> {
  const route53 = context.clients.route53;
  if (record.dns !== "route53" || !record.zoneId || !record.targetZoneId || !route53) return;
  try {
    await route53.send(
      new ChangeResourceRecordSetsCommand(
        aliasChangeInput("DELETE", record.zoneId, record.name, record.target, record.targetZoneId),
      ),
    );
  } catch (error) {
    if (!Route53.isRecordGone(error)) throw error;
  }
}

/** Points the domain at its resource (alias record where Route 53 hosts it) and answers its record. */
async function pointDomain(
  context: DomainContext,
  domain: string,
  certificateArn: string | undefined,
  resource: { url: string; target: string; zoneId: string | undefined },
): Promise<DomainRecord> {
  const dns = await ensureAlias(context, domain, resource.target, resource.zoneId);
  return {
    name: domain,
    url: domainUrl(domain, resource.url, certificateArn !== undefined),
    ...(certificateArn ? { certificateArn } : {}),
    target: resource.target,
    ...(resource.zoneId ? { targetZoneId: resource.zoneId } : {}),
    ...dns,
  };
}

/**
 * A load balancer's domains: the alias record of each (the balancer serves every host its rules
 * allow; its certificates are its listeners'), and those no longer declared removed.
 */
export async function syncBalancerDomains(
  context: DomainContext,
  balancer: { dnsName: string; zoneId: string | undefined; url: string },
  certificates: Map<string, string | undefined>,
  previous: readonly DomainRecord[],
): Promise<DomainRecord[]> {
  return syncDomains(
    certificates,
    previous,
    (domain, certificateArn) =>
      pointDomain(context, domain, certificateArn, {
        url: balancer.url,
        target: balancer.dnsName,
        zoneId: balancer.zoneId,
      }),
    (record) => removeAlias(context, record),
  );
}

/**
 * Brings a resource's domains to the declared ones (the certificates' keys, in order): `point`
 * sets up each and answers its record; `remove` takes down each previous one no longer declared.
 */
async function syncDomains(
  certificates: Map<string, string | undefined>,
  previous: readonly DomainRecord[],
  point: (domain: string, certificateArn: string | undefined) => Promise<DomainRecord>,
  remove: (record: DomainRecord) => Promise<void>,
): Promise<DomainRecord[]> {
  const domains = [...certificates.keys()];
  const records: DomainRecord[] = [];
  for (const domain of domains) records.push(await point(domain, certificates.get(domain)));
  for (const record of previous) {
    if (!domains.includes(record.name)) await remove(record);
  }
  return records;
}

/** Removes every alias record Berth made for a deleted balancer's domains. */
export async function removeBalancerDomains(context: DomainContext, records: readonly DomainRecord[]) {
  for (const record of records) await removeAlias(context, record);
}
