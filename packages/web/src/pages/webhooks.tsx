import { useState } from "preact/hooks";
import type { CreatedReceiver, CreateReceiverBody, Delivery, Receiver } from "../api.ts";
import { useConsole } from "../context.ts";
import { formatTime } from "../format.ts";
import { useLoad, useSubmit } from "../hooks.ts";
import { CursorPager, Pager, useCursorPages, usePages } from "../paging.tsx";
import { Link, navigate, paths } from "../router.tsx";
import { ConfirmButton, CopyField, ErrorBox, ListOf, Section, TableHead, TextField } from "../ui.tsx";

const PROVIDERS: CreateReceiverBody["provider"][] = [
  "github",
  "dockerhub",
  "harbor",
  "quay",
  "gitlab",
  "generic",
];

/** How each provider uses the secret, so the person knows where to paste it. */
const SECRET_USE: Record<CreateReceiverBody["provider"], string> = {
  github: "the webhook's secret (GitHub signs each delivery with it: X-Hub-Signature-256)",
  generic: "the HMAC-SHA256 key your sender signs each body with (X-Signature: sha256=…)",
  harbor: "the Authorization header value of the Harbor webhook",
  gitlab: "the Authorization header value of the GitLab registry notification",
  dockerhub: "part of the URL: Docker Hub signs nothing, so the URL itself is the secret",
  quay: "part of the URL: Quay signs nothing, so the URL itself is the secret",
};

/** What a receiver is bound to, in words. */
function scopeOf(receiver: Receiver): string {
  if (receiver.service) return `${receiver.stack}/${receiver.service}`;
  if (receiver.stack) return `stack ${receiver.stack}`;
  return "every stack";
}

