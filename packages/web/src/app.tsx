import { useMemo, useState } from "preact/hooks";
import { createClient, type Fetch } from "./api.ts";
import { Console } from "./context.ts";
import { JobPage } from "./pages/job.tsx";
import { ServicePage } from "./pages/service.tsx";
import { SignIn } from "./pages/sign-in.tsx";
import { StackPage } from "./pages/stack.tsx";
import { StacksPage } from "./pages/stacks.tsx";
import { TokensPage } from "./pages/tokens.tsx";
import { WebhookPage, WebhooksPage } from "./pages/webhooks.tsx";
import { Link, parseRoute, paths, useLocation } from "./router.tsx";
import { allows, clearSession, loadSession, type Session, saveSession } from "./session.ts";

export interface AppProps {
  /** Where the API is: "" when the console is served by the API's own origin. */
  baseUrl: string | Promise<string>;
  fetch?: Fetch;
  storage?: Storage;
}

export function App(props: AppProps) {
  const storage = props.storage ?? sessionStorage;
  const [session, setSession] = useState<Session | undefined>(() => loadSession(storage));
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const location = useLocation();
  const route = parseRoute(location.pathname);

  const client = useMemo(
    () =>
      session &&
      createClient({
        baseUrl: props.baseUrl,
        token: session.token,
        ...(props.fetch ? { fetch: props.fetch } : {}),
        onUnauthorized: () => {
          clearSession(storage);
          setSession(undefined);
          setNotice("The API no longer accepts this token (revoked, or unknown here): sign in again.");
        },
      }),
    [session, props.baseUrl, props.fetch, storage],
  );

  if (!session || !client) {
    // Signing in keeps the address: a deep link opened without a session lands where it pointed.
    return (
      <SignIn
        baseUrl={props.baseUrl}
        {...(props.fetch ? { fetch: props.fetch } : {})}
        {...(notice ? { notice } : {})}
        onSignedIn={(signedIn) => {
          saveSession(signedIn, storage);
          setNotice(undefined);
          setSession(signedIn);
          if (route.page === "sign-in") history.replaceState(null, "", paths.stacks());
        }}
      />
    );
  }

  const signOut = () => {
    clearSession(storage);
    setSession(undefined);
    setNotice("Signed out.");
  };

  return (
    <Console.Provider value={{ client, session }}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <nav aria-label="Console">
          <span class="brand">Berth</span>
          <Link
            href={paths.stacks()}
            {...(route.page === "stacks" ? { "aria-current": "page" as const } : {})}
          >
            Stacks
          </Link>
          {allows(session, "admin") && (
            <Link
              href={paths.tokens()}
              {...(route.page === "tokens" ? { "aria-current": "page" as const } : {})}
            >
              Tokens
            </Link>
          )}
          {allows(session, "admin") && (
            <Link
              href={paths.webhooks()}
              {...(route.page === "webhooks" || route.page === "webhook"
                ? { "aria-current": "page" as const }
                : {})}
            >
              Webhooks
            </Link>
          )}
        </nav>
        <div class="who">
          <span>
            Signed in with a <strong>{session.scope}</strong> token
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <Page route={route} search={location.search} />
    </Console.Provider>
  );
}

function Page({ route, search }: { route: ReturnType<typeof parseRoute>; search: URLSearchParams }) {
  switch (route.page) {
    case "sign-in":
    case "stacks":
      return <StacksPage search={search} />;
    case "stack":
      return <StackPage key={route.stack} stack={route.stack} />;
    case "service":
      return (
        <ServicePage key={`${route.stack}/${route.service}`} stack={route.stack} service={route.service} />
      );
    case "job":
      return <JobPage key={`${route.stack}/${route.job}`} stack={route.stack} job={route.job} />;
    case "tokens":
      return <TokensPage />;
    case "webhooks":
      return <WebhooksPage />;
    case "webhook":
      return <WebhookPage key={route.id} id={route.id} />;
    case "not-found":
      return (
        <main id="main">
          <h1>Not found</h1>
          <p>
            The console has no page at <code>{route.path}</code>.{" "}
            <Link href={paths.stacks()}>See the stacks.</Link>
          </p>
        </main>
      );
  }
}
