/**
 * Server-Sent Events as the watch route sends them and its readers (another node relaying a
 * shard, the client library) read them: `event:`, `id:` and one `data:` line per event, a blank
 * line after each (https://html.spec.whatwg.org/multipage/server-sent-events.html).
 */

export interface SseEvent {
  readonly event: string;
  readonly id: string | null;
  readonly data: string;
}

/** One event as text. */
export function formatSse(e: SseEvent): string {
  return `event: ${e.event}\n${e.id === null ? '' : `id: ${e.id}\n`}${e.data === '' ? '' : `data: ${e.data}\n`}\n`;
}

/** Splits a stream of text into events; feed it chunks, it calls `onEvent` for each whole one. */
export class SseParser {
  #buffer = '';
  #event = 'message';
  #id: string | null = null;
  #data: string[] = [];
  readonly #onEvent: (e: SseEvent) => void;

  constructor(onEvent: (e: SseEvent) => void) {
    this.#onEvent = onEvent;
  }

  push(chunk: string): void {
    this.#buffer += chunk;
    for (let nl = this.#buffer.indexOf('\n'); nl >= 0; nl = this.#buffer.indexOf('\n')) {
      const line = this.#buffer.slice(0, nl).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(nl + 1);
      this.#line(line);
    }
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0 || this.#id !== null || this.#event !== 'message')
        this.#onEvent({ event: this.#event, id: this.#id, data: this.#data.join('\n') });
      this.#event = 'message';
      this.#id = null;
      this.#data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') this.#event = value;
    else if (field === 'id') this.#id = value;
    else if (field === 'data') this.#data.push(value);
  }
}
