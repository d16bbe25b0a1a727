import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { FARGATE_CPUS } from "./capacity.ts";
import {
  ApplicationLoadBalancer,
  ApplicationLoadBalancerEvent,
  BatchJob,
  ComputeResources,
  CustomDockerfilePackaging,
  Deployment,
  FailFast,
  HealthCheck,
  HttpApiEvent,
  HttpApiGateway,
  IamRoleStatement,
  ImageBuildpackPackaging,
  LoadBalancerHealthCheck,
  Logging,
  MultiContainerWorkload,
  NetworkLoadBalancer,
  NetworkLoadBalancerEvent,
  PrebuiltImagePackaging,
  PrivateService,
  RESOURCE_SCHEMAS,
  RETENTION_DAYS,
  Scaling,
  ServiceConnectEvent,
  StackFile,
  WebService,
  WorkerService,
  WorkloadContainer,
  WorkloadInternalEvent,
} from "./schema.ts";

/**
 * The stack file's JSON Schema (draft 2020-12), for editors: built from the zod schemas that
 * `parse` validates with, and annotated from docs/stack-file.md, whose property tables give each
 * property its description. Nothing here repeats what a property accepts: types, enums, ranges
 * and defaults come from zod; the prose comes from the docs. `npm run schema` writes it to
 * `stack-file.schema.json`; a test fails when that file is stale.
 */

type JsonObject = { [key: string]: unknown };

/** A table of the docs: its header cells and its rows, each a map of header → cell. */
export interface DocTable {
  header: string[];
  rows: Record<string, string>[];
}

/** A section of the docs (from one `##`/`###` heading to the next): its tables and paragraphs. */
export interface DocSection {
  tables: DocTable[];
  paragraphs: string[];
  codeBlocks: { language: string; text: string }[];
}

/** Splits markdown into sections by heading, with their tables, paragraphs and code blocks. */
function readDocSections(markdown: string): Map<string, DocSection> {
  const sections = new Map<string, DocSection>();
  let current: DocSection = { tables: [], paragraphs: [], codeBlocks: [] };
  sections.set("", current);
  const lines = markdown.split("\n");
  let paragraph: string[] = [];
  const endParagraph = () => {
    if (paragraph.length > 0) current.paragraphs.push(paragraph.join(" "));
    paragraph = [];
  };
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? "";
    const heading = /^#{1,3} (.*)$/.exec(line);
    if (heading) {
      endParagraph();
      current = { tables: [], paragraphs: [], codeBlocks: [] };
      sections.set(heading[1]?.trim() ?? "", current);
      continue;
    }
    const fence = /^```(\w*)/.exec(line);
    if (fence) {
      endParagraph();
      const body: string[] = [];
      for (index++; index < lines.length && !(lines[index] ?? "").startsWith("```"); index++)
        body.push(lines[index] ?? "");
      current.codeBlocks.push({ language: fence[1] ?? "", text: body.join("\n") });
      continue;
    }
    if (line.startsWith("|")) {
      endParagraph();
      const tableLines: string[] = [];
      for (; index < lines.length && (lines[index] ?? "").startsWith("|"); index++)
        tableLines.push(lines[index] ?? "");
      index--;
      const [headerLine, , ...rowLines] = tableLines;
      const header = cellsOf(headerLine ?? "");
      current.tables.push({
        header,
        rows: rowLines.map((row) => {
          const cells = cellsOf(row);
          return Object.fromEntries(header.map((name, column) => [name, cells[column] ?? ""]));
        }),
      });
      continue;
    }
    if (line.trim() === "") endParagraph();
    else paragraph.push(line.trim());
  }
  endParagraph();
  return sections;
}

function cellsOf(row: string): string[] {
  return row
    .trim()
    .replace(/^\|/, "")
    .replace(/\|$/, "")
    .split("|")
    .map((cell) => cell.trim());
}

/** Markdown → the plain text an editor's tooltip shows: links lose their targets, bold its stars. */
function plain(text: string): string {
  return text
    .replace(/\[([^\]]+)\]\([^)]*\)/g, "$1")
    .replace(/\*\*/g, "")
    .trim();
}

