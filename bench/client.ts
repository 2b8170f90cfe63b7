// The bench's view of Parley: JSON calls to the REST API and one SSE stream per chat, read with
// node:http so each event is timed when its bytes arrive, before any parsing.
import http from 'node:http';
import { nowMs, within } from './clock.ts';
import { SseParser, type SseEvent as ParsedSseEvent } from '../src/cli/sse.ts';

export interface SseEvent {
  event: string;
  id: number | undefined;
  /** Raw `data:` line (JSON): figures grep it for stamps without parsing it. */
  data: string;
  /** When the chunk holding it arrived (our clock). */
  at: number;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface Api {
  baseUrl: string;
  call<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<T>;
}

export function apiClient(baseUrl: string, adminToken: string): Api {
  return {
    baseUrl,
    async call<T>(method: string, path: string, body?: unknown, token = adminToken): Promise<T> {
      const res = await fetch(`${baseUrl}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (!res.ok) throw new ApiError(res.status, `${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
  };
}

const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

/** One chat's live event stream and the turn bookkeeping every figure needs. */
export class ChatStream {
  readonly chatId: string;
  readonly token: string;
  /** Latest status seen on the stream. */
  status = 'unknown';
  /** Per-figure hook, called for every event. */
  tap: ((e: SseEvent) => void) | null = null;
  private req: http.ClientRequest | null = null;
  private waiters: Array<{ pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void; reject: (err: Error) => void }> = [];
  private closedByUs = false;

  constructor(chatId: string, token: string) {
    this.chatId = chatId;
    this.token = token;
  }

  /** Connects; resolves once the initial status snapshot arrived. */
  open(baseUrl: string): Promise<void> {
    const first = this.next((e) => e.event === 'status');
    const url = new URL(`${baseUrl}/api/v1/chats/${this.chatId}/stream`);
    this.req = http.get(url, { agent, headers: { authorization: `Bearer ${this.token}`, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        this.fail(new Error(`stream ${this.chatId}: HTTP ${res.statusCode}`));
        return;
      }
      // The CLI's parser (src/cli/sse.ts): it dispatches no id-only block or keep-alive comment.
      let at = 0;
      const parser = new SseParser({ onEvent: (e) => this.dispatch(e, at) });
      res.on('data', (chunk: Buffer) => {
        at = nowMs();
        parser.push(chunk);
      });
      res.on('close', () => { if (!this.closedByUs) this.fail(new Error(`stream ${this.chatId} closed by the server`)); });
    });
    this.req.on('error', (err) => { if (!this.closedByUs) this.fail(err); });
    return within(first.then(() => {}), 30_000, `stream of chat ${this.chatId}`);
  }

  close(): void {
    this.closedByUs = true;
    this.req?.destroy();
  }

  /** The next event matching `pred` (register before causing it). */
  next(pred: (e: SseEvent) => boolean): Promise<SseEvent> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ pred, resolve, reject }));
  }

  /** The next `status` event with one of these statuses. */
  nextStatus(...statuses: string[]): Promise<SseEvent> {
    return this.next((e) => e.event === 'status' && statuses.some((s) => e.data.includes(`"status":"${s}"`)));
  }

  private dispatch(parsed: ParsedSseEvent, at: number): void {
    const { event, data } = parsed;
    if (!data) return;
    const e: SseEvent = { event, id: parsed.id === undefined ? undefined : Number(parsed.id), data, at };
    if (event === 'status') this.status = (JSON.parse(data) as { status: string }).status;
    this.tap?.(e);
    if (this.waiters.length) {
      const still = [];
      for (const w of this.waiters) {
        if (w.pred(e)) w.resolve(e);
        else still.push(w);
      }
      this.waiters = still;
    }
  }

  private failure: Error | null = null;
  private fail(err: Error): void {
    this.failure ??= err;
    // Waiters would hang forever: whoever waits on this chat learns the stream broke.
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  get error(): Error | null {
    return this.failure;
  }
}
