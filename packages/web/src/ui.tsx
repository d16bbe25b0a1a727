import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api.ts";

/** Loading, the value, or the error of one API read; `reload` reads again. */
export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => current && setState({ data, error: undefined, loading: false }),
      (error: unknown) => current && setState((previous) => ({ data: previous.data, error, loading: false })),
    );
    return () => {
      current = false;
    };
  }, [...deps, generation]);
  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  return { ...state, reload };
}

/** Calls `tick` every `intervalMs` while `active`, never two at once. */
export function usePoll(tick: () => Promise<void>, intervalMs: number, active: boolean): void {
  const latest = useRef(tick);
  latest.current = tick;
  useEffect(() => {
    if (!active) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        await latest.current();
      } finally {
        if (!stopped) timer = setTimeout(run, intervalMs);
      }
    };
    timer = setTimeout(run, intervalMs);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [active, intervalMs]);
}

/** What the API said, and the request id to quote when asking for help. */
export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (error === undefined || error === null) return null;
  const api = error instanceof ApiError ? error : undefined;
  return (
    <div class="error" role="alert">
      <p>
        <strong>{title ?? "Error"}:</strong> {api ? api.message : String((error as Error)?.message ?? error)}
      </p>
      {api && api.details.length > 0 && (
        <ul>
          {api.details.map((detail) => (
            <li key={`${detail.path}:${detail.message}`}>
              <code>{detail.path}</code>: {detail.message}
            </li>
          ))}
        </ul>
      )}
      {api && (
        <p class="meta">
          {api.status > 0 ? `HTTP ${api.status} · ` : ""}
          {api.code}
          {api.requestId ? (
            <>
              {" · request id "}
              <code>{api.requestId}</code>
            </>
          ) : null}
        </p>
      )}
    </div>
  );
}

const STATUS_SYMBOL: Record<string, string> = {
  SUCCEEDED: "✓",
  LIVE: "✓",
  FAILED: "✗",
  ROLLED_BACK: "↺",
  CANCELLED: "⊘",
  SUPERSEDED: "⤼",
  PENDING: "…",
  QUEUED: "…",
  RUNNING: "▶",
  DEPLOYING: "▶",
  BUILDING: "▶",
  STABILIZING: "▶",
  ROLLING_BACK: "↺",
  NOT_DEPLOYED: "–",
  TIMED_OUT: "✗",
  ABORTED: "⊘",
};

/** A status's colour class: good, bad, muted or busy. */
export function tone(status: string): string {
  if (["SUCCEEDED", "LIVE"].includes(status)) return "good";
  if (["FAILED", "TIMED_OUT", "ROLLED_BACK", "ABORTED"].includes(status)) return "bad";
  if (["CANCELLED", "SUPERSEDED", "NOT_DEPLOYED"].includes(status)) return "muted";
  return "busy";
}

/** A status in words with a symbol: colour only repeats what the text says. */
export function StatusBadge({ status }: { status: string }) {
  return (
    <span class={`badge ${tone(status)}`}>
      <span aria-hidden="true">{STATUS_SYMBOL[status] ?? "•"} </span>
      {status}
    </span>
  );
}

/**
 * One formatter for every time shown (`toLocaleString` builds a new one per call, costly in a long
 * list), built on first use: building the first one loads the browser's locale data, 50–400 ms on
 * a busy machine, which must not delay the first screen. `warmTimeFormat` builds it while the page
 * waits for something else (an idle moment, a list's request in flight).
 */
let timeFormat: Intl.DateTimeFormat | undefined;

export function warmTimeFormat(): Intl.DateTimeFormat {
  timeFormat ??= new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  return timeFormat;
}

export function formatTime(iso: string | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : warmTimeFormat().format(date);
}

export function formatDuration(fromIso: string | undefined, toIso: string | undefined): string {
  if (!fromIso) return "—";
  const from = Date.parse(fromIso);
  const to = toIso ? Date.parse(toIso) : Date.now();
  if (Number.isNaN(from) || Number.isNaN(to)) return "—";
  const seconds = Math.max(0, Math.round((to - from) / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/**
 * A button whose action runs only once confirmed: the first press shows what will happen with
 * Confirm and Cancel buttons (focus moves to Confirm; Escape cancels).
 */
export function ConfirmButton(props: {
  label: string;
  /** What will happen, in a sentence. */
  question: ComponentChildren;
  onConfirm: () => Promise<unknown>;
  disabled?: boolean;
  /** Extra inputs the action needs, shown with the question. */
  children?: ComponentChildren;
  onDone?: (result: unknown) => void;
}) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open && !props.children) confirmRef.current?.focus();
  }, [open, props.children]);
  if (!open) {
    return (
      <button type="button" disabled={props.disabled} onClick={() => setOpen(true)}>
        {props.label}
      </button>
    );
  }
  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const result = await props.onConfirm();
      setOpen(false);
      props.onDone?.(result);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <fieldset
      class="confirm"
      onKeyDown={(event) => {
        if (event.key === "Escape") setOpen(false);
      }}
    >
      <legend class="visually-hidden">Confirm: {props.label}</legend>
      <p>{props.question}</p>
      {props.children}
      <div class="actions">
        <button type="button" ref={confirmRef} class="primary" disabled={busy} onClick={confirm}>
          {busy ? "Working…" : `Confirm: ${props.label}`}
        </button>
        <button type="button" disabled={busy} onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
      <ErrorBox error={error} title={`${props.label} failed`} />
    </fieldset>
  );
}

