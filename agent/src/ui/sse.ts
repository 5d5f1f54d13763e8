/** One Server-Sent Event: its `event:` name (default "message") and its `data:` lines joined. */
export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

/**
 * Incremental text/event-stream parser (the subset the agent sends: event, data, id, comments).
 * Fed decoded text chunks as they arrive; calls `emit` for each complete event.
 */
export class SseParser {
  private buf = "";
  private event = "";
  private data: string[] = [];
  private id: string | null = null;
  constructor(private readonly emit: (e: SseEvent) => void) {}

  push(chunk: string): void {
    this.buf += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) return;
      const line = this.buf.slice(0, m.index);
      // A lone "\r" at the end may be the first half of "\r\n": wait for more.
      if (m[0] === "\r" && m.index === this.buf.length - 1) return;
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  /** End of stream: a last event without its blank line is discarded, as the spec says. */
  end(): void {
    this.buf = "";
    this.data = [];
    this.event = "";
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length > 0 || this.event) {
        this.emit({ event: this.event || "message", data: this.data.join("\n"), id: this.id });
      }
      this.event = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id") this.id = value;
  }
}
