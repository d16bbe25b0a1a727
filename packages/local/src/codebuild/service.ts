import { z } from "zod";
import { AwsError, type AwsJsonService, operation } from "../protocol.ts";
import type { Route } from "../server.ts";
import {
  type CodeBuildEngine,
  DEFAULT_TIMEOUT_MINUTES,
  durationInSeconds,
  LOG_GROUP,
  PROJECT_NAME,
} from "./engine.ts";
import type { BuildRecord } from "./store.ts";

const NonEmpty = z.string().min(1);
const PAGE_SIZE = 100;

/**
 * StartBuild's members that Berth Local acts on; the rest (buildspecOverride above all, which
 * only the AWS build runs) are accepted and ignored.
 */
const StartBuildInput = z.object({
  projectName: NonEmpty,
  environmentVariablesOverride: z
    .array(
      z.object({
        name: NonEmpty,
        value: z.string(),
        // Secrets and parameters would need resolving; Berth's builds send none.
        type: z
          .enum(["PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"])
          .refine((type) => type === "PLAINTEXT", "Berth Local supports only PLAINTEXT variables")
          .optional(),
      }),
    )
    .refine(
      (variables) => new Set(variables.map((variable) => variable.name)).size === variables.length,
      "each variable name may appear only once",
    )
    .optional(),
  buildspecOverride: z.string().optional(),
  timeoutInMinutesOverride: z.number().int().min(5).max(2160).optional(),
});
const BatchGetBuildsInput = z.object({ ids: z.array(NonEmpty).min(1).max(100) });
const StopBuildInput = z.object({ id: NonEmpty });
const BatchGetProjectsInput = z.object({ names: z.array(NonEmpty).min(1).max(100) });
const ListBuildsForProjectInput = z.object({
  projectName: NonEmpty,
  sortOrder: z.enum(["ASCENDING", "DESCENDING"]).optional(),
  nextToken: z.string().optional(),
});

/** The build environment as the project states it: this machine, not a container image. */
const ENVIRONMENT = {
  type: "LINUX_CONTAINER",
  image: "berth-local/host",
  computeType: "BUILD_GENERAL1_SMALL",
  privilegedMode: false,
  imagePullCredentialsType: "CODEBUILD",
} as const;

const seconds = (milliseconds: number) => milliseconds / 1000;

function projectNotFound(engine: CodeBuildEngine, name: string): AwsError {
  const arn = name.startsWith("arn:") ? name : engine.projectArn.replace(/[^/]+$/, name);
  return new AwsError("ResourceNotFoundException", `Project cannot be found: ${arn}`);
}

/** A build in CodeBuild's `Build` shape. */
function describeBuild(engine: CodeBuildEngine, build: BuildRecord): Record<string, unknown> {
  return {
    id: build.id,
    arn: build.arn,
    buildNumber: build.buildNumber,
    startTime: seconds(build.startTime),
    ...(build.endTime !== undefined ? { endTime: seconds(build.endTime) } : {}),
    currentPhase: build.currentPhase,
    buildStatus: build.buildStatus,
    projectName: build.projectName,
    phases: build.phases.map((phase) => ({
      phaseType: phase.phaseType,
      ...(phase.phaseStatus ? { phaseStatus: phase.phaseStatus } : {}),
      startTime: seconds(phase.startTime),
      ...(phase.endTime !== undefined
        ? {
            endTime: seconds(phase.endTime),
            durationInSeconds: durationInSeconds(phase.startTime, phase.endTime),
          }
        : {}),
      ...(phase.contexts ? { contexts: phase.contexts } : {}),
    })),
    source: { type: "NO_SOURCE" },
    environment: { ...ENVIRONMENT, environmentVariables: build.environmentVariables },
    logs: {
      groupName: LOG_GROUP,
      streamName: build.uuid,
      deepLink: engine.logLink(build.uuid),
      cloudWatchLogsArn: engine.logs.streamArn(LOG_GROUP, build.uuid),
      cloudWatchLogs: { status: "ENABLED", groupName: LOG_GROUP, streamName: build.uuid },
      s3Logs: { status: "DISABLED" },
    },
    timeoutInMinutes: build.timeoutInMinutes,
    buildComplete: build.buildStatus !== "IN_PROGRESS",
    ...(build.exportedEnvironmentVariables
      ? { exportedEnvironmentVariables: build.exportedEnvironmentVariables }
      : {}),
  };
}

