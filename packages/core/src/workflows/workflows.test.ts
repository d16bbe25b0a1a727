// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the tests write `${Name}` placeholders on purpose.
import validator from "asl-validator";
import { describe, expect, it } from "vitest";
import { FUNCTIONS, findFunction, stateMachineTaskFunctions } from "../functions.ts";
import { type State, scopesOf, successorsOf } from "./asl.ts";
import { placeholdersOf, RESOURCE_PLACEHOLDERS, substitute, WORKFLOWS } from "./workflows.ts";

const REGION = "eu-west-1";
const ACCOUNT = "123456789012";

/** A value for every placeholder a definition may carry, as the installation would give them. */
function installationValues(): Record<string, string> {
  return {
    ...Object.fromEntries(
      FUNCTIONS.map((fn) => [
        `Function:${fn.name}`,
        `arn:aws:lambda:${REGION}:${ACCOUNT}:function:berth-test-${fn.name}`,
      ]),
    ),
    CodeBuildProject: "berth-test-build",
    Cluster: "berth-test",
  };
}

function functionOf(state: State): string | undefined {
  const name = state.Parameters?.FunctionName;
  return typeof name === "string" ? /^\$\{Function:(.+)\}$/.exec(name)?.[1] : undefined;
}

/** Every state of a definition, nested ones included, with the states of its own scope. */
function allStates(workflow: (typeof WORKFLOWS)[number]) {
  return scopesOf(workflow.definition).flatMap((scope) =>
    Object.entries(scope.states).map(([name, state]) => ({
      name,
      state,
      scope: scope.states,
      path: scope.path,
    })),
  );
}

function reachable(states: Record<string, State>, from: string): Set<string> {
  const seen = new Set<string>();
  const queue = [from];
  while (queue.length > 0) {
    const name = queue.shift() ?? "";
    if (seen.has(name)) continue;
    seen.add(name);
    const state = states[name];
    if (state) queue.push(...successorsOf(state));
  }
  return seen;
}

function callsOf(states: Record<string, State>, names: Set<string>): Set<string | undefined> {
  return new Set(
    [...names].map((name) => states[name]).flatMap((state) => (state ? [functionOf(state)] : [])),
  );
}

function keysOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysOf);
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([key, item]) => [key, ...keysOf(item)]);
  }
  return [];
}

function stringsOf(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(stringsOf);
  return [];
}

