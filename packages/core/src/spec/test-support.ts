/**
 * The first eight lines of a stack file whose `api` is a private service built from
 * src/main.ts. Tests that point at lines and columns spell the rest out, from line 9.
 */
export const PRIVATE_API_HEAD: readonly string[] = [
  "resources:", // 1
  "  api:", // 2
  "    type: private-service", // 3
  "    properties:", // 4
  "      packaging:", // 5
  "        type: stacktape-image-buildpack", // 6
  "        properties:", // 7
  "          entryfilePath: src/main.ts", // 8
];
