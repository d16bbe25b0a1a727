import { serveJson } from "../lib/http.ts";

interface Quote {
  id: number;
  text: string;
  author: string;
}

const QUOTES: readonly Quote[] = [
  { id: 1, text: "Simplicity is prerequisite for reliability.", author: "Edsger W. Dijkstra" },
  { id: 2, text: "Make it work, make it right, make it fast.", author: "Kent Beck" },
  {
    id: 3,
    text: "The cheapest, fastest, and most reliable components are those that aren't there.",
    author: "Gordon Bell",
  },
  { id: 4, text: "Everything fails, all the time.", author: "Werner Vogels" },
];

function randomQuote(): Quote {
  const quote = QUOTES[Math.floor(Math.random() * QUOTES.length)];
  if (!quote) throw new Error("no quotes");
  return quote;
}

// Reachable only inside the stack, at $ResourceParam('privateApi', 'address') (privateapi.<stack>:3000).
serveJson({
  name: "privateApi",
  // stopTimeout is 10 s in berth.yml.
  drainMs: 8_000,
  routes: { "GET /quotes/random": randomQuote },
});
