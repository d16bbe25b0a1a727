import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { App, Aspects, DefaultStackSynthesizer, Stack } from "aws-cdk-lib";
import { CfnInclude } from "aws-cdk-lib/cloudformation-include";
import { AwsSolutionsChecks } from "cdk-nag";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OFFLINE_ACCOUNT, OFFLINE_REGION, synthesizeOffline, type Template } from "./offline.ts";

/**
 * The synthesized templates of two differently configured stages, checked as CloudFormation
 * will receive them: `dev` with the defaults (a new VPC, no EC2 hosts, throwaway resources)
 * and `prod` as a production stage in an existing VPC with EC2 hosts.
 */
const EXISTING_VPC = "vpc-0123456789abcdef0";
const subnet = (n: number, zone: string) => ({
  subnetId: `subnet-0${n}23456789abcdef0`,
  availabilityZone: zone,
  routeTableId: `rtb-0${n}23456789abcdef0`,
  cidr: `10.0.${n * 32}.0/19`,
});
const VARIANTS = [
  { stage: "dev", settings: {}, context: {} },
  {
    stage: "prod",
    settings: { network: { existingVpcId: EXISTING_VPC }, ec2: { instanceTypes: ["m7i.large"] } },
    // What the VPC lookup of `sst deploy` would answer for a VPC with two subnet tiers.
    context: {
      [`vpc-provider:account=${OFFLINE_ACCOUNT}:filter.vpc-id=${EXISTING_VPC}:region=${OFFLINE_REGION}:returnAsymmetricSubnets=true`]:
        {
          vpcId: EXISTING_VPC,
          vpcCidrBlock: "10.0.0.0/16",
          availabilityZones: [],
          subnetGroups: [
            { name: "Public", type: "Public", subnets: [subnet(1, "us-east-1a"), subnet(2, "us-east-1b")] },
            { name: "Private", type: "Private", subnets: [subnet(3, "us-east-1a"), subnet(4, "us-east-1b")] },
          ],
        },
    },
  },
];

const directory = mkdtempSync(join(tmpdir(), "berth-templates-"));
const files: string[] = [];
const templates = new Map<string, Template>();

beforeAll(async () => {
  for (const variant of VARIANTS) {
    const synthesis = await synthesizeOffline(variant);
    expect(synthesis.missingContext, variant.stage).toEqual([]);
    for (const [stackName, template] of synthesis.templates) {
      const file = join(directory, `${stackName}.template.json`);
      writeFileSync(file, JSON.stringify(template));
      files.push(file);
      templates.set(stackName, template);
    }
  }
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

interface CfnLintMatch {
  Level: "Error" | "Warning" | "Informational";
  Rule: { Id: string };
  Filename: string;
  Message: string;
  Location: { Start: { LineNumber: number } };
}

describe("cfn-lint", () => {
  it("finds no error in any template (warnings are printed)", async () => {
    let output: string;
    try {
      ({ stdout: output } = await promisify(execFile)("cfn-lint", ["--format", "json", ...files], {
        maxBuffer: 64 * 1024 * 1024,
      }));
    } catch (error) {
      // cfn-lint exits non-zero when it finds anything; the findings are still on stdout.
      const { stdout, code } = error as { stdout?: string; code?: number | string };
      if (typeof code !== "number" || stdout === undefined) throw error;
      output = stdout;
    }
    const matches = JSON.parse(output || "[]") as CfnLintMatch[];
    const describe = (match: CfnLintMatch) =>
      `${match.Filename.replace(`${directory}/`, "")}:${match.Location.Start.LineNumber} ${match.Rule.Id} ${match.Message}`;
    const warnings = matches.filter((match) => match.Level !== "Error");
    if (warnings.length > 0)
      console.log(`cfn-lint: ${warnings.length} warnings\n${warnings.map(describe).join("\n")}`);
    expect(matches.filter((match) => match.Level === "Error").map(describe)).toEqual([]);
    expect(files.length).toBe(20);
    // cfn-lint checks 20 templates in one Python process: about a minute on a quiet machine, and
    // several on a loaded one.
  }, 900_000);
});

describe("cdk-nag (AwsSolutions)", () => {
  it("reports nothing unsuppressed, on the templates as deployed", () => {
    // Checked on the synthesized templates rather than on the construct tree: SST's own
    // resources come from its own copy of aws-cdk-lib, which cdk-nag does not recognise, and
    // the templates are exactly what CloudFormation gets.
    const app = new App();
    for (const file of files) {
      const stack = new Stack(app, file.replace(/^.*\//, "").replace(".template.json", ""), {
        synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
      });
      new CfnInclude(stack, "Template", { templateFile: file });
    }
    Aspects.of(app).add(new AwsSolutionsChecks({ reports: false }));
    const findings = app
      .synth()
      .stacks.flatMap((stack) => stack.messages)
      .filter((message) => message.level === "error" || message.level === "warning")
      .map((message) => `${message.id}: ${String(message.entry.data).split("\n")[0]}`);
    expect(findings).toEqual([]);
  });

  it("justifies every suppression", () => {
    const suppressions: { id: string; reason: string }[] = [];
    for (const template of templates.values()) {
      for (const resource of Object.values<Template>(template.Resources ?? {})) {
        suppressions.push(...(resource.Metadata?.cdk_nag?.rules_to_suppress ?? []));
      }
    }
    console.log(
      `cdk-nag: ${suppressions.length} suppressions on resources, ${new Set(suppressions.map((s) => `${s.id} ${s.reason}`)).size} distinct`,
    );
    expect(suppressions.length).toBeGreaterThan(0);
    for (const suppression of suppressions) {
      expect(suppression.id).toMatch(/^(AwsSolutions-[A-Z]+\d+|CdkNagValidationFailure)$/);
      expect(suppression.reason.length, suppression.id).toBeGreaterThanOrEqual(40);
    }
  });
});
