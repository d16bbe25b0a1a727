/**
 * A small YAML (and JSON) highlighter for the applied stack file: keys, strings, numbers and
 * booleans, comments. It yields elements with text children only, never HTML, so a stack file
 * cannot inject markup into the page.
 */
export type Token = { kind: "key" | "string" | "number" | "literal" | "comment" | "plain"; text: string };

const KEY = /^(\s*(?:-\s+)?)("[^"]*"|'[^']*'|[A-Za-z0-9_.$/@-]+)(\s*:)(?=\s|$)/;
const VALUE = /("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|#.*$|\b-?\d+(?:\.\d+)?\b|\b(?:true|false|null|yes|no)\b)/;

export function tokenizeLine(line: string): Token[] {
  const tokens: Token[] = [];
  let rest = line;
  const key = KEY.exec(rest);
  if (key) {
    if (key[1]) tokens.push({ kind: "plain", text: key[1] });
    tokens.push({ kind: "key", text: key[2] ?? "" });
    tokens.push({ kind: "plain", text: key[3] ?? "" });
    rest = rest.slice(key[0].length);
  }
  while (rest.length > 0) {
    const match = VALUE.exec(rest);
    if (!match || match.index === undefined) {
      tokens.push({ kind: "plain", text: rest });
      break;
    }
    if (match.index > 0) tokens.push({ kind: "plain", text: rest.slice(0, match.index) });
    const text = match[0];
    const kind = text.startsWith("#")
      ? // A # inside a word (`a#b`) is no comment.
        match.index === 0 || /\s$/.test(rest.slice(0, match.index))
        ? "comment"
        : "plain"
      : text.startsWith('"') || text.startsWith("'")
        ? "string"
        : /^-?\d/.test(text)
          ? "number"
          : "literal";
    tokens.push({ kind, text });
    rest = rest.slice(match.index + text.length);
  }
  return tokens;
}

export function Highlighted({ source, label }: { source: string; label: string }) {
  const lines = source.replace(/\n$/, "").split("\n");
  return (
    <section aria-label={label}>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard */}
      <pre class="code" tabIndex={0}>
        <code>
          {lines.map((line, index) => (
            <span class="line" key={index}>
              {tokenizeLine(line).map((token, at) =>
                token.kind === "plain" ? (
                  token.text
                ) : (
                  <span class={`tok-${token.kind}`} key={at}>
                    {token.text}
                  </span>
                ),
              )}
              {"\n"}
            </span>
          ))}
        </code>
      </pre>
    </section>
  );
}
