import { useState } from "preact/hooks";
import type { ApplyResponse, Deployment, ServiceView } from "../api.ts";
import { useConsole } from "../context.ts";
import { formatTime } from "../format.ts";
import { Highlighted } from "../highlight.tsx";
import { useLoad } from "../hooks.ts";
import { Crumbs, Link, paths } from "../router.tsx";
import { ErrorBox, ListOf, Section, StatusBadge, TableHead } from "../ui.tsx";

interface ServiceRow {
  view: ServiceView;
  newest: Deployment | undefined;
}

/** Where a web service is reached from, as its spec says (`loadBalancing`). */
function ingressOf(spec: Record<string, unknown>): string | undefined {
  const balancing = spec.loadBalancing as
    | { type?: unknown; properties?: Record<string, unknown> }
    | undefined;
  if (!balancing || typeof balancing.type !== "string") return undefined;
  const target = balancing.properties?.containerPort ?? balancing.properties?.loadBalancerName;
  return target === undefined ? balancing.type : `${balancing.type} → ${String(target)}`;
}

export function StackPage({ stack }: { stack: string }) {
  const { client } = useConsole();
  const loaded = useLoad(async () => {
    const detail = await client.getStack(stack);
    const rows = await Promise.all(
      detail.services.map(async (service): Promise<ServiceRow> => {
        const [view, page] = await Promise.all([
          client.getService(stack, service.name),
          client.listDeployments(stack, service.name, { limit: 1 }),
        ]);
        return { view, newest: page.deployments[0] };
      }),
    );
    return { detail, rows };
  }, [client, stack]);

  return (
    <main id="main">
      <Crumbs stack={stack} />
      <h1>Stack {stack}</h1>
      <ErrorBox error={loaded.error} title={`Could not read stack ${stack}`} />
      {loaded.loading && !loaded.data && <p role="status">Loading…</p>}
      {loaded.data && (
        <>
          <p class="meta">
            Stage {loaded.data.detail.stack.stage} · applied {formatTime(loaded.data.detail.stack.updatedAt)}{" "}
            · file <code>{loaded.data.detail.stack.stackFileHash.slice(0, 12)}</code>
          </p>
          <Section title="Services">
            <ServicesTable stack={stack} rows={loaded.data.rows} />
          </Section>
          <Section title="Ingress">
            <IngressList rows={loaded.data.rows} />
          </Section>
          <Section title="Plan a stack file">
            <DryRun stack={stack} />
          </Section>
          <Section title="Stack file as applied">
            <Highlighted source={loaded.data.detail.stack.stackFile} label={`Stack file of ${stack}`} />
          </Section>
        </>
      )}
    </main>
  );
}

function ServicesTable({ stack, rows }: { stack: string; rows: ServiceRow[] }) {
  if (rows.length === 0) return <p>This stack has no services.</p>;
  return (
    <table>
      <TableHead
        columns={[
          "Service",
          "Type",
          "Status",
          "Tasks (running/desired)",
          "Revision",
          "Image digest",
          "Address",
        ]}
      />
      <tbody>
        {rows.map(({ view, newest }) => (
          <tr key={view.name}>
            <th scope="row">
              <Link
                href={
                  view.type === "batch-job" ? paths.job(stack, view.name) : paths.service(stack, view.name)
                }
              >
                {view.name}
              </Link>
            </th>
            <td>{view.type}</td>
            <td>
              <StatusBadge status={view.status} />
            </td>
            <td>
              {view.tasks.running ?? "–"}/{view.tasks.desired ?? "–"}
            </td>
            <td>{view.liveRevision?.revision ?? "—"}</td>
            <td>
              {newest && Object.keys(newest.imageDigests).length > 0
                ? Object.entries(newest.imageDigests).map(([container, digest]) => (
                    <div key={container}>
                      {container}: <code title={digest}>{digest.slice(0, 19)}…</code>
                    </div>
                  ))
                : "—"}
            </td>
            <td>{view.address ? <code>{view.address}</code> : "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function IngressList({ rows }: { rows: ServiceRow[] }) {
  const entries = rows
    .map((row) => ({ name: row.view.name, ingress: ingressOf(row.view.spec) }))
    .filter((entry) => entry.ingress !== undefined);
  if (entries.length === 0) return <p>No service of this stack is reached through an ingress resource.</p>;
  return (
    <ul>
      {entries.map((entry) => (
        <li key={entry.name}>
          {entry.name}: {entry.ingress}
        </li>
      ))}
    </ul>
  );
}

/** Drop a stack file (or choose one): the API's dry run says what an apply would change. */
function DryRun({ stack }: { stack: string }) {
  const { client } = useConsole();
  const [plan, setPlan] = useState<ApplyResponse | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [fileName, setFileName] = useState<string | undefined>(undefined);

  const planFile = async (file: File | undefined) => {
    if (!file) return;
    setBusy(true);
    setError(undefined);
    setPlan(undefined);
    setFileName(file.name);
    try {
      setPlan(await client.planStack(stack, await file.text()));
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section
      class={`dropzone${dragging ? " dragging" : ""}`}
      aria-label="Drop a stack file to plan it"
      onDragOver={(event) => {
        event.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(event) => {
        event.preventDefault();
        setDragging(false);
        void planFile(event.dataTransfer?.files[0]);
      }}
    >
      <p>Drop a stack file here to see what applying it would change. Nothing is applied.</p>
      <label for="plan-file">Or choose a stack file</label>{" "}
      <input
        id="plan-file"
        type="file"
        accept=".yml,.yaml,.json,application/yaml,application/json"
        onChange={(event) => void planFile((event.target as HTMLInputElement).files?.[0])}
      />
      {busy && <p role="status">Planning {fileName}…</p>}
      <ErrorBox error={error} title={`The plan of ${fileName ?? "the file"} failed`} />
      {plan && <PlanTable plan={plan} fileName={fileName} />}
    </section>
  );
}

function PlanTable({ plan, fileName }: { plan: ApplyResponse; fileName: string | undefined }) {
  return (
    <table>
      <caption>
        Plan of {fileName ?? "the file"} (dry run, file <code>{plan.stackFileHash.slice(0, 12)}</code>)
      </caption>
      <TableHead columns={["Service", "Type", "Change", "What changes"]} />
      <tbody>
        {plan.plan.map((entry) => (
          <tr key={entry.service}>
            <th scope="row">{entry.service}</th>
            <td>{entry.type}</td>
            <td>
              <strong>{entry.change}</strong>
            </td>
            <td>
              {entry.reason && <p>{entry.reason}</p>}
              <ListOf items={entry.changes} keyOf={(change) => change.path}>
                {(change) => (
                  <>
                    <code>{change.path}</code>: {show(change.before)} → {show(change.after)}
                  </>
                )}
              </ListOf>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function show(value: unknown): string {
  return value === undefined ? "(none)" : JSON.stringify(value);
}
