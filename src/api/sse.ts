import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';

export interface SseMessage {
  /** Omitted for messages that must not move the client's resume point (Last-Event-ID). */
  id?: number;
  event: string;
  data: unknown;
}

export interface SseOptions {
  /** Interval of `: keep-alive` comments, so proxies and clients don't time out an idle stream. */
  keepAliveMs: number;
  /** Extra response headers (e.g. set by hooks before the route hijacked the reply). */
  headers?: Record<string, string | number | string[] | undefined>;
}

export interface SseStream {
  readonly closed: boolean;
  /** Bytes written but not yet taken by the client's socket. */
  readonly bufferedBytes: number;
  /** True once the socket buffer is past its high-water mark: wait for `drained()` before writing more. */
  readonly needsDrain: boolean;
  /** Writes one message; false when the stream is already closed. */
  send(message: SseMessage): boolean;
  /** Writes a block made by `formatSse` (lets one serialisation serve every subscriber). */
  write(block: string): boolean;
  /** A line that only moves the client's resume point (an SSE block with an id and no data is not dispatched). */
  sendId(id: number): boolean;
  /** Resolves once the client has taken the buffered bytes, or the stream closed. */
  drained(): Promise<void>;
  /** `end` finishes the response; `destroy` drops the connection and its buffered bytes at once. */
  close(how?: 'end' | 'destroy'): void;
  onClose(fn: () => void): void;
}

/** One SSE block. JSON never contains a raw line break, so `data` is always a single line. */
export function formatSse(message: SseMessage): string {
  const id = message.id === undefined ? '' : `id: ${message.id}\n`;
  return `${id}event: ${message.event}\ndata: ${JSON.stringify(message.data)}\n\n`;
}

export function openSse(res: ServerResponse, options: SseOptions): SseStream {
  let closed = false;
  const closeHandlers: Array<() => void> = [];

  res.writeHead(200, {
    ...options.headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  res.socket?.setNoDelay(true);

  const keepAlive = setInterval(() => write(': keep-alive\n\n'), options.keepAliveMs);

  const finish = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    for (const fn of closeHandlers.splice(0)) {
      try {
        fn();
      } catch { /* one cleanup failing must not skip the others */ }
    }
  };
  res.on('close', finish);
  res.on('error', finish);

  function write(chunk: string): boolean {
    if (closed || res.destroyed || res.writableEnded) return false;
    res.write(chunk);
    return true;
  }

  return {
    get closed() {
      return closed;
    },
    get bufferedBytes() {
      return res.writableLength;
    },
    get needsDrain() {
      return res.writableNeedDrain;
    },
    send: (message) => write(formatSse(message)),
    write,
    sendId: (id) => write(`id: ${id}\n\n`),
    drained() {
      if (closed || !res.writableNeedDrain) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    },
    close(how = 'end') {
      if (closed) return;
      if (how === 'destroy') res.destroy();
      else res.end();
      finish();
    },
    onClose(fn) {
      if (closed) fn();
      else closeHandlers.push(fn);
    },
  };
}

export interface OpenStreams {
  /** Keeps `sse` until it closes. */
  add(sse: SseStream): void;
}

/**
 * The streams a route plugin opened, ended when the server closes: hijacked responses would keep
 * server.close() waiting forever. Clients reconnect (with their last id, where the stream has ids).
 */
export function trackStreams(app: FastifyInstance): OpenStreams {
  const open = new Set<SseStream>();
  app.addHook('preClose', async () => {
    for (const sse of open) sse.close(sse.bufferedBytes > 0 ? 'destroy' : 'end');
  });
  return {
    add(sse) {
      open.add(sse);
      sse.onClose(() => open.delete(sse));
    },
  };
}
