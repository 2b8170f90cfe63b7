// A chat's event stream (`GET /chats/:id/stream`) as an async iterable of typed events that
// survives dropped connections: it reconnects with Last-Event-ID, so the server replays exactly
// what was missed.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChatEventDataMap, ChatEventType } from '../shared/types.ts';
import { chatEventTypes } from '../shared/types.ts';
import { ApiError, errorFrom, NetworkError, type ApiClient } from './api.ts';
import { SseParser, type SseEvent } from './sse.ts';

/** `id` is null for the status snapshot a connection starts with: it is not part of the chat's log. */
export type ChatStreamEvent = {
  [K in ChatEventType]: { id: number | null; type: K; data: ChatEventDataMap[K] }
}[ChatEventType];

export interface ChatStreamOptions {
  /** Resume point of the first connection (`?after=`); without it the server starts at "now". */
  after?: number;
  /** No bytes for this long (the server sends keep-alives every 15 s) counts as a dead connection. */
  idleTimeoutMs?: number;
  /** Waits before reconnect attempts; the last one repeats. */
  reconnectDelaysMs?: readonly number[];
  /** Consecutive failed reconnects before giving up. */
  maxReconnects?: number;
  onReconnect?(info: { attempt: number; delayMs: number; error: unknown }): void;
}

export interface ChatStream extends AsyncIterable<ChatStreamEvent> {
  /** The id a reconnect would resume after ('' before the first one arrived). */
  readonly lastEventId: string;
  close(): void;
}

const DEFAULT_DELAYS = [250, 500, 1000, 2000, 4000];
const KNOWN_TYPES = new Set<string>(chatEventTypes);

class StreamClosed extends Error {}

/** Connects once (so the caller knows the stream is live, e.g. before sending a message), then iterates. */
export async function openChatStream(api: ApiClient, chatId: string, options: ChatStreamOptions = {}): Promise<ChatStream> {
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  const delays = options.reconnectDelaysMs ?? DEFAULT_DELAYS;
  const maxReconnects = options.maxReconnects ?? 10;
  const path = `/chats/${encodeURIComponent(chatId)}/stream`;
  let lastEventId = '';
  let closed = false;
  let current: AbortController | null = null;
  const closing = new AbortController();

  async function connect(): Promise<Response> {
    const ac = new AbortController();
    current = ac;
    const signal = AbortSignal.any([ac.signal, closing.signal]);
    const resume = lastEventId ? { headers: { 'last-event-id': lastEventId } } : {};
    const query = !lastEventId && options.after !== undefined ? `?after=${options.after}` : '';
    const res = await api.fetch(path + query, { ...resume, headers: { accept: 'text/event-stream', ...resume.headers }, signal });
    if (!res.ok) throw errorFrom(res, await res.text().catch(() => ''));
    if (!res.body) throw new Error('the event stream response has no body');
    return res;
  }

  /** Yields the events of one connection until it ends, fails or goes silent. */
  async function* read(res: Response): AsyncGenerator<ChatStreamEvent> {
    const ac = current!;
    const pending: SseEvent[] = [];
    const parser = new SseParser({ onEvent: (e) => pending.push(e) }, lastEventId);
    const reader = res.body!.getReader();
    let idle: NodeJS.Timeout | undefined;
    let timedOut = false;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => { timedOut = true; ac.abort(); }, idleTimeoutMs);
    };
    try {
      arm();
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (err) {
          if (closed) throw new StreamClosed();
          throw timedOut ? new Error(`no data for ${idleTimeoutMs} ms`) : err;
        }
        if (chunk.done) break;
        arm();
        parser.push(chunk.value);
        // Kept in step with what was handed out, so a reconnect never skips an unconsumed event.
        while (pending.length > 0) {
          const e = pending.shift()!;
          lastEventId = e.lastEventId;
          const event = toChatEvent(e);
          if (event) yield event;
        }
        // `id:` blocks without data move the resume point too.
        lastEventId = parser.lastEventId;
      }
      parser.end();
    } finally {
      clearTimeout(idle);
      ac.abort();
      reader.releaseLock();
    }
  }

  const first = await connect();

  async function* iterate(): AsyncGenerator<ChatStreamEvent> {
    let res: Response | null = first;
    let failures = 0;
    let error: unknown = null;
    try {
      for (;;) {
        if (res) {
          try {
            for await (const event of read(res)) {
              failures = 0;
              yield event;
            }
            error = new Error('the server closed the event stream');
          } catch (err) {
            if (closed || err instanceof StreamClosed) return;
            error = err;
          }
          res = null;
        }
        if (closed) return;
        failures++;
        if (failures > maxReconnects) {
          throw error instanceof ApiError || error instanceof NetworkError
            ? error
            : new NetworkError(api.baseUrl, error);
        }
        const delayMs = delays[Math.min(failures - 1, delays.length - 1)] ?? 1000;
        options.onReconnect?.({ attempt: failures, delayMs, error });
        try {
          await sleep(delayMs, undefined, { signal: closing.signal });
          res = await connect();
        } catch (err) {
          if (closed) return;
          // The chat is gone or the token revoked: retrying can't help.
          if (err instanceof ApiError && err.status < 500 && err.status !== 429) throw err;
          error = err;
        }
      }
    } finally {
      current?.abort();
    }
  }

  const events = iterate();
  return {
    get lastEventId() { return lastEventId; },
    close() {
      closed = true;
      closing.abort();
      current?.abort();
    },
    [Symbol.asyncIterator]: () => events,
  };
}

function toChatEvent(e: SseEvent): ChatStreamEvent | null {
  // Event types added by a newer server are skipped rather than fatal.
  if (!KNOWN_TYPES.has(e.event)) return null;
  let data: unknown;
  try {
    data = JSON.parse(e.data);
  } catch {
    return null;
  }
  const id = e.id !== undefined && /^\d+$/.test(e.id) ? Number(e.id) : null;
  return { id, type: e.event, data } as ChatStreamEvent;
}
