import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api.ts";

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

/** A short announcement of what an action did; nothing while there is none. */
export function Notice({ text }: { text: string | undefined }) {
  if (!text) return null;
  return (
    <p role="status" class="notice">
      {text}
    </p>
  );
}

/** A bulleted list of the items, each rendered by `children`; nothing for no items. */
export function ListOf<T>(props: {
  items: readonly T[] | undefined;
  keyOf: (item: T) => string;
  children: (item: T) => ComponentChildren;
}) {
  if (!props.items || props.items.length === 0) return null;
  return (
    <ul>
      {props.items.map((item) => (
        <li key={props.keyOf(item)}>{props.children(item)}</li>
      ))}
    </ul>
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