/** The property names a table cell lists: "`command`, `entryPoint`" → both. */
function propertyNames(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? "").filter(Boolean);
}

/** What a row says about its property, as one description. */
function describeRow(row: Record<string, string>): string {
  const parts: string[] = [];
  const notes = plain(row.notes ?? row.becomes ?? row.meaning ?? "");
  if (notes) parts.push(notes.charAt(0).toUpperCase() + notes.slice(1));
  const allowed = plain(row["allowed values / range"] ?? row["allowed values"] ?? row.range ?? "");
  if (/^see /.test(allowed)) parts.push(`See ${allowed.slice(4)} in the stack file reference`);
  else if (allowed) parts.push(`Allowed: ${allowed}`);
  const fallback = plain(row.default ?? "");
  if (/required/.test(fallback)) parts.push("Required");
  return parts.map((part) => (part.endsWith(".") ? part : `${part}.`)).join(" ");
}

/** Where each documented table describes a part of the schema: the def it annotates. */
interface TableSource {
  section: string;
  table?: number;
  /** Only the rows of this `type` (tables whose first column is a type, blank meaning "as above"). */
  type?: string;
}

/** The parts of the schema that get their own `$defs` entry, and the docs that describe them. */
function definitions(): { id: string; schema: z.ZodType; sources: TableSource[]; description?: string }[] {
  const propertiesOf = (schema: { shape: { properties: z.ZodType } }) => schema.shape.properties;
  const ingress = "http-api-gateway, application-load-balancer, network-load-balancer";
  return [
    {
      id: "PrivateServiceProperties",
      schema: propertiesOf(PrivateService),
      sources: [{ section: "private-service" }],
    },
    {
      id: "WebServiceProperties",
      schema: propertiesOf(WebService),
      sources: [{ section: "web-service" }, { section: "private-service" }],
    },
    {
      id: "WorkerServiceProperties",
      schema: propertiesOf(WorkerService),
      sources: [{ section: "private-service" }],
    },
    {
      id: "MultiContainerWorkloadProperties",
      schema: propertiesOf(MultiContainerWorkload),
      sources: [{ section: "multi-container-workload", table: 0 }],
    },
    {
      id: "WorkloadContainer",
      schema: WorkloadContainer,
      sources: [{ section: "multi-container-workload", table: 1 }],
    },
    { id: "BatchJobProperties", schema: propertiesOf(BatchJob), sources: [{ section: "batch-job" }] },
    {
      id: "HttpApiGatewayProperties",
      schema: propertiesOf(HttpApiGateway),
      sources: [{ section: ingress, type: "http-api-gateway" }],
    },
    {
      id: "ApplicationLoadBalancerProperties",
      schema: propertiesOf(ApplicationLoadBalancer),
      sources: [{ section: ingress, type: "application-load-balancer" }],
    },
    {
      id: "NetworkLoadBalancerProperties",
      schema: propertiesOf(NetworkLoadBalancer),
      sources: [{ section: ingress, type: "network-load-balancer" }],
    },
    {
      id: "ImageBuildpackPackaging",
      schema: propertiesOf(ImageBuildpackPackaging),
      sources: [{ section: "Packaging", type: "stacktape-image-buildpack" }],
    },
    {
      id: "CustomDockerfilePackaging",
      schema: propertiesOf(CustomDockerfilePackaging),
      sources: [{ section: "Packaging", type: "custom-dockerfile" }],
    },
    {
      id: "PrebuiltImagePackaging",
      schema: propertiesOf(PrebuiltImagePackaging),
      sources: [{ section: "Packaging", type: "prebuilt-image" }],
    },
    { id: "ComputeResources", schema: ComputeResources, sources: [{ section: "Resources", table: 0 }] },
    { id: "IamRoleStatement", schema: IamRoleStatement, sources: [{ section: "iamRoleStatements" }] },
    { id: "HealthCheck", schema: HealthCheck, sources: [{ section: "internalHealthCheck" }] },
    { id: "Logging", schema: Logging, sources: [{ section: "Logging" }] },
    { id: "Scaling", schema: Scaling, sources: [{ section: "Scaling" }] },
    { id: "Deployment", schema: Deployment, sources: [{ section: "Deployment" }] },
    { id: "FailFast", schema: FailFast, sources: [] },
    { id: "LoadBalancerHealthCheck", schema: LoadBalancerHealthCheck, sources: [] },
    { id: "HttpApiEvent", schema: HttpApiEvent, sources: [] },
    { id: "ApplicationLoadBalancerEvent", schema: ApplicationLoadBalancerEvent, sources: [] },
    { id: "NetworkLoadBalancerEvent", schema: NetworkLoadBalancerEvent, sources: [] },
    { id: "WorkloadInternalEvent", schema: WorkloadInternalEvent, sources: [] },
    { id: "ServiceConnectEvent", schema: ServiceConnectEvent, sources: [] },
  ];
}

