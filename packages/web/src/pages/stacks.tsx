import { useEffect, useLayoutEffect, useState } from "preact/hooks";
import type { ServiceView, StackDetail, StackSummary } from "../api.ts";
import { useConsole } from "../context.ts";
import { Link, navigate, paths } from "../router.tsx";
import { ErrorBox, formatTime, Pager, StatusBadge, TableHead, useLoad, usePages } from "../ui.tsx";

export const PAGE_SIZES = [25, 50, 100, 200] as const;

/** A stack's services with their live task counts, as far as they have arrived. */
export interface StackServices {
  detail?: StackDetail;
  views: Record<string, ServiceView>;
  error?: unknown;
}

export function StacksPage(props: { search: URLSearchParams }) {
  const { client } = useConsole();
  const perPage = Number(props.search.get("per") ?? "25");
  const pageSize = (PAGE_SIZES as readonly number[]).includes(perPage) ? perPage : 25;
  const list = useLoad(async () => {
    const { stacks } = await client.listStacks();
    performance.mark("berth:stacks-data");
    return stacks;
  }, [client]);
  const stacks = list.data ?? [];
  const paging = usePages(stacks, pageSize);
  const services = useStackServices(paging.shown.map((stack) => stack.name));

  return (
    <main id="main">
      <h1>Stacks</h1>
      <ErrorBox error={list.error} title="Could not list the stacks" />
      {list.loading && !list.data && <p role="status">Loading stacks…</p>}
      {list.data && stacks.length === 0 && (
        <p>
          No stacks yet. Apply a stack file with <code>berth deploy</code>, or{" "}
          <code>PUT /v1/stacks/&lt;name&gt;</code>.
        </p>
      )}
      {stacks.length > 0 && (
        <>
          <div class="toolbar">
            <label for="per-page">Stacks per page</label>
            <select
              id="per-page"
              value={String(pageSize)}
              onChange={(event) =>
                navigate(`${paths.stacks()}?per=${(event.target as HTMLSelectElement).value}`, {
                  replace: true,
                })
              }
            >
              {PAGE_SIZES.map((size) => (
                <option key={size} value={String(size)}>
                  {size}
                </option>
              ))}
            </select>
            <span>{stacks.length} stacks</span>
          </div>
          <StacksTable stacks={paging.shown} services={services} />
          <Pager label="Stacks" page={paging.page} pages={paging.pages} setPage={paging.setPage} />
        </>
      )}
    </main>
  );
}

/** Each shown stack's services (GET /v1/stacks/{stack}) and their task counts (GET …/services/{service}). */
function useStackServices(names: string[]): Record<string, StackServices> {
  const { client } = useConsole();
  const [byStack, setByStack] = useState<Record<string, StackServices>>({});
  const key = names.join("\n");
  useEffect(() => {
    let current = true;
    const put = (stack: string, update: (previous: StackServices) => StackServices) =>
      current && setByStack((all) => ({ ...all, [stack]: update(all[stack] ?? { views: {} }) }));
    void runLimited(names, 4, async (stack) => {
      try {
        const detail = await client.getStack(stack);
        put(stack, (previous) => ({ ...previous, detail }));
        await Promise.all(
          detail.services.map(async (service) => {
            const view = await client.getService(stack, service.name);
            put(stack, (previous) => ({ ...previous, views: { ...previous.views, [service.name]: view } }));
          }),
        );
      } catch (error) {
        put(stack, (previous) => ({ ...previous, error }));
      }
    });
    return () => {
      current = false;
    };
  }, [client, key]);
  return byStack;
}

async function runLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function StacksTable(props: { stacks: StackSummary[]; services: Record<string, StackServices> }) {
  useLayoutEffect(() => {
    if (performance.getEntriesByName("berth:stacks-data").length > 0) {
      performance.measure("berth:stacks-render", "berth:stacks-data");
      performance.clearMarks("berth:stacks-data");
    }
  }, [props.stacks]);
  return (
    <table>
      <caption class="visually-hidden">Stacks, with each service's status and tasks</caption>
      <TableHead columns={["Stack", "Stage", "Services (status, running/desired tasks)", "Updated"]} />
      <tbody>
        {props.stacks.map((stack) => (
          <tr key={stack.name}>
            <th scope="row">
              <Link href={paths.stack(stack.name)}>{stack.name}</Link>
            </th>
            <td>{stack.stage}</td>
            <td>
              <ServiceCells stack={stack.name} services={props.services[stack.name]} />
            </td>
            <td>{formatTime(stack.updatedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ServiceCells({ stack, services }: { stack: string; services: StackServices | undefined }) {
  if (services?.error) return <span class="muted">services could not be read</span>;
  if (!services?.detail) return <span class="muted">…</span>;
  if (services.detail.services.length === 0) return <span class="muted">no services</span>;
  return (
    <ul class="inline-list">
      {services.detail.services.map((service) => {
        const tasks = services.views[service.name]?.tasks;
        return (
          <li key={service.name}>
            <Link
              href={
                service.type === "batch-job"
                  ? paths.job(stack, service.name)
                  : paths.service(stack, service.name)
              }
            >
              {service.name}
            </Link>{" "}
            <StatusBadge status={service.status} />{" "}
            <span class="tasks">{tasks ? `${tasks.running ?? "–"}/${tasks.desired ?? "–"} tasks` : ""}</span>
          </li>
        );
      })}
    </ul>
  );
}