describe.each(
  WORKFLOWS.map((workflow) => [workflow.name, workflow] as const),
)("workflow %s", (_, workflow) => {
  it("is valid Amazon States Language, with its placeholders and once they are filled", () => {
    // The validator writes defaults into what it is given: it gets copies.
    const raw = validator(structuredClone(workflow.definition));
    expect(raw.errors).toEqual([]);
    expect(raw.isValid).toBe(true);
    const filled = validator(structuredClone(substitute(workflow.definition, installationValues())));
    expect(filled.errors).toEqual([]);
    expect(filled.isValid).toBe(true);
  });

  it("bounds every Task and the whole execution in time", () => {
    expect(workflow.definition.TimeoutSeconds).toBeGreaterThan(0);
    const tasks = allStates(workflow).filter(({ state }) => state.Type === "Task");
    expect(tasks.length).toBeGreaterThan(0);
    for (const { name, state } of tasks) {
      const bounded =
        typeof state.TimeoutSeconds === "number" || typeof state.TimeoutSecondsPath === "string";
      expect(bounded, `${name} has no TimeoutSeconds`).toBe(true);
    }
  });

  it("gives each step at least the time its function may run", () => {
    for (const { name, state } of allStates(workflow)) {
      const fn = functionOf(state);
      if (!fn || state.TimeoutSeconds === undefined) continue;
      expect(state.TimeoutSeconds, name).toBeGreaterThanOrEqual(
        findFunction(fn)?.timeoutSeconds ?? Number.POSITIVE_INFINITY,
      );
    }
  });

  it("uses JSONPath only: no JSONata, no variables", () => {
    const keys = keysOf(workflow.definition);
    for (const forbidden of ["QueryLanguage", "Assign", "Variables", "Arguments", "Output"]) {
      expect(keys).not.toContain(forbidden);
    }
    expect(stringsOf(workflow.definition).filter((text) => text.includes("{%"))).toEqual([]);
  });

  it("names only state-machine-task functions of the manifest, exactly those it declares", () => {
    const placeholders = placeholdersOf(workflow.definition);
    const functions = placeholders
      .filter((name) => name.startsWith("Function:"))
      .map((name) => name.slice(9));
    for (const name of functions) {
      expect(findFunction(name)?.triggers, name).toContainEqual({ kind: "state-machine-task" });
    }
    expect(functions.sort()).toEqual([...workflow.functions].sort());
    const others = placeholders.filter((name) => !name.startsWith("Function:"));
    expect(others.sort()).toEqual([...workflow.placeholders].sort());
    for (const name of others) expect(Object.keys(RESOURCE_PLACEHOLDERS)).toContain(name);
  });

  it("retries transient Lambda errors with back-off on every Lambda step", () => {
    for (const { name, state } of allStates(workflow)) {
      if (!state.Resource?.startsWith("arn:aws:states:::lambda:invoke")) continue;
      const retry = state.Retry?.find((retrier) => retrier.ErrorEquals.includes("Lambda.ServiceException"));
      expect(retry?.ErrorEquals, name).toContain("Lambda.TooManyRequestsException");
      expect(retry?.BackoffRate, name).toBeGreaterThan(1);
      expect(retry?.MaxAttempts, name).toBeGreaterThan(1);
    }
  });

  it("ends the deployment truthfully and releases the service whatever step fails", () => {
    // A Task inside a Map iteration that ends the iteration is caught by its Map, checked here too.
    const tasks = allStates(workflow).filter(
      ({ state, scope }) =>
        (state.Type === "Map" &&
          Object.values(state.ItemProcessor?.States ?? {}).some(
            (inner) => inner.Type === "Task" && !inner.Catch,
          )) ||
        (state.Type === "Task" && !(state.End && !Object.values(scope).some((other) => other.Catch))),
    );
    for (const { name, state, scope } of tasks) {
      const fn = functionOf(state);
      if (fn === "finalize" || fn === "release-service") continue;
      const catchesAll = state.Catch?.find((catcher) => catcher.ErrorEquals.includes("States.ALL"));
      expect(catchesAll, `${name} catches no error`).toBeDefined();
      for (const catcher of state.Catch ?? []) {
        const after = reachable(scope, catcher.Next);
        const finalizers = [...after].filter((next) => scope[next] && functionOf(scope[next]) === "finalize");
        expect(finalizers.length, `${name} → ${catcher.Next} never finalizes`).toBeGreaterThan(0);
        for (const finalizer of finalizers) {
          expect(callsOf(scope, reachable(scope, finalizer)), `${finalizer} never releases`).toContain(
            "release-service",
          );
        }
      }
    }
  });

  it("finalizes with the error on the failure path, and a failed finalize still ends visibly", () => {
    for (const { name, state, scope } of allStates(workflow)) {
      if (functionOf(state) !== "finalize") continue;
      const payload = state.Parameters?.Payload as Record<string, unknown>;
      expect(
        Object.keys(payload).some((key) => key === "error.$" || key === "outcome.$"),
        name,
      ).toBe(true);
      expect(payload["deploymentId.$"]).toBe("$.deploymentId");
      for (const catcher of state.Catch ?? [])
        expect(scope[catcher.Next], `${name} → ${catcher.Next}`).toBeDefined();
      expect(state.Catch?.length, `${name} catches nothing`).toBeGreaterThan(0);
    }
  });
});