/** The JSON Schema of the stack file, annotated from `docsMarkdown` (docs/stack-file.md). */
export function buildStackFileJsonSchema(docsMarkdown: string): JsonObject {
  const docs = readDocSections(docsMarkdown);
  const section = (name: string): DocSection => {
    const found = docs.get(name);
    if (!found) throw new Error(`docs/stack-file.md has no section "${name}"`);
    return found;
  };
  const registry = z.registry<{ id: string }>();
  const defs = definitions();
  for (const { id, schema } of defs) registry.add(schema, { id });
  for (const [type, schema] of Object.entries(RESOURCE_SCHEMAS))
    registry.add(schema, { id: resourceId(type) });

  const generated = z.toJSONSchema(StackFile, {
    target: "draft-2020-12",
    io: "input",
    metadata: registry,
    reused: "inline",
    unrepresentable: "any",
    override: ({ zodSchema, jsonSchema }) => singlePropertyRules(zodSchema, jsonSchema as JsonObject),
  }) as JsonObject;
  const $defs = (generated.$defs ?? {}) as Record<string, JsonObject>;

  for (const { id, sources } of defs) {
    const def = $defs[id];
    if (!def) throw new Error(`the schema has no $defs entry ${id}`);
    for (const source of sources) {
      const { tables } = section(source.section);
      const table = tables[source.table ?? 0];
      if (!table)
        throw new Error(`docs/stack-file.md section "${source.section}" has no table ${source.table}`);
      annotateFromTable(def, table, source, id);
    }
    const [first] = sources;
    const intro = first && first.type === undefined ? section(first.section).paragraphs[0] : undefined;
    if (intro && def.description === undefined) def.description = plain(intro);
  }
  const failFast = section("failFast (Berth's own)").paragraphs;
  annotateFromParagraphs($defs.FailFast, failFast, "failFast.");
  if ($defs.FailFast)
    $defs.FailFast.description =
      "Berth's own: when to roll a new revision back, and how long it must stay up.";
  annotateFromParagraphs(
    $defs.LoadBalancerHealthCheck,
    section("multi-container-workload").paragraphs,
    "loadBalancerHealthCheck",
  );

  // Resource and event types: their one-line summaries from the docs' overview tables.
  const typeRows = section("Top-level structure").tables[0]?.rows ?? [];
  for (const row of typeRows) {
    const [type] = propertyNames(row.type ?? "");
    const def = type ? $defs[resourceId(type)] : undefined;
    if (def) def.description = `${plain(row["what it is"] ?? "")}. Runs as: ${plain(row["runs as"] ?? "")}.`;
  }
  const eventIds: Record<string, string> = {
    "http-api-gateway": "HttpApiEvent",
    "application-load-balancer": "ApplicationLoadBalancerEvent",
    "network-load-balancer": "NetworkLoadBalancerEvent",
    "workload-internal": "WorkloadInternalEvent",
    "service-connect": "ServiceConnectEvent",
  };
  for (const row of section("Events").tables[0]?.rows ?? []) {
    const [type] = propertyNames(row.type ?? "");
    const def = type ? $defs[eventIds[type] ?? ""] : undefined;
    if (def)
      def.description = `${plain(row["what Berth does"] ?? "")}. Properties: ${plain(row[Object.keys(row)[1] ?? ""] ?? "")}.`;
  }

  const intro = section("The stack file (`berth.yml`)");
  const examples = intro.codeBlocks
    .filter((block) => block.language === "yaml")
    .map((block) => parseYaml(block.text));
  const resources = (generated.properties as Record<string, JsonObject>).resources as JsonObject;
  resources.description =
    "Resource names to resources. A name starts with a letter and has only letters and digits (at most 63): it becomes part of ECS, IAM and DNS names.";
  resources.minProperties = 1;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    title: "Berth stack file",
    description: plain(intro.paragraphs[0] ?? ""),
    ...rest,
    examples,
  };
}

