import { describe, expect, it } from "vitest";
import { Buildpack } from "./index.ts";
import { catchError } from "./test-support.ts";

describe("detectLanguage", () => {
  const cases: [string, Buildpack.Language][] = [
    ["src/main.ts", "typescript"],
    ["src/App.tsx", "typescript"],
    ["src/main.mts", "typescript"],
    ["src/main.cts", "typescript"],
    ["index.js", "javascript"],
    ["server/index.mjs", "javascript"],
    ["server/index.cjs", "javascript"],
    ["src/App.jsx", "javascript"],
    ["app/main.py", "python"],
    ["cmd/api/main.go", "go"],
    ["src/main/java/com/example/App.java", "java"],
  ];

  it.each(cases)("reads %s as %s", (entry, language) => {
    expect(Buildpack.detectLanguage(entry)).toBe(language);
  });

  it("covers every extension it advertises", () => {
    const advertised = Object.values(Buildpack.EXTENSIONS).flat().sort();
    const tested = cases.map(([entry]) => entry.slice(entry.lastIndexOf("."))).sort();
    expect(tested).toEqual(advertised);
  });

  it("ignores the case of the extension", () => {
    expect(Buildpack.detectLanguage("LEGACY/MAIN.PY")).toBe("python");
  });

  it("lets an explicit language win over the extension", () => {
    expect(Buildpack.detectLanguage("bin/server", { language: "python" })).toBe("python");
    expect(Buildpack.detectLanguage("src/main.js", { language: "typescript" })).toBe("typescript");
  });

  it("rejects an unknown extension with a code and the supported extensions", () => {
    const error = catchError(() => Buildpack.detectLanguage("app/main.rb"));
    expect(error).toBeInstanceOf(Buildpack.BuildpackError);
    expect(error.code).toBe("UNSUPPORTED_LANGUAGE");
    expect(error.message).toContain('"app/main.rb"');
    expect(error.message).toContain('".rb"');
    for (const extension of Object.values(Buildpack.EXTENSIONS).flat())
      expect(error.message).toContain(extension);
  });

  it("rejects an entry file without an extension, and a language it does not know", () => {
    expect(catchError(() => Buildpack.detectLanguage("Procfile")).message).toContain("has no extension");
    const unknown = catchError(() => Buildpack.detectLanguage("main.rs", { language: "rust" as never }));
    expect(unknown.code).toBe("UNSUPPORTED_LANGUAGE");
    expect(unknown.message).toContain("typescript, javascript, python, go, java");
  });
});
