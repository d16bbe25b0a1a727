import { useState } from "preact/hooks";
import type { Run } from "../api.ts";
import { useConsole } from "../context.ts";
import { formatDuration, formatTime } from "../format.ts";
import { useLoad, usePoll } from "../hooks.ts";
import { CursorPager, useCursorPages } from "../paging.tsx";
import { Crumbs } from "../router.tsx";
import { allows } from "../session.ts";
import { ConfirmButton, ErrorBox, Notice, Section, StatusBadge, TableHead, TextField } from "../ui.tsx";
import { Logs, POLL_MS } from "./service.tsx";

/** A batch job: its runs (newest first) with attempts and exit codes, and starting a run. */
export function JobPage({ stack, job }: { stack: string; job: string }) {
  const { client, session } = useConsole();
  const pages = useCursorPages();
  const runs = useLoad(
    () => client.listRuns(stack, job, { limit: 10, ...(pages.cursor ? { cursor: pages.cursor } : {}) }),
    [client, stack, job, pages.cursor],
  );
  const [opened, setOpened] = useState<string | undefined>(undefined);
  const [command, setCommand] = useState("");
  const [started, setStarted] = useState<string | undefined>(undefined);
  const list = runs.data?.runs ?? [];
  usePoll(
    async () => runs.reload(),
    POLL_MS,
    list.some((run) => run.status === "RUNNING"),
  );
  const shown = opened ?? list[0]?.id;
  return (
    <main id="main">
      <Crumbs stack={stack} name={job} />
      <h1>Job {job}</h1>
      {allows(session, "deploy") && (
        <Section title="Start a run">
          <ConfirmButton
            label="Start a run"
            question={`Start a run of ${job}${command.trim() ? " with this command" : " with its own command"}?`}
            onConfirm={() =>
              client.startRun(stack, job, command.trim() ? { command: splitCommand(command) } : {})
            }
            onDone={(run) => {
              setStarted(`Run ${(run as Run).id} started.`);
              setOpened((run as Run).id);
              runs.reload();
            }}
          >
            <div class="fields">
              <TextField
                id="run-command"
                label="Command (optional; words split on spaces)"
                value={command}
                onText={setCommand}
              />
            </div>
          </ConfirmButton>
          <Notice text={started} />
        </Section>
      )}
      <Section title="Runs">
        <ErrorBox error={runs.error} title="Could not list the runs" />
        {runs.loading && !runs.data && <p role="status">Loading runs…</p>}
        {runs.data && list.length === 0 && <p>No runs yet.</p>}
        {list.length > 0 && (
          <table>
            <TableHead columns={["Run", "Status", "Started", "Duration", ""]} />
            <tbody>
              {list.map((run) => (
                <tr key={run.id} class={run.id === shown ? "selected" : undefined}>
                  <th scope="row">
                    <code>{run.id}</code>
                  </th>
                  <td>
                    <StatusBadge status={run.status} />
                  </td>
                  <td>{formatTime(run.startedAt)}</td>
                  <td>{formatDuration(run.startedAt, run.stoppedAt)}</td>
                  <td>
                    <button type="button" aria-pressed={run.id === shown} onClick={() => setOpened(run.id)}>
                      Attempts<span class="visually-hidden"> of {run.id}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <CursorPager label="Runs" pages={pages} nextCursor={runs.data?.nextCursor} />
      </Section>
      {shown && (
        <Section title="Attempts">
          <Attempts stack={stack} job={job} id={shown} />
        </Section>
      )}
      <Section title="Logs">
        <Logs stack={stack} service={job} />
      </Section>
    </main>
  );
}

/** Words split on white space, with "double quoted" words kept whole. */
export function splitCommand(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2] ?? "");
}

function Attempts({ stack, job, id }: { stack: string; job: string; id: string }) {
  const { client } = useConsole();
  const run = useLoad(() => client.getRun(stack, job, id), [client, stack, job, id]);
  usePoll(async () => run.reload(), POLL_MS, run.data?.status === "RUNNING");
  if (run.error) return <ErrorBox error={run.error} title={`Could not read run ${id}`} />;
  if (!run.data) return <p role="status">Loading run {id}…</p>;
  if (run.data.attempts.length === 0) return <p>Run {id} has made no attempt yet.</p>;
  return (
    <table>
      <caption>Attempts of run {id}</caption>
      <TableHead columns={["Attempt", "Status", "Exit codes", "Started", "Duration", "Why it stopped"]} />
      <tbody>
        {run.data.attempts.map((attempt) => (
          <tr key={attempt.number}>
            <th scope="row">{attempt.number}</th>
            <td>
              <StatusBadge status={attempt.status} />
            </td>
            <td>
              {attempt.exitCodes.length === 0
                ? "—"
                : attempt.exitCodes.map((code) => `${code.container}: ${code.exitCode ?? "none"}`).join(", ")}
            </td>
            <td>{formatTime(attempt.startedAt)}</td>
            <td>{formatDuration(attempt.startedAt, attempt.stoppedAt)}</td>
            <td>{[attempt.stoppedReason, attempt.error].filter(Boolean).join(" · ") || "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
