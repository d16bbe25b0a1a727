/**
 * Turns a stream of text into lines. A partial line waits for its newline, or for `flush` when the
 * stream ends; a line longer than CloudWatch Logs' event limit is cut so memory stays bounded.
 */
export class LineSplitter {
  private partial = "";

  constructor(
    private readonly onLines: (lines: string[]) => void,
    private readonly maxLineLength = 256 * 1024,
  ) {}

  push(text: string): void {
    const pieces = (this.partial + text).split("\n");
    this.partial = pieces.pop() ?? "";
    const lines = pieces.map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line));
    while (this.partial.length > this.maxLineLength) {
      lines.push(this.partial.slice(0, this.maxLineLength));
      this.partial = this.partial.slice(this.maxLineLength);
    }
    if (lines.length > 0) this.onLines(lines);
  }

  flush(): void {
    if (this.partial === "") return;
    const line = this.partial;
    this.partial = "";
    this.onLines([line]);
  }
}

/** The last `capacity` lines seen. */
export class RecentLines {
  private readonly lines: string[] = [];

  constructor(private readonly capacity: number) {}

  add(lines: readonly string[]): void {
    this.lines.push(...lines.slice(-this.capacity));
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
  }

  snapshot(): string[] {
    return [...this.lines];
  }
}
