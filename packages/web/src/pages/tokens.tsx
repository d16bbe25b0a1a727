import { useState } from "preact/hooks";
import type { CreatedToken, Scope } from "../api.ts";
import { useConsole } from "../context.ts";
import { formatTime } from "../format.ts";
import { useLoad, useSubmit } from "../hooks.ts";
import { Pager, usePages } from "../paging.tsx";
import { ConfirmButton, CopyField, ErrorBox, Notice, Section, TableHead, TextField } from "../ui.tsx";

const SCOPES: Scope[] = ["read", "deploy", "admin"];

/** API tokens (admin scope): list, create (the secret is shown once), revoke. */
export function TokensPage() {
  const { client } = useConsole();
  const tokens = useLoad(() => client.listTokens(), [client]);
  const paging = usePages(tokens.data?.tokens ?? [], 25);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>(["read"]);
  const creation = useSubmit(
    () => client.createToken({ name: name.trim(), scopes }),
    () => {
      setName("");
      tokens.reload();
    },
  );
  const [notice, setNotice] = useState<string | undefined>(undefined);

  return (
    <main id="main">
      <h1>API tokens</h1>
      <Section title="Create a token">
        <form onSubmit={creation.submit}>
          <TextField id="token-name" label="Name" value={name} required maxLength={100} onText={setName} />
          <fieldset>
            <legend>Scopes</legend>
            {SCOPES.map((scope) => (
              <label key={scope} class="check">
                <input
                  type="checkbox"
                  checked={scopes.includes(scope)}
                  onChange={(event) =>
                    setScopes((current) =>
                      (event.target as HTMLInputElement).checked
                        ? [...current, scope]
                        : current.filter((value) => value !== scope),
                    )
                  }
                />{" "}
                {scope}
              </label>
            ))}
          </fieldset>
          <button type="submit" class="primary" disabled={creation.busy || scopes.length === 0}>
            {creation.busy ? "Creating…" : "Create token"}
          </button>
        </form>
        <ErrorBox error={creation.error} title="Could not create the token" />
        {creation.result?.token && <NewToken created={creation.result} />}
      </Section>
      <Section title="Tokens">
        <ErrorBox error={tokens.error} title="Could not list the tokens" />
        <Notice text={notice} />
        {tokens.data && (
          <table>
            <TableHead columns={["Name", "Id", "Scopes", "Created", "Last used", ""]} />
            <tbody>
              {paging.shown.map((token) => (
                <tr key={token.id}>
                  <th scope="row">{token.name}</th>
                  <td>
                    <code>{token.id}</code>
                  </td>
                  <td>{token.scopes.join(", ")}</td>
                  <td>{formatTime(token.createdAt)}</td>
                  <td>{formatTime(token.lastUsedAt)}</td>
                  <td>
                    <ConfirmButton
                      label={`Revoke ${token.name}`}
                      question={`Revoke token ${token.name} (${token.id})? Whatever uses it stops working at once.`}
                      onConfirm={() => client.revokeToken(token.id)}
                      onDone={() => {
                        setNotice(`Token ${token.name} (${token.id}) revoked.`);
                        tokens.reload();
                      }}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Pager label="Tokens" page={paging.page} pages={paging.pages} setPage={paging.setPage} />
      </Section>
    </main>
  );
}

function NewToken({ created }: { created: CreatedToken }) {
  return (
    <div class="notice" role="status">
      <p>
        Token <strong>{created.info.name}</strong> ({created.info.scopes.join(", ")}) created. Copy it now: it
        is shown this once and cannot be read again.
      </p>
      <CopyField id="new-token" label="New token" value={created.token ?? ""} copyLabel="Copy token" />
    </div>
  );
}