/** Client-side pages of a list the API returns whole. */
export function usePages<T>(
  items: readonly T[],
  pageSize: number,
): { page: number; pages: number; shown: T[]; setPage: (page: number) => void } {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(items.length / pageSize));
  const current = Math.min(page, pages - 1);
  return { page: current, pages, shown: items.slice(current * pageSize, (current + 1) * pageSize), setPage };
}

export function Pager(props: {
  label: string;
  page: number;
  pages: number;
  setPage: (page: number) => void;
}) {
  if (props.pages <= 1) return null;
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <button type="button" disabled={props.page === 0} onClick={() => props.setPage(props.page - 1)}>
        Previous page
      </button>
      <span>
        Page {props.page + 1} of {props.pages}
      </span>
      <button
        type="button"
        disabled={props.page >= props.pages - 1}
        onClick={() => props.setPage(props.page + 1)}
      >
        Next page
      </button>
    </nav>
  );
}

/** Pages of a cursor-paginated list: the API's `nextCursor` is kept per page so Previous works too. */
export function useCursorPages(): {
  cursor: string | undefined;
  page: number;
  next: (cursor: string) => void;
  previous: () => void;
} {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  return {
    cursor: cursors[cursors.length - 1],
    page: cursors.length - 1,
    next: (cursor) => setCursors((list) => [...list, cursor]),
    previous: () => setCursors((list) => (list.length > 1 ? list.slice(0, -1) : list)),
  };
}

export function CursorPager(props: {
  label: string;
  page: number;
  nextCursor: string | undefined;
  next: (cursor: string) => void;
  previous: () => void;
}) {
  if (props.page === 0 && !props.nextCursor) return null;
  const { nextCursor } = props;
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <button type="button" disabled={props.page === 0} onClick={props.previous}>
        Newer
      </button>
      <span>Page {props.page + 1}</span>
      <button type="button" disabled={!nextCursor} onClick={() => nextCursor && props.next(nextCursor)}>
        Older
      </button>
    </nav>
  );
}

export function Section(props: { title: string; children: ComponentChildren; id?: string }) {
  const id = props.id ?? props.title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return (
    <section aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** A table's column headings; an empty name is a column of row actions, named for screen readers only. */
export function TableHead({ columns }: { columns: string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((column) => (
          <th scope="col" key={column || "actions"}>
            {column || <span class="visually-hidden">Actions</span>}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/** A labelled input whose text the caller keeps: `onText` gets each change as it is typed. */
export function TextField(props: {
  id: string;
  label: string;
  value: string;
  onText: (text: string) => void;
  type?: "number";
  min?: number;
  max?: number;
  maxLength?: number;
  required?: boolean;
  placeholder?: string;
}) {
  const { id, label, onText, ...input } = props;
  return (
    <>
      <label for={id}>{label}</label>
      <input id={id} {...input} onInput={(event) => onText((event.target as HTMLInputElement).value)} />
    </>
  );
}

/** A value shown once (a token, a secret, a URL): read-only, selected on focus, with a copy button. */
export function CopyField(props: { id: string; label: string; value: string; copyLabel: string }) {
  const [copied, setCopied] = useState<string | undefined>(undefined);
  return (
    <div class="copy-field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        readOnly
        value={props.value}
        onFocus={(event) => (event.target as HTMLInputElement).select()}
      />
      <button
        type="button"
        onClick={async () => {
          try {
            await navigator.clipboard.writeText(props.value);
            setCopied("Copied to the clipboard.");
          } catch {
            setCopied("The browser refused the clipboard: select the text and copy it by hand.");
          }
        }}
      >
        {props.copyLabel}
      </button>
      {copied && <span> {copied}</span>}
    </div>
  );
}

/**
 * A form's submission: `submit` runs `action` once the form is sent, keeping what it answered
 * (cleared when sent again), whether it runs, and what went wrong.
 */
export function useSubmit<T>(action: () => Promise<T>, onDone?: (result: T) => void) {
  const [result, setResult] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      const answered = await action();
      setResult(answered);
      onDone?.(answered);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return { result, error, busy, submit };
}
