import { useEffect, useRef, useState } from "preact/hooks";
import {
  type CancelResponse,
  type Deployment,
  type DeploymentWithEvents,
  FINAL_STATUSES,
  type LogEvent,
  type ServiceView,
} from "../api.ts";
import { useConsole } from "../context.ts";
import { formatDuration, formatTime } from "../format.ts";
import { useLoad, usePoll } from "../hooks.ts";
import { CursorPager, useCursorPages } from "../paging.tsx";
import { Crumbs } from "../router.tsx";
import { allows } from "../session.ts";
import { ConfirmButton, ErrorBox, Notice, Section, StatusBadge, TableHead, TextField } from "../ui.tsx";

/** How often running things are asked about again; the ceiling is every 2 s. */
export const POLL_MS = 2000;
/** While nothing runs, the page still notices a deployment someone else starts. */
const IDLE_POLL_MS = 10_000;
const DEPLOYMENTS_PER_PAGE = 10;

export function ServicePage({ stack, service }: { stack: string; service: string }) {
  const { client, session } = useConsole();
  const view = useLoad(() => client.getService(stack, service), [client, stack, service]);
  const pages = useCursorPages();
  const deployments = useLoad(
    () =>
      client.listDeployments(stack, service, {
        limit: DEPLOYMENTS_PER_PAGE,
        ...(pages.cursor ? { cursor: pages.cursor } : {}),
      }),
    [client, stack, service, pages.cursor],
  );
  const [opened, setOpened] = useState<string | undefined>(undefined);
  const list = deployments.data?.deployments ?? [];
  const running =
    list.some((deployment) => !FINAL_STATUSES.has(deployment.status)) || view.data?.status === "DEPLOYING";
  const refresh = () => {
    view.reload();
    deployments.reload();
  };
  // While something runs, the page follows it closely: the service's counts and the deployments' statuses.
  usePoll(
    async () => {
      refresh();
    },
    running ? POLL_MS : IDLE_POLL_MS,
    true,
  );
  const shown = opened ?? list[0]?.id;
  const canDeploy = allows(session, "deploy");

  return (
    <main id="main">
      <Crumbs stack={stack} name={service} />
      <h1>Service {service}</h1>
      <ErrorBox error={view.error} title={`Could not read service ${stack}/${service}`} />
      {view.data && <Overview view={view.data} />}
      {view.data && canDeploy && <Actions view={view.data} deployments={list} onRequested={refresh} />}
      <Section title="Deployments">
        <ErrorBox error={deployments.error} title="Could not list the deployments" />
        {deployments.loading && !deployments.data && <p role="status">Loading deployments…</p>}
        {deployments.data && list.length === 0 && <p>No deployments yet.</p>}
        {list.length > 0 && (
          <DeploymentsTable
            deployments={list}
            opened={shown}
            onOpen={setOpened}
            canDeploy={canDeploy}
            stack={stack}
            service={service}
            onRequested={refresh}
          />
        )}
        <CursorPager label="Deployments" pages={pages} nextCursor={deployments.data?.nextCursor} />
      </Section>
      {shown && (
        <Section title="Timeline">
          <Timeline id={shown} stack={stack} service={service} onEnd={refresh} />
        </Section>
      )}
      <Section title="Logs">
        <Logs stack={stack} service={service} />
      </Section>
    </main>
  );
}

function Overview({ view }: { view: ServiceView }) {
  return (
    <dl class="facts">
      <dt>Status</dt>
      <dd>
        <StatusBadge status={view.status} />
      </dd>
      <dt>Type</dt>
      <dd>{view.type}</dd>
      <dt>Tasks</dt>
      <dd>
        {view.tasks.running ?? "–"} running of {view.tasks.desired ?? "–"} desired
        {view.scaling ? ` (scaling ${view.scaling.min} to ${view.scaling.max})` : ""}
      </dd>
      <dt>Revision</dt>
      <dd>
        {view.liveRevision
          ? `${view.liveRevision.revision ?? "?"} (${view.liveRevision.taskDefinitionArn})`
          : "—"}
      </dd>
      <dt>Address</dt>
      <dd>{view.address ? <code>{view.address}</code> : "—"}</dd>
      {view.rollout && (
        <>
          <dt>ECS rollout</dt>
          <dd>
            {view.rollout.rolloutState ?? "—"}: {view.rollout.running} running, {view.rollout.healthy}{" "}
            healthy, {view.rollout.stopped} stopped
          </dd>
        </>
      )}
      {view.latestEvent && (
        <>
          <dt>Latest ECS event</dt>
          <dd>
            {formatTime(view.latestEvent.at)}: {view.latestEvent.message}
          </dd>
        </>
      )}
    </dl>
  );
}