describe("the deploy workflow", () => {
  const deploy = WORKFLOWS.find((workflow) => workflow.name === "deploy");
  const states = deploy?.definition.States ?? {};
  /** The function or type of each state from the start, taking each Choice's Default unless `pick` names another. */
  const happyPath = (pick: (choice: string) => string | undefined = () => undefined) => {
    const path: (string | undefined)[] = [];
    let name: string | undefined = deploy?.definition.StartAt;
    while (name && path.length < 20) {
      const state: State | undefined = states[name];
      path.push(state ? (functionOf(state) ?? state.Type) : undefined);
      name = state?.Type === "Choice" ? (pick(name) ?? state.Default) : state?.Next;
    }
    return path;
  };

  it("builds through CodeBuild only when load-deployment says so", () => {
    const choice = states["Build needed?"];
    expect(choice?.Type).toBe("Choice");
    expect(choice?.Choices?.map((option) => option.Next)).toEqual(["Reuse revision", "Build", "Applied"]);
    const build = states.Build?.ItemProcessor?.States["Build image"];
    expect(states.Build?.Type).toBe("Map");
    expect(states.Build?.ItemsPath).toBe("$.deployment.Payload.build.items");
    expect(build?.Resource).toBe("arn:aws:states:::codebuild:startBuild.sync");
    expect(build?.Parameters?.ProjectName).toBe("${CodeBuildProject}");
    expect(choice?.Default).toBe("No build");
    // Built images are registered by prepare-resources; without a build, apply-service registers.
    expect(states.Build?.Next).toBe("Prepare resources");
    expect(states["Prepare resources"]?.Next).toBe("Apply service");
    expect(states["No build"]?.Next).toBe("Apply service");
    expect(states["No build"]).toMatchObject({
      Result: { Payload: { register: true } },
      ResultPath: "$.resources",
    });
    expect(states["Reuse revision"]?.Next).toBe("Apply service");
  });

  it("waits on a task token for as long as the health checks need, then reconciles once", () => {
    const wait = states["Wait for deployment"];
    expect(wait?.Resource).toBe("arn:aws:states:::lambda:invoke.waitForTaskToken");
    expect(wait?.TimeoutSecondsPath).toBe("$.deployment.Payload.waitTimeoutSeconds");
    expect(wait?.TimeoutSeconds).toBeUndefined();
    expect((wait?.Parameters?.Payload as Record<string, unknown>)["taskToken.$"]).toBe("$$.Task.Token");
    expect(wait?.Catch?.[0]).toMatchObject({ ErrorEquals: ["States.Timeout"], Next: "Reconcile" });
    expect(functionOf(states.Reconcile ?? { Type: "Pass" })).toBe("reconcile");
    expect(states.Reconcile?.Next).toBe("Wait answered");
    expect(wait?.Next).toBe("Wait answered");
  });

  it("waits out the stability window before success, undoes a cancel, and follows a rollback on a new token", () => {
    const answered = states["Wait answered"];
    expect(answered?.Type).toBe("Choice");
    expect(answered?.Choices).toEqual([
      { Variable: "$.outcome.Payload.status", StringEquals: "STABILIZING", Next: "Stability window" },
      { Variable: "$.outcome.Payload.status", StringEquals: "CANCELLING", Next: "Advance wait" },
      { Variable: "$.outcome.Payload.status", StringEquals: "WAITING", Next: "Wait for deployment" },
    ]);
    expect(answered?.Default).toBe("Finalize");
    expect(states["Stability window"]).toEqual({
      Type: "Wait",
      SecondsPath: "$.outcome.Payload.stabilitySeconds",
      Next: "Advance wait",
    });
    expect(functionOf(states["Advance wait"] ?? { Type: "Pass" })).toBe("advance-wait");
    expect(states["Advance wait"]?.ResultPath).toBe("$.outcome");
    expect(states["Advance wait"]?.Next).toBe("Wait answered");
  });

  it("goes from apply-service straight to finalize with the outcome when there is no ECS deployment (a batch job)", () => {
    expect(states["Apply service"]?.Next).toBe("ECS deployment to wait for?");
    const choice = states["ECS deployment to wait for?"];
    expect(choice?.Choices).toEqual([
      { Variable: "$.applied.Payload.outcome", IsPresent: true, Next: "Nothing to wait for" },
    ]);
    expect(choice?.Default).toBe("Wait for deployment");
    expect(states["Nothing to wait for"]).toMatchObject({
      Parameters: { "Payload.$": "$.applied.Payload.outcome" },
      ResultPath: "$.outcome",
      Next: "Finalize",
    });
  });

  it("has load-deployment apply a deploy that builds nothing, then waits on what it answered", () => {
    expect(states["Load deployment"]?.Parameters?.Payload).toMatchObject({ preflight: true, apply: true });
    const applied = states["Build needed?"]?.Choices?.find((option) => option.Next === "Applied");
    expect(applied).toEqual({ Variable: "$.deployment.Payload.applied", IsPresent: true, Next: "Applied" });
    // Where apply-service's answer goes, so the wait, reconcile and advance-wait read it the same way.
    expect(states.Applied).toEqual({
      Type: "Pass",
      Parameters: { "Payload.$": "$.deployment.Payload.applied" },
      ResultPath: "$.applied",
      Next: "ECS deployment to wait for?",
    });
    expect(states["Apply service"]?.ResultPath).toBe("$.applied");
    // load → choice → pass → choice → wait → choice → finalize → release → succeed: 9 transitions
    // without the stability window (12 with it), within the 15 allowed.
    expect(happyPath((choice) => (choice === "Build needed?" ? "Applied" : undefined))).toEqual([
      "load-deployment",
      "Choice",
      "Pass",
      "Choice",
      "wait-for-deployment",
      "Choice",
      "finalize",
      "release-service",
      "Succeed",
    ]);
  });

  it("goes load (with preflight) → apply (registering) → wait → finalize → release when load-deployment did not apply", () => {
    expect(happyPath()).toEqual([
      "load-deployment",
      "Choice",
      "Pass",
      "apply-service",
      "Choice",
      "wait-for-deployment",
      "Choice",
      "finalize",
      "release-service",
      "Succeed",
    ]);
  });
});

