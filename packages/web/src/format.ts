/** How the console writes times and durations. */

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