function Actions(props: { view: ServiceView; deployments: Deployment[]; onRequested: () => void }) {
  const { client } = useConsole();
  const { view } = props;
  const [container, setContainer] = useState("");
  const [image, setImage] = useState("");
  const [min, setMin] = useState(String(view.scaling?.min ?? 1));
  const [max, setMax] = useState(String(view.scaling?.max ?? 1));
  const [done, setDone] = useState<string | undefined>(undefined);
  const requested = (what: string) => (result: unknown) => {
    const id = (result as { deployment?: { id: string } } | undefined)?.deployment?.id;
    setDone(id ? `${what}: deployment ${id} requested.` : `${what}: requested.`);
    props.onRequested();
  };
  const active = view.activeDeployment;
  return (
    <Section title="Actions">
      <div class="action-row">
        <ConfirmButton
          label="Redeploy"
          question={`Deploy ${view.name} again with its current spec?`}
          onConfirm={() => client.redeploy(view.stack, view.name)}
          onDone={requested("Redeploy")}
        />
        <ConfirmButton
          label="Redeploy with an image"
          question={`Run ${view.name} from another image? The container's packaging becomes prebuilt-image.`}
          onConfirm={() => {
            if (!container.trim() || !image.trim())
              return Promise.reject(new Error("give the container name and the image"));
            return client.redeploy(view.stack, view.name, { [container.trim()]: image.trim() });
          }}
          onDone={requested("Redeploy with an image")}
        >
          <div class="fields">
            <TextField id="image-container" label="Container" value={container} onText={setContainer} />
            <TextField
              id="image-ref"
              label="Image"
              value={image}
              placeholder="registry/repository:tag"
              onText={setImage}
            />
          </div>
        </ConfirmButton>
        <ConfirmButton
          label="Scale"
          question={`Change the task counts of ${view.name}?`}
          onConfirm={() => client.scale(view.stack, view.name, { min: Number(min), max: Number(max) })}
          onDone={requested("Scale")}
        >
          <div class="fields">
            {(
              [
                ["scale-min", "Minimum tasks", min, setMin],
                ["scale-max", "Maximum tasks", max, setMax],
              ] as const
            ).map(([id, label, value, onText]) => (
              <TextField
                key={id}
                id={id}
                label={label}
                type="number"
                min={1}
                max={1000}
                value={value}
                onText={onText}
              />
            ))}
          </div>
        </ConfirmButton>
        {active && !FINAL_STATUSES.has(active.status) && (
          <ConfirmButton
            label="Cancel the running deployment"
            question={`Cancel deployment ${active.id} (${active.status})? A rollout already under way is undone.`}
            onConfirm={() => client.cancel(active.id)}
            onDone={(result) => {
              const answer = result as CancelResponse;
              setDone(
                answer.outcome === "cancelled"
                  ? `Deployment ${answer.deployment.id} cancelled.`
                  : `Cancelling deployment ${answer.deployment.id}: the rollout under way is being undone.`,
              );
              props.onRequested();
            }}
          />
        )}
      </div>
      <Notice text={done} />
    </Section>
  );
}

