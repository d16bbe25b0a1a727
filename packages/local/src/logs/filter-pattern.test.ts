import { describe, expect, it } from "vitest";
import { AwsError } from "../protocol.ts";
import { compileFilterPattern } from "./filter-pattern.ts";

const lines = [
  "ERROR connection refused by db",
  "WARN slow query on db",
  "INFO request served",
  'ERROR said "hello world" twice',
  "error lower case",
];

function matching(pattern: string | undefined): string[] {
  const matches = compileFilterPattern(pattern);
  return lines.filter(matches);
}

describe("compileFilterPattern", () => {
  it("matches everything without a pattern or with a blank one", () => {
    expect(matching(undefined)).toEqual(lines);
    expect(matching("   ")).toEqual(lines);
  });

  it("requires every plain term, case-sensitively", () => {
    expect(matching("ERROR db")).toEqual(["ERROR connection refused by db"]);
    expect(matching("ERROR")).toEqual(["ERROR connection refused by db", 'ERROR said "hello world" twice']);
  });

  it("matches a quoted phrase as written, with escaped quotes inside", () => {
    expect(matching('"connection refused"')).toEqual(["ERROR connection refused by db"]);
    expect(matching('"refused connection"')).toEqual([]);
    expect(matching('"said \\"hello world\\""')).toEqual(['ERROR said "hello world" twice']);
  });

  it("accepts any one of the ? alternatives, together with the required terms", () => {
    expect(matching("?WARN ?INFO")).toEqual(["WARN slow query on db", "INFO request served"]);
    expect(matching('db ?ERROR ?"slow query"')).toEqual([
      "ERROR connection refused by db",
      "WARN slow query on db",
    ]);
  });

  it("drops lines with an excluded term", () => {
    expect(matching("db -WARN")).toEqual(["ERROR connection refused by db"]);
  });

  it.each([
    ['{ $.level = "error" }', "JSON filter patterns"],
    ["[ip, user, status]", "space-delimited filter patterns"],
    ["%ERR(OR)?%", "regular expression filter patterns"],
    ['"unterminated', "unterminated quoted phrase"],
    ["ERROR ? WARN", "'?' must be followed by a term"],
  ])("refuses %s as an InvalidParameterException", (pattern, reason) => {
    expect(() => compileFilterPattern(pattern)).toThrow(AwsError);
    expect(() => compileFilterPattern(pattern)).toThrow(reason);
    try {
      compileFilterPattern(pattern);
    } catch (error) {
      expect((error as AwsError).type).toBe("InvalidParameterException");
    }
  });
});
