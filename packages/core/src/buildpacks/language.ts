import { posix } from "node:path";
import { z } from "zod";
import { BuildpackError } from "./errors.ts";

export const LANGUAGES = ["typescript", "javascript", "python", "go", "java"] as const;
export const Language = z.enum(LANGUAGES);
export type Language = z.infer<typeof Language>;

/** Entry file extensions, lower case, by the language they select. */
export const EXTENSIONS: Readonly<Record<Language, readonly string[]>> = {
  typescript: [".ts", ".tsx", ".mts", ".cts"],
  javascript: [".js", ".mjs", ".cjs", ".jsx"],
  python: [".py"],
  go: [".go"],
  java: [".java"],
};

const languageByExtension = new Map<string, Language>(
  LANGUAGES.flatMap((language) => EXTENSIONS[language].map((extension) => [extension, language] as const)),
);

/**
 * The language an entry file is written in, from its extension; `opts.language` wins when given,
 * for entry files whose extension says nothing (a script without one, say).
 */
export function detectLanguage(entryfilePath: string, opts: { language?: Language } = {}): Language {
  if (opts.language !== undefined) {
    // Callers outside TypeScript can pass anything here.
    if (!Language.safeParse(opts.language).success) {
      throw new BuildpackError(
        "UNSUPPORTED_LANGUAGE",
        `"${opts.language}" is not a supported language; use one of: ${LANGUAGES.join(", ")}`,
      );
    }
    return opts.language;
  }
  const extension = posix.extname(entryfilePath).toLowerCase();
  const language = languageByExtension.get(extension);
  if (language === undefined) {
    const supported = LANGUAGES.map((name) => `${EXTENSIONS[name].join(" ")} (${name})`).join(", ");
    const found = extension === "" ? "has no extension" : `has the extension "${extension}"`;
    throw new BuildpackError(
      "UNSUPPORTED_LANGUAGE",
      `cannot tell the language of "${entryfilePath}": it ${found}; supported entry files end in ${supported}`,
    );
  }
  return language;
}
