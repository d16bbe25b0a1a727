/** Characters that no POSIX shell gives a meaning to outside quotes. */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * One shell word that the shell reads back as exactly `value`: no expansion, no splitting, no
 * globbing. Single quotes suspend every special character except the single quote itself,
 * which is closed, escaped and reopened.
 */
export function shellQuote(value: string): string {
  if (PLAIN_WORD.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export function shellCommand(words: readonly string[]): string {
  return words.map(shellQuote).join(" ");
}