/** Webhook receivers (admin scope): list, create (URL and secret shown once), open one. */
export function WebhooksPage() {
  const { client } = useConsole();
  const receivers = useLoad(() => client.listReceivers(), [client]);
  const paging = usePages(receivers.data?.receivers ?? [], 25);
  const [provider, setProvider] = useState<CreateReceiverBody["provider"]>("github");
  const [stack, setStack] = useState("");
  const [service, setService] = useState("");
  const creation = useSubmit(
    () =>
      client.createReceiver({
        provider,
        ...(stack.trim() ? { stack: stack.trim() } : {}),
        ...(service.trim() ? { service: service.trim() } : {}),
      }),
    () => receivers.reload(),
  );

  return (
    <main id="main">
      <h1>Webhook receivers</h1>
      <p>
        A registry (or any sender) reaches Berth through a receiver's URL, without an API token; each delivery
        is authenticated the provider's way and recorded, with what it deployed or why it did not.
      </p>
      <Section title="Create a receiver">
        <form onSubmit={creation.submit}>
          <label for="receiver-provider">Provider</label>
          <select
            id="receiver-provider"
            value={provider}
            onChange={(event) =>
              setProvider((event.target as HTMLSelectElement).value as CreateReceiverBody["provider"])
            }
          >
            {PROVIDERS.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
          <TextField
            id="receiver-stack"
            label="Stack (optional: only this stack's services follow its pushes)"
            value={stack}
            maxLength={128}
            onText={setStack}
          />
          <TextField
            id="receiver-service"
            label="Service (optional, needs a stack)"
            value={service}
            maxLength={128}
            onText={setService}
          />
          <button type="submit" class="primary" disabled={creation.busy}>
            {creation.busy ? "Creating…" : "Create receiver"}
          </button>
        </form>
        <ErrorBox error={creation.error} title="Could not create the receiver" />
        {creation.result && <NewSecret created={creation.result} what="created" />}
      </Section>
      <Section title="Receivers">
        <ErrorBox error={receivers.error} title="Could not list the receivers" />
        {receivers.loading && !receivers.data && <p role="status">Loading receivers…</p>}
        {receivers.data && receivers.data.receivers.length === 0 && <p>No receivers yet.</p>}
        {receivers.data && receivers.data.receivers.length > 0 && (
          <table>
            <caption class="visually-hidden">Webhook receivers</caption>
            <TableHead columns={["Receiver", "Provider", "Deploys to", "Created", "Secret rotated"]} />
            <tbody>
              {paging.shown.map((receiver) => (
                <tr key={receiver.id}>
                  <th scope="row">
                    <Link href={paths.webhook(receiver.id)}>
                      <code>{receiver.id}</code>
                    </Link>
                  </th>
                  <td>{receiver.provider}</td>
                  <td>{scopeOf(receiver)}</td>
                  <td>{formatTime(receiver.createdAt)}</td>
                  <td>{formatTime(receiver.rotatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager label="Receivers" page={paging.page} pages={paging.pages} setPage={paging.setPage} />
        <p>
          ECR pushes arrive through EventBridge, not a receiver:{" "}
          <Link href={paths.webhook("ecr")}>see what ECR delivered</Link>.
        </p>
      </Section>
    </main>
  );
}

const DELIVERIES_PER_PAGE = 20;

/** One receiver (or `ecr`): its settings, rotate and delete, and its deliveries newest first. */
export function WebhookPage({ id }: { id: string }) {
  const { client } = useConsole();
  const isEcr = id === "ecr";
  const receivers = useLoad(
    () => (isEcr ? Promise.resolve(undefined) : client.listReceivers()),
    [client, isEcr],
  );
  const receiver = receivers.data?.receivers.find((candidate) => candidate.id === id);
  const pages = useCursorPages();
  const deliveries = useLoad(
    () =>
      client.listDeliveries(id, {
        limit: DELIVERIES_PER_PAGE,
        ...(pages.cursor ? { cursor: pages.cursor } : {}),
      }),
    [client, id, pages.cursor],
  );
  const [rotated, setRotated] = useState<CreatedReceiver | undefined>(undefined);

  return (
    <main id="main">
      <p>
        <Link href={paths.webhooks()}>Webhook receivers</Link>
      </p>
      <h1>{isEcr ? "ECR pushes (EventBridge)" : `Receiver ${id}`}</h1>
      <ErrorBox error={receivers.error} title="Could not read the receiver" />
      {!isEcr && receivers.data && !receiver && (
        <p role="status">
          No receiver {id} exists (it may have been deleted); its deliveries stay listed for 30 days.
        </p>
      )}
      {receiver && (
        <Section title="Receiver">
          <dl>
            <dt>Provider</dt>
            <dd>{receiver.provider}</dd>
            <dt>Deploys to</dt>
            <dd>{scopeOf(receiver)}</dd>
            <dt>Created</dt>
            <dd>{formatTime(receiver.createdAt)}</dd>
            <dt>Secret rotated</dt>
            <dd>{formatTime(receiver.rotatedAt)}</dd>
          </dl>
          <div class="actions">
            <ConfirmButton
              label="Rotate the secret"
              question={`Give receiver ${id} a new secret? The old one stops working at once: update the ${receiver.provider} side with the new one.`}
              onConfirm={() => client.rotateReceiver(id)}
              onDone={(result) => {
                setRotated(result as CreatedReceiver);
                receivers.reload();
              }}
            />
            <ConfirmButton
              label="Delete the receiver"
              question={`Delete receiver ${id}? Its URL stops working at once; its deliveries stay listed for 30 days.`}
              onConfirm={() => client.deleteReceiver(id)}
              onDone={() => navigate(paths.webhooks())}
            />
          </div>
          {rotated && <NewSecret created={rotated} what="rotated" />}
        </Section>
      )}
      <Section title="Deliveries">
        <ErrorBox error={deliveries.error} title="Could not list the deliveries" />
        {deliveries.loading && !deliveries.data && <p role="status">Loading deliveries…</p>}
        {deliveries.data && deliveries.data.deliveries.length === 0 && pages.page === 0 && (
          <p>Nothing has arrived yet.</p>
        )}
        {deliveries.data && deliveries.data.deliveries.length > 0 && (
          <DeliveriesTable deliveries={deliveries.data.deliveries} />
        )}
        <CursorPager label="Deliveries" pages={pages} nextCursor={deliveries.data?.nextCursor} />
      </Section>
    </main>
  );
}

/** Outcomes in words with a symbol: colour only repeats them. */
const OUTCOME_SYMBOL: Record<string, string> = {
  deployed: "✓",
  "awaiting-approval": "…",
  ignored: "–",
  refused: "✗",
  received: "•",
};

function DeliveriesTable({ deliveries }: { deliveries: Delivery[] }) {
  return (
    <table>
      <caption class="visually-hidden">Deliveries, newest first</caption>
      <TableHead columns={["When", "Provider event", "Image", "Digest", "Outcome", "Reason"]} />
      <tbody>
        {deliveries.map((delivery) => (
          <tr key={delivery.id}>
            <th scope="row">{formatTime(delivery.receivedAt)}</th>
            <td>
              {delivery.provider}: {delivery.event || "—"}
            </td>
            <td>{delivery.image ? <code>{delivery.image}</code> : "—"}</td>
            <td>
              {delivery.digest ? <code title={delivery.digest}>{delivery.digest.slice(0, 19)}…</code> : "—"}
            </td>
            <td>
              <span class={`badge outcome-${delivery.outcome}`}>
                <span aria-hidden="true">{OUTCOME_SYMBOL[delivery.outcome] ?? "•"} </span>
                {delivery.outcome}
              </span>
            </td>
            <td>
              {delivery.reason}
              <ListOf items={delivery.services} keyOf={(service) => service.service}>
                {(service) => `${service.service}: ${service.outcome} (${service.reason})`}
              </ListOf>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A receiver's URL and secret, shown this once, each with a copy button. */
function NewSecret({ created, what }: { created: CreatedReceiver; what: "created" | "rotated" }) {
  return (
    <div class="notice" role="status">
      <p>
        Receiver <Link href={paths.webhook(created.id)}>{created.id}</Link> ({created.receiver.provider}){" "}
        {what}. Copy the URL and the secret now: they are shown this once and cannot be read again. The secret
        is {SECRET_USE[created.receiver.provider]}.
      </p>
      <CopyField id="receiver-url" label="Receiver URL" value={created.url} copyLabel="Copy URL" />
      <CopyField id="receiver-secret" label="Secret" value={created.secret} copyLabel="Copy secret" />
    </div>
  );
}
