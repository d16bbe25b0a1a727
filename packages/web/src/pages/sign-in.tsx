import { useState } from "preact/hooks";
import { createClient, type Fetch } from "../api.ts";
import type { Session } from "../session.ts";
import { ErrorBox } from "../ui.tsx";

/** Sign in with an API token: the API checks it, and says what it may do. */
export function SignIn(props: {
  baseUrl: string | Promise<string>;
  fetch?: Fetch;
  onSignedIn: (session: Session) => void;
  notice?: string;
}) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  return (
    <main id="main" class="sign-in">
      <h1>Sign in to Berth</h1>
      {props.notice && (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          const value = token.trim();
          if (!value) {
            setError(new Error("enter an API token (berth_…)"));
            return;
          }
          setBusy(true);
          setError(undefined);
          try {
            const client = createClient({
              baseUrl: props.baseUrl,
              token: value,
              ...(props.fetch ? { fetch: props.fetch } : {}),
            });
            const scope = await client.scope();
            props.onSignedIn({ token: value, scope });
          } catch (caught) {
            setError(caught);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={token}
          onInput={(event) => setToken((event.target as HTMLInputElement).value)}
          aria-describedby="token-help"
          required
        />
        <p id="token-help" class="help">
          A token from <code>berth tokens create</code>, or the admin token Berth Local printed when it first
          started. It is kept for this tab only and forgotten when you sign out or close it.
        </p>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <ErrorBox error={error} title="Could not sign in" />
    </main>
  );
}
