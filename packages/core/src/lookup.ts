/**
 * A record's own entry for a key that came from user input. Plain indexing would also find
 * inherited members (`constructor`, `__proto__`), which a stack file may well contain.
 */
export function own<Value>(record: Partial<Record<string, Value>>, key: string): Value | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