/** The one project in CodeBuild's `Project` shape. */
function describeProject(engine: CodeBuildEngine): Record<string, unknown> {
  return {
    name: PROJECT_NAME,
    arn: engine.projectArn,
    description: "Berth Local's image builds: the buildpacks' local build, run on this machine",
    source: { type: "NO_SOURCE" },
    artifacts: { type: "NO_ARTIFACTS" },
    environment: { ...ENVIRONMENT, environmentVariables: [] },
    timeoutInMinutes: DEFAULT_TIMEOUT_MINUTES,
    created: seconds(engine.projectCreated),
    lastModified: seconds(engine.projectCreated),
    logsConfig: {
      cloudWatchLogs: { status: "ENABLED", groupName: LOG_GROUP },
      s3Logs: { status: "DISABLED" },
    },
    concurrentBuildLimit: engine.concurrency,
    projectVisibility: "PRIVATE",
    tags: [],
  };
}

/**
 * Berth Local's CodeBuild API for its one project, `berth-build`: StartBuild runs the build
 * contract's local build (see CodeBuildEngine), BatchGetBuilds and ListBuildsForProject follow it.
 */
export function codeBuildService(engine: CodeBuildEngine): AwsJsonService {
  return {
    name: "codebuild",
    targetPrefix: "CodeBuild_20161006",
    validationError: "InvalidInputException",
    operations: {
      StartBuild: operation(StartBuildInput, (input) => {
        if (!engine.isProject(input.projectName)) throw projectNotFound(engine, input.projectName);
        const build = engine.start({
          environmentVariables: (input.environmentVariablesOverride ?? []).map((variable) => ({
            name: variable.name,
            value: variable.value,
            type: "PLAINTEXT",
          })),
          ...(input.timeoutInMinutesOverride !== undefined
            ? { timeoutInMinutes: input.timeoutInMinutesOverride }
            : {}),
        });
        return { build: describeBuild(engine, build) };
      }),

      BatchGetBuilds: operation(BatchGetBuildsInput, (input) => {
        const builds: Record<string, unknown>[] = [];
        const buildsNotFound: string[] = [];
        for (const id of new Set(input.ids)) {
          const build = engine.get(id);
          if (build) builds.push(describeBuild(engine, build));
          else buildsNotFound.push(id);
        }
        return { builds, ...(buildsNotFound.length > 0 ? { buildsNotFound } : {}) };
      }),

      StopBuild: operation(StopBuildInput, (input) => {
        const build = engine.stop(input.id);
        if (!build) throw new AwsError("ResourceNotFoundException", `Build ${input.id} does not exist`);
        return { build: describeBuild(engine, build) };
      }),

      BatchGetProjects: operation(BatchGetProjectsInput, (input) => {
        const names = [...new Set(input.names)];
        const found = names.filter((name) => engine.isProject(name));
        const projectsNotFound = names.filter((name) => !engine.isProject(name));
        return {
          projects: found.length > 0 ? [describeProject(engine)] : [],
          ...(projectsNotFound.length > 0 ? { projectsNotFound } : {}),
        };
      }),

      ListBuildsForProject: operation(ListBuildsForProjectInput, (input) => {
        if (!engine.isProject(input.projectName)) throw projectNotFound(engine, input.projectName);
        const ids = engine.list().map((build) => build.id);
        if ((input.sortOrder ?? "DESCENDING") === "DESCENDING") ids.reverse();
        const start = input.nextToken === undefined ? 0 : Number(input.nextToken);
        if (!Number.isInteger(start) || start < 0 || start > ids.length)
          throw new AwsError("InvalidInputException", "The nextToken is not valid.");
        const end = start + PAGE_SIZE;
        return {
          ids: ids.slice(start, end),
          ...(end < ids.length ? { nextToken: String(end) } : {}),
        };
      }),
    },
  };
}

const LOG_PATH = /^\/_local\/codebuild\/logs\/([0-9a-f-]{36})$/;

/** `GET /_local/codebuild/logs/<uuid>`: a build's log as plain text, where its `logs.deepLink` points. */
export function codeBuildLogsRoute(engine: CodeBuildEngine): Route {
  return (request, response) => {
    const match = request.method === "GET" ? LOG_PATH.exec(request.url ?? "") : null;
    if (!match?.[1]) return false;
    const lines = engine.logLines(match[1]);
    const body =
      lines === undefined ? `no log for build ${match[1]}\n` : lines.map((line) => `${line}\n`).join("");
    response.writeHead(lines === undefined ? 404 : 200, { "content-type": "text/plain; charset=utf-8" });
    response.end(body);
    return true;
  };
}
