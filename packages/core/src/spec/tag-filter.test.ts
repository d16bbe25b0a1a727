import { describe, expect, it } from "vitest";
import { compareVersions, parseVersion, type TagFilter, tagFilterProblem, tagMatches } from "./tag-filter.ts";

const semver = (pattern: string): TagFilter => ({ type: "semver", pattern });
const passing = (filter: TagFilter, tags: string[]) => tags.filter((tag) => tagMatches(filter, tag));

describe("tag filters", () => {
  it("exact: the one tag, nothing like it", () => {
    const filter: TagFilter = { type: "exact", pattern: "stable" };
    expect(passing(filter, ["stable", "stable2", "Stable", "unstable", "stable "])).toEqual(["stable"]);
  });

  it("glob: * is any run, ? one character, everything else literal", () => {
    expect(
      passing({ type: "glob", pattern: "release-*" }, ["release-1", "release-", "release", "xrelease-1"]),
    ).toEqual(["release-1", "release-"]);
    expect(passing({ type: "glob", pattern: "v1.?" }, ["v1.2", "v1.22", "v1x2", "v1."])).toEqual(["v1.2"]);
  });

  it("regex: matched against the whole tag, never a part of it", () => {
    const filter: TagFilter = { type: "regex", pattern: "main-[0-9a-f]{7}" };
    expect(passing(filter, ["main-abc1234", "xmain-abc1234", "main-abc12345", "main-ABC1234"])).toEqual([
      "main-abc1234",
    ]);
    // An alternation cannot escape the anchors.
    expect(passing({ type: "regex", pattern: "a|b" }, ["a", "b", "ab", "xa"])).toEqual(["a", "b"]);
  });

  it("names what is wrong with a pattern, and an unusable one passes nothing", () => {
    expect(tagFilterProblem({ type: "regex", pattern: "(" })).toMatch(/not a regular expression/);
    expect(tagMatches({ type: "regex", pattern: "(" }, "(")).toBe(false);
    expect(tagFilterProblem(semver("^banana"))).toMatch(/not a semver range/);
    expect(tagMatches(semver("^banana"), "1.0.0")).toBe(false);
    expect(tagFilterProblem({ type: "exact", pattern: "has space" })).toMatch(/must be an image tag/);
    expect(tagFilterProblem({ type: "glob", pattern: "a".repeat(129) })).toMatch(/at most 128/);
    for (const pattern of ["^1.4", "~1.4.2", ">=1.2 <2", "1.x", "1.2.3 - 1.4", "^1 || ^2", ">= 1.2.0"]) {
      expect(tagFilterProblem(semver(pattern)), pattern).toBeUndefined();
    }
  });
});

describe("semver ranges", () => {
  const tags = ["1.3.9", "1.4.0", "v1.4.2", "1.4.3", "1.5.0", "1.9.9", "2.0.0", "0.9.0", "latest", "1.4"];

  it("^1.4: from 1.4.0 up to, not including, 2.0.0; tags that are no version never pass", () => {
    expect(passing(semver("^1.4"), tags)).toEqual(["1.4.0", "v1.4.2", "1.4.3", "1.5.0", "1.9.9"]);
  });

  it("^ on a zero major keeps the leftmost non-zero part", () => {
    expect(passing(semver("^0.2.3"), ["0.2.3", "0.2.9", "0.3.0", "0.2.2"])).toEqual(["0.2.3", "0.2.9"]);
    expect(passing(semver("^0.0.3"), ["0.0.3", "0.0.4"])).toEqual(["0.0.3"]);
  });

  it("~1.4.2: patches of 1.4 from 1.4.2", () => {
    expect(passing(semver("~1.4.2"), tags)).toEqual(["v1.4.2", "1.4.3"]);
    expect(passing(semver("~1"), tags)).toEqual(["1.3.9", "1.4.0", "v1.4.2", "1.4.3", "1.5.0", "1.9.9"]);
  });

  it(">=1.2 <2: every comparator of a set must hold", () => {
    expect(passing(semver(">=1.2 <2"), ["1.1.9", "1.2.0", "1.9.9", "2.0.0", "2.0.1"])).toEqual([
      "1.2.0",
      "1.9.9",
    ]);
    expect(passing(semver(">1.4 <=1.5"), ["1.4.9", "1.5.0", "1.5.7", "1.6.0"])).toEqual(["1.5.0", "1.5.7"]);
  });

  it("x ranges, hyphen ranges and alternatives", () => {
    expect(passing(semver("1.x"), tags)).toEqual(["1.3.9", "1.4.0", "v1.4.2", "1.4.3", "1.5.0", "1.9.9"]);
    expect(passing(semver("1.2.3 - 1.4"), ["1.2.2", "1.2.3", "1.4.9", "1.5.0"])).toEqual(["1.2.3", "1.4.9"]);
    expect(passing(semver("^0.9 || ^2"), tags)).toEqual(["2.0.0", "0.9.0"]);
    expect(passing(semver("1.4.3"), tags)).toEqual(["1.4.3"]);
  });

  it("a prerelease passes only a range that names a prerelease of the same version", () => {
    const prereleases = ["1.5.0-rc.1", "1.5.0-rc.2", "1.6.0-rc.1", "2.0.0-0"];
    expect(passing(semver("^1.4"), prereleases)).toEqual([]);
    expect(passing(semver(">=1.2 <2"), prereleases)).toEqual([]);
    expect(passing(semver(">=1.5.0-rc.2"), prereleases)).toEqual(["1.5.0-rc.2"]);
    expect(passing(semver("^1.5.0-rc.1"), [...prereleases, "1.5.0", "1.7.0"])).toEqual([
      "1.5.0-rc.1",
      "1.5.0-rc.2",
      "1.5.0",
      "1.7.0",
    ]);
  });

  it("orders versions as semver does: prereleases before their release, numeric identifiers by value", () => {
    const order = [
      "1.0.0-alpha",
      "1.0.0-alpha.1",
      "1.0.0-alpha.beta",
      "1.0.0-beta.2",
      "1.0.0-beta.11",
      "1.0.0-rc.1",
      "1.0.0",
      "1.0.1",
      "1.10.0",
    ];
    const versions = order.map((tag) => {
      const version = parseVersion(tag);
      if (!version) throw new Error(`${tag} is a version`);
      return version;
    });
    const shuffled = [...versions].reverse().sort(compareVersions);
    expect(shuffled).toEqual(versions);
    expect(parseVersion("1.4")).toBeUndefined();
    expect(parseVersion("1.4.2+build.7")?.parts).toEqual([1, 4, 2]);
  });
});
