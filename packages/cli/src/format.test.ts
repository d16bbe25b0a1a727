import { describe, expect, it } from "vitest";
import { plainLines, plainText } from "./format.ts";

/** What `curl` prints to a pipe without -s: its meter, rewritten in place with carriage returns. */
const CURL_METER =
  "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n" +
  "                                 Dload  Upload   Total   Spent    Left  Speed\n" +
  "\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0" +
  "\r100    27  100    27    0     0   2700      0 --:--:-- --:--:-- --:--:--  3000\n";

describe("plain text of command output", () => {
  it("keeps the health check's words and drops colors, cursor moves, titles and curl's meter", () => {
    const output = `Task failed container health checks: \u001b[31m${CURL_METER}curl: (22) The requested URL returned error: 500\u001b[0m\n\u001b]0;title\u0007\u001b[2Kdone`;
    expect(plainLines(output)).toEqual([
      "Task failed container health checks:",
      "curl: (22) The requested URL returned error: 500",
      "done",
    ]);
    expect(plainText(output)).toBe(
      "Task failed container health checks: | curl: (22) The requested URL returned error: 500 | done",
    );
  });

  it("shows a line rewritten with carriage returns as last written, and drops progress bars", () => {
    expect(plainLines("fetching 10%\rfetching 100%\n[=====>    ] 45%\nready 95%\n")).toEqual([
      "fetching 100%",
      "ready 95%",
    ]);
  });

  it("leaves plain text alone", () => {
    expect(plainText("500 health: database unreachable")).toBe("500 health: database unreachable");
    expect(plainLines("a\n\tb\n")).toEqual(["a", " b"]);
  });
});
