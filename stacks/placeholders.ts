import type { FunctionPermission, PermissionPlaceholder } from "@berth/core/functions";
import { Workflows } from "@berth/core/workflows";
import * as iam from "aws-cdk-lib/aws-iam";

const PLACEHOLDER = /\$\{([^}]*)\}/g;

/**
 * Fills a manifest ARN pattern or condition value. CDK tokens (`${Token[…]}`) look like
 * placeholders too, so the manifest text is scanned for names before any value goes in.
 */
function fillPlaceholders(text: string, values: PlaceholderValues): string {
  const unknown = [...text.matchAll(PLACEHOLDER)]
    .map((match) => match[1] ?? "")
    .filter((name) => !Object.hasOwn(values, name));
  if (unknown.length > 0) {
    throw new Error(`${text}: no value for placeholders ${unknown.map((name) => `\${${name}}`).join(", ")}`);
  }
  return text.replace(PLACEHOLDER, (_, name: PermissionPlaceholder) => values[name] ?? "");
}

/**
 * Placeholders that name what only some installations have (the EC2 hosts): a permission naming
 * one without a value is left out of the role, not refused. Any other placeholder without a
 * value still stops the synthesis.
 */
const OPTIONAL_PLACEHOLDERS: ReadonlySet<string> = new Set(["HostGroup", "HostLaunchTemplate", "HostRole"]);

export type PlaceholderValues = Readonly<
  Omit<Record<PermissionPlaceholder, string>, "HostGroup" | "HostLaunchTemplate" | "HostRole"> &
    Partial<Record<"HostGroup" | "HostLaunchTemplate" | "HostRole", string>>
>;

/** The permissions this installation grants: those naming an optional placeholder it lacks are dropped. */
export function grantedPermissions(
  permissions: readonly FunctionPermission[],
  values: PlaceholderValues,
): FunctionPermission[] {
  return permissions.filter((permission) => {
    const texts = [
      ...permission.resources,
      ...Object.values(permission.conditions ?? {}).flatMap((keys) => Object.values(keys).flat()),
    ];
    return !texts.some((text) =>
      [...text.matchAll(PLACEHOLDER)].some(
        (match) => OPTIONAL_PLACEHOLDERS.has(match[1] ?? "") && !Object.hasOwn(values, match[1] ?? ""),
      ),
    );
  });
}

/** A manifest permission as an IAM statement, placeholders filled. */
export function statementOf(permission: FunctionPermission, values: PlaceholderValues): iam.PolicyStatement {
  const conditions = permission.conditions
    ? Object.fromEntries(
        Object.entries(permission.conditions).map(([operator, keys]) => [
          operator,
          Object.fromEntries(
            Object.entries(keys).map(([key, value]) => [
              key,
              Array.isArray(value)
                ? value.map((item) => fillPlaceholders(item, values))
                : fillPlaceholders(value, values),
            ]),
          ),
        ]),
      )
    : undefined;
  return new iam.PolicyStatement({
    actions: permission.actions,
    resources: permission.resources.map((resource) => fillPlaceholders(resource, values)),
    ...(conditions ? { conditions } : {}),
  });
}

/**
 * `Workflows.substitute` with values that may be CDK tokens: `substitute` rightly refuses a
 * value that looks like a placeholder, and a token string does. So it fills opaque markers
 * (keeping all its checks: unknown names, missing values) and the markers are swapped for the
 * real values in the serialized definition, where CDK resolves the tokens.
 */
export function substituteDefinition(
  definition: Workflows.StateMachine,
  values: Readonly<Record<string, string>>,
): string {
  const markers = new Map<string, string>();
  const markerValues: Record<string, string> = {};
  Object.entries(values).forEach(([name, value], index) => {
    const marker = `@@berth-value-${index}@@`;
    markers.set(marker, value);
    markerValues[name] = marker;
  });
  let text = JSON.stringify(Workflows.substitute(definition, markerValues));
  for (const [marker, value] of markers) {
    // Inside a JSON string: a value with quotes or backslashes must stay one string.
    text = text.replaceAll(marker, JSON.stringify(value).slice(1, -1));
  }
  return text;
}