function resourceId(type: string): string {
  return `${type
    .split("-")
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join("")}Resource`;
}

/** Rules zod checks with a refinement, which JSON Schema can say as well. */
function singlePropertyRules(zodSchema: z.core.$ZodType, json: JsonObject): void {
  // zod names `startsWith` as a format of its own beside the pattern that says the same.
  if (json.format === "starts_with") delete json.format;
  if (zodSchema === ComputeResources.shape.cpu.unwrap()) {
    // Fargate's sizes, or any whole number of vCPUs on EC2.
    delete json.type;
    delete json.exclusiveMinimum;
    json.anyOf = [{ enum: [...FARGATE_CPUS] }, { type: "integer", exclusiveMinimum: 0 }];
  }
  if (zodSchema === Logging.shape.retentionDays.removeDefault()) {
    delete json.type;
    delete json.minimum;
    delete json.maximum;
    json.enum = [...RETENTION_DAYS];
  }
}

/** Adds each row's description to the property it names (dotted, or `name[]` for a list's items). */
function annotateFromTable(def: JsonObject, table: DocTable, source: TableSource, id: string): void {
  const [firstColumn] = table.header;
  let rowType = "";
  let last: JsonObject | undefined;
  for (const row of table.rows) {
    if (source.type !== undefined && firstColumn === "type") {
      rowType = propertyNames(row.type ?? "")[0] ?? rowType;
      if (rowType !== source.type) continue;
    }
    const names = propertyNames(row.property ?? "");
    // The Deployment table gives each allowed value a row of its own: "value: what it becomes".
    const [value, ...others] = propertyNames(row["allowed values"] ?? "");
    const perValue =
      row.becomes && value && others.length === 0 ? `${value}: ${plain(row.becomes)}.` : undefined;
    if (names.length === 0) {
      if (last && perValue) last.description = `${last.description ?? ""} ${perValue}`.trim();
      continue;
    }
    for (const name of names) {
      const target = propertyAt(def, name);
      if (!target) {
        if (source.section === "private-service" && id !== "PrivateServiceProperties") continue;
        throw new Error(`docs/stack-file.md documents ${name} for ${id}, which the schema does not have`);
      }
      if (target.description !== undefined) continue;
      const text = perValue ?? describeRow(row);
      if (text) target.description = text;
      last = target;
    }
  }
}

/** Paragraphs that begin with `` `prefix…` `` describe that property. */
function annotateFromParagraphs(def: JsonObject | undefined, paragraphs: string[], prefix: string): void {
  if (!def) return;
  for (const paragraph of paragraphs) {
    const match = /^`([^`]+)`/.exec(paragraph);
    if (!match?.[1]?.startsWith(prefix)) continue;
    const name = match[1].slice(prefix.length);
    const target = name === "" ? def : propertyAt(def, name);
    if (target) target.description = plain(paragraph.replace(/`/g, ""));
  }
}

/** The schema of a dotted property path inside an object schema; undefined when it has none. */
function propertyAt(def: JsonObject, dotted: string): JsonObject | undefined {
  let node: JsonObject | undefined = def;
  for (const raw of dotted.split(".")) {
    const name = raw.replace(/\[\]$/, "");
    const properties = node?.properties as Record<string, JsonObject> | undefined;
    node = properties?.[name];
    if (!node) return undefined;
  }
  return node;
}