describe("the workflows together", () => {
  it("have distinct names", () => {
    const names = WORKFLOWS.map((workflow) => workflow.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining(["deploy", "delete-service", "delete-stack", "rollback", "refresh"]),
    );
  });

  it("use every state-machine-task function of the manifest", () => {
    const used = new Set(WORKFLOWS.flatMap((workflow) => workflow.functions));
    expect([...used].sort()).toEqual(
      stateMachineTaskFunctions()
        .map((fn) => fn.name)
        .sort(),
    );
  });
});

describe("substitute", () => {
  const deploy = WORKFLOWS.find((workflow) => workflow.name === "deploy");
  if (!deploy) throw new Error("no deploy workflow");

  it("fills every placeholder with its value and leaves the definition it was given unchanged", () => {
    const before = JSON.stringify(deploy.definition);
    const filled = substitute(deploy.definition, installationValues());
    expect(placeholdersOf(filled)).toEqual([]);
    expect(filled.States["Load deployment"]?.Parameters?.FunctionName).toBe(
      `arn:aws:lambda:${REGION}:${ACCOUNT}:function:berth-test-load-deployment`,
    );
    expect(filled.States.Build?.ItemProcessor?.States["Build image"]?.Parameters?.ProjectName).toBe(
      "berth-test-build",
    );
    expect(filled.States["Load deployment"]?.Parameters?.Payload).toEqual(
      deploy.definition.States["Load deployment"]?.Parameters?.Payload,
    );
    expect(JSON.stringify(deploy.definition)).toBe(before);
  });

  it("refuses a definition with a placeholder left without a value", () => {
    const { "Function:finalize": _, ...values } = installationValues();
    expect(() => substitute(deploy.definition, values)).toThrow(
      /no value for placeholders: \$\{Function:finalize\}/,
    );
    expect(() => substitute(deploy.definition, { ...installationValues(), CodeBuildProject: "" })).toThrow(
      /\$\{CodeBuildProject\}/,
    );
  });

  it("refuses placeholders and values it does not know", () => {
    const definition = structuredClone(deploy.definition);
    const load = definition.States["Load deployment"];
    if (!load?.Parameters) throw new Error("no load state");
    load.Parameters.FunctionName = "${Function:no-such-function}";
    expect(() => substitute(definition, installationValues())).toThrow(
      /unknown placeholders: \$\{Function:no-such-function\}/,
    );
    expect(() => substitute(deploy.definition, { ...installationValues(), Bucket: "b" })).toThrow(
      /unknown placeholders: \$\{Bucket\}/,
    );
  });

  it("refuses a value that would leave a placeholder behind", () => {
    expect(() =>
      substitute(deploy.definition, { ...installationValues(), CodeBuildProject: "${Cluster}" }),
    ).toThrow(/left after substitution/);
  });
});

describe("asl-validator, as these tests use it", () => {
  it("rejects a definition that goes to a state it does not have", () => {
    const definition = structuredClone(WORKFLOWS[0]?.definition);
    const first = definition?.States[definition.StartAt];
    if (!first) throw new Error("no first state");
    first.Next = "Nowhere";
    const result = validator(definition);
    expect(result.isValid).toBe(false);
    expect(result.errors.length).toBeGreaterThan(0);
  });
});
