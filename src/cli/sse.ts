// A server-sent events parser following the WHATWG event-stream rules, fed chunks as they arrive
// from the network: lines and even UTF-8 characters may be split anywhere between two chunks.

export interface SseEvent {
  /** Event type; `message` when the block had no `event:` field. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The block's own `id:` field, if it had one. */
  id?: string;
  /** The stream's last event id as of this event (ids persist across events, as in EventSource). */
  lastEventId: string;
}

export interface SseHandlers {
  onEvent(event: SseEvent): void;
  /** `: ...` lines; servers send them as keep-alives. */
  onComment?(text: string): void;
}

export class SseParser {
  /**
   * What a reconnecting client sends as Last-Event-ID. Moves when a block completes (also one without
   * data), never on a half-received block: resuming after an event not yet seen would skip it.
   */
  lastEventId = '';
  /** Reconnection delay the server asked for with `retry:`, if any. */
  retryMs: number | undefined;

  private readonly handlers: SseHandlers;
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';
  /** The previous chunk ended in CR: a LF starting the next one belongs to the same line break. */
  private skipLf = false;
  private sawBom = false;
  private eventType = '';
  private data: string[] = [];
  private blockId: string | undefined;
  private idBuffer = '';

  /** `lastEventId`: where a previous connection of the same stream left off (ids persist across them). */
  constructor(handlers: SseHandlers, lastEventId = '') {
    this.handlers = handlers;
    this.lastEventId = this.idBuffer = lastEventId;
  }

  push(chunk: string | Uint8Array): void {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (!this.sawBom && text.length > 0) {
      this.sawBom = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.skipLf && text.startsWith('\n')) text = text.slice(1);
    if (text.length > 0) this.skipLf = false;
    this.buffer += text;

    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      if (end === -1) break;
      const line = this.buffer.slice(start, end);
      if (this.buffer[end] === '\r') {
        if (end + 1 === this.buffer.length) {
          this.skipLf = true;
          start = end + 1;
        } else {
          start = this.buffer[end + 1] === '\n' ? end + 2 : end + 1;
        }
      } else {
        start = end + 1;
      }
      this.line(line);
    }
    this.buffer = this.buffer.slice(start);
  }

  /** End of stream: an unterminated last block is dropped, as the spec says. */
  end(): void {
    this.push(this.decoder.decode());
    this.buffer = '';
    this.eventType = '';
    this.data = [];
    this.blockId = undefined;
    this.idBuffer = this.lastEventId;
    this.skipLf = false;
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) {
      this.handlers.onComment?.(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event': this.eventType = value; break;
      case 'data': this.data.push(value); break;
      case 'id':
        if (!value.includes('\0')) this.idBuffer = this.blockId = value;
        break;
      case 'retry': if (/^\d+$/.test(value)) this.retryMs = Number(value); break;
      default: break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    const type = this.eventType;
    const data = this.data;
    const id = this.blockId;
    this.eventType = '';
    this.data = [];
    this.blockId = undefined;
    this.lastEventId = this.idBuffer;
    if (data.length === 0) return;
    this.handlers.onEvent({
      event: type || 'message', data: data.join('\n'), ...(id === undefined ? {} : { id }), lastEventId: this.lastEventId,
    });
  }
}
