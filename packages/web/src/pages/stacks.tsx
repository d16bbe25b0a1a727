import { useLayoutEffect } from "preact/hooks";
import type { ListedStack } from "../api.ts";
import { useConsole } from "../context.ts";
import { formatTime, warmTimeFormat } from "../format.ts";
import { useLoad } from "../hooks.ts";
import { Pager, usePages } from "../paging.tsx";
import { Link, navigate, paths } from "../router.tsx";
import { ErrorBox, TableHead, tone } from "../ui.tsx";

const PAGE_SIZES = [25, 50, 100, 200] as const;

export function StacksPage(props: { search: URLSearchParams }) {
  const { client } = useConsole();
  const perPage = Number(props.search.get("per") ?? "25");
  const pageSize = (PAGE_SIZES as readonly number[]).includes(perPage) ? perPage : 25;
  const list = useLoad(async () => {
    // One request: each stack carries its services' statuses and task counts (services=true).
    const request = client.listStacks();
    // Once the request is on its way (a task later), build the date formatter the rows need while
    // it travels, rather than in the render.
    setTimeout(warmTimeFormat, 0);
    const { stacks } = await request;
    performance.mark("berth:stacks-data");
    return stacks;
  }, [client]);
  const stacks = list.data ?? [];
  const paging = usePages(stacks, pageSize);

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
          <StacksTable stacks={paging.shown} />
          <Pager label="Stacks" page={paging.page} pages={paging.pages} setPage={paging.setPage} />
        </>
      )}
    </main>
  );
}

function StacksTable(props: { stacks: ListedStack[] }) {
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
              <ServiceCells stack={stack.name} services={stack.services} />
            </td>
            <td>{formatTime(stack.updatedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * Each service of a row as a link and one line of words (status, running/desired tasks): four
 * nodes a service instead of a list item of badges, so 200 rows stay well inside the render
 * budget. The status is in words; its colour only repeats them.
 */
function ServiceCells({ stack, services }: { stack: string; services: ListedStack["services"] }) {
  if (!services) return <span class="muted">…</span>;
  if (services.length === 0) return <span class="muted">no services</span>;
  return (
    <>
      {services.map((service, index) => [
        index > 0 ? "; " : null,
        <Link
          key={service.name}
          href={
            service.type === "batch-job" ? paths.job(stack, service.name) : paths.service(stack, service.name)
          }
        >
          {service.name}
        </Link>,
        <span key={`${service.name}-status`} class={`state ${tone(service.status)}`}>
          {` ${service.status} ${service.tasks.running ?? "–"}/${service.tasks.desired ?? "–"} tasks`}
        </span>,
      ])}
    </>
  );
}