function DeploymentsTable(props: {
  deployments: Deployment[];
  opened: string | undefined;
  onOpen: (id: string) => void;
  canDeploy: boolean;
  stack: string;
  service: string;
  onRequested: () => void;
}) {
  const { client } = useConsole();
  const newestGood = props.deployments.find((deployment) => deployment.status === "SUCCEEDED")?.id;
  return (
    <table>
      <caption class="visually-hidden">Deployments of {props.service}, newest first</caption>
      <TableHead
        columns={["Deployment", "Status", "Action", "Trigger", "By", "Requested", "Duration", "Reason", ""]}
      />
      <tbody>
        {props.deployments.map((deployment) => (
          <tr key={deployment.id} class={deployment.id === props.opened ? "selected" : undefined}>
            <th scope="row">
              <code>{deployment.id}</code>
            </th>
            <td>
              <StatusBadge status={deployment.status} />
            </td>
            <td>{deployment.parameters.action}</td>
            <td>{deployment.trigger}</td>
            <td>{deployment.requestedBy ?? deployment.approvedBy ?? <span class="muted">–</span>}</td>
            <td>{formatTime(deployment.createdAt)}</td>
            <td>{formatDuration(deployment.startedAt ?? deployment.createdAt, deployment.finishedAt)}</td>
            <td class="reason">{deployment.reason}</td>
            <td class="row-actions">
              <button
                type="button"
                aria-pressed={deployment.id === props.opened}
                onClick={() => props.onOpen(deployment.id)}
              >
                Timeline<span class="visually-hidden"> of {deployment.id}</span>
              </button>
              {props.canDeploy && deployment.status === "SUCCEEDED" && deployment.id !== newestGood && (
                <ConfirmButton
                  label={`Roll back to ${deployment.id}`}
                  question={`Return ${props.service} to what deployment ${deployment.id} ran?`}
                  onConfirm={() => client.rollback(props.stack, props.service, deployment.id)}
                  onDone={props.onRequested}
                />
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * One deployment's events, asked again every 2 s with If-None-Match while it runs (an unchanged
 * deployment costs a 304), and no more once it has ended.
 */
export function Timeline(props: { id: string; stack: string; service: string; onEnd?: () => void }) {
  const { client } = useConsole();
  const [state, setState] = useState<{ data?: DeploymentWithEvents; etag?: string; error?: unknown }>({});
  const etagRef = useRef<string | undefined>(undefined);
  /** Seen running: its end is news, and the page around it is read again. */
  const runningRef = useRef(false);
  const read = async (id: string) => {
    try {
      const answer = await client.getDeployment(id, etagRef.current);
      if (answer.notModified) return;
      etagRef.current = answer.etag;
      setState({ data: answer.body, ...(answer.etag ? { etag: answer.etag } : {}) });
      const ended = FINAL_STATUSES.has(answer.body.deployment.status);
      if (!ended) runningRef.current = true;
      else if (runningRef.current) {
        runningRef.current = false;
        props.onEnd?.();
      }
    } catch (error) {
      setState((previous) => ({ ...previous, error }));
    }
  };
  useEffect(() => {
    etagRef.current = undefined;
    runningRef.current = false;
    setState({});
    void read(props.id);
  }, [props.id]);
  const deployment = state.data?.deployment;
  const running = deployment !== undefined && !FINAL_STATUSES.has(deployment.status);
  usePoll(() => read(props.id), POLL_MS, running);
  if (state.error && !state.data)
    return <ErrorBox error={state.error} title={`Could not read deployment ${props.id}`} />;
  if (!deployment || !state.data) return <p role="status">Loading deployment {props.id}…</p>;
  const failed = deployment.status === "FAILED" || deployment.status === "ROLLED_BACK";
  return (
    <div class="timeline">
      <p aria-live="polite">
        Deployment <code>{deployment.id}</code>: <StatusBadge status={deployment.status} />{" "}
        {running
          ? "(following live)"
          : `after ${formatDuration(deployment.startedAt ?? deployment.createdAt, deployment.finishedAt)}`}
      </p>
      <p class="reason">{deployment.reason}</p>
      <ErrorBox error={state.error} title="The timeline could not be updated" />
      <ol class="events">
        {state.data.events.map((event) => (
          <li key={event.sequence}>
            <time dateTime={event.at}>{formatTime(event.at)}</time> <strong>{event.type}</strong>{" "}
            {event.message}
            <EventEvidence data={event.data} />
          </li>
        ))}
      </ol>
      {failed && (
        <FailureLogs
          stack={props.stack}
          service={props.service}
          from={deployment.createdAt}
          to={deployment.finishedAt}
        />
      )}
    </div>
  );
}

/** The evidence a failed task left: its health check's output and its last log lines. */
function EventEvidence({ data }: { data: Record<string, unknown> | undefined }) {
  if (!data) return null;
  const health = typeof data.healthCheckOutput === "string" ? data.healthCheckOutput : undefined;
  const lines = Array.isArray(data.logLines)
    ? data.logLines.filter((line): line is string => typeof line === "string")
    : [];
  if (!health && lines.length === 0) return null;
  return (
    <div class="evidence">
      {health && (
        <>
          <p>Failing health check output:</p>
          <pre>{health}</pre>
        </>
      )}
      {lines.length > 0 && (
        <>
          <p>Last log lines of the task:</p>
          <pre>{lines.join("\n")}</pre>
        </>
      )}
    </div>
  );
}

/** The service's log lines around a failed deployment. */
function FailureLogs(props: { stack: string; service: string; from: string; to: string | undefined }) {
  const { client } = useConsole();
  const logs = useLoad(
    () => client.logs(props.stack, props.service, { since: props.from, limit: 1000 }),
    [client, props.from],
  );
  const until = props.to ? Date.parse(props.to) + 5000 : Number.POSITIVE_INFINITY;
  const lines = (logs.data?.events ?? []).filter((event) => Date.parse(event.timestamp) <= until).slice(-20);
  if (logs.error)
    return <ErrorBox error={logs.error} title="Could not read the logs of the failed deployment" />;
  if (lines.length === 0) return null;
  return (
    <>
      <p>Last log lines while it ran:</p>
      <pre class="logs">{lines.map((event) => `${event.timestamp} ${event.message}`).join("\n")}</pre>
    </>
  );
}

const SINCE = ["15m", "1h", "6h", "1d", "7d"] as const;

/** Log lines, oldest first; following asks every 2 s for what came after the last one. */
export function Logs({ stack, service }: { stack: string; service: string }) {
  const { client } = useConsole();
  const [since, setSince] = useState<string>("1h");
  const [follow, setFollow] = useState(false);
  const [events, setEvents] = useState<LogEvent[]>([]);
  const [nextToken, setNextToken] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const box = useRef<HTMLPreElement>(null);

  const append = (more: LogEvent[]) =>
    setEvents((current) => {
      const seen = new Set(current.map(eventKey));
      return [...current, ...more.filter((event) => !seen.has(eventKey(event)))];
    });

  useEffect(() => {
    let current = true;
    setLoading(true);
    setEvents([]);
    client.logs(stack, service, { since, limit: 200 }).then(
      (page) => {
        if (!current) return;
        setEvents(page.events);
        setNextToken(page.nextToken);
        setError(undefined);
        setLoading(false);
      },
      (caught: unknown) => {
        if (!current) return;
        setError(caught);
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [client, stack, service, since]);

  usePoll(
    async () => {
      const last = events[events.length - 1];
      try {
        let token: string | undefined;
        do {
          const page = await client.logs(stack, service, {
            since: last ? last.timestamp : since,
            limit: 200,
            ...(token ? { nextToken: token } : {}),
          });
          append(page.events);
          token = page.nextToken;
        } while (token);
        setError(undefined);
      } catch (caught) {
        setError(caught);
      }
    },
    POLL_MS,
    follow,
  );

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [events, follow]);

  return (
    <div class="logs-panel">
      <div class="toolbar">
        <label for="logs-since">Since</label>
        <select
          id="logs-since"
          value={since}
          onChange={(event) => setSince((event.target as HTMLSelectElement).value)}
        >
          {SINCE.map((value) => (
            <option key={value} value={value}>
              {value}
            </option>
          ))}
        </select>
        <input
          id="logs-follow"
          type="checkbox"
          checked={follow}
          onChange={(event) => setFollow((event.target as HTMLInputElement).checked)}
        />
        <label for="logs-follow">Follow (ask for new lines every 2 s)</label>
      </div>
      <ErrorBox error={error} title="Could not read the logs" />
      {loading && <p role="status">Loading logs…</p>}
      {!loading && events.length === 0 && <p>No log lines in this period.</p>}
      {events.length > 0 && (
        <section aria-label={`Log lines of ${service}`}>
          {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard */}
          <pre class="logs" ref={box} tabIndex={0}>
            {events.map((event) => `${event.timestamp} ${event.message}`).join("\n")}
          </pre>
        </section>
      )}
      {nextToken && !follow && (
        <button
          type="button"
          onClick={async () => {
            try {
              const page = await client.logs(stack, service, { since, limit: 200, nextToken });
              append(page.events);
              setNextToken(page.nextToken);
            } catch (caught) {
              setError(caught);
            }
          }}
        >
          More log lines
        </button>
      )}
    </div>
  );
}

function eventKey(event: LogEvent): string {
  return `${event.timestamp}\u0000${event.logStream}\u0000${event.message}`;
}
