import type { Json } from './api.ts';

/** One SSE block as sent; `data` parsed as JSON. */
export interface SseBlock { id?: string; event?: string; data?: Json }

export interface SseClient {
  status: number;
  headers: Headers;
  /** The JSON body of a response that is not a stream (status other than 200). */
  body: Json;
  blocks: SseBlock[];
  /** `: ...` lines, such as keep-alives. */
  comments: string[];
  /** Settles once the stream has ended or was aborted. */
  done: Promise<void>;
  /** Aborts the request and waits until reading has stopped. */
  close(): Promise<void>;
}

/**
 * GETs an SSE stream with fetch and reads it in the background. The parser is a minimal one rather
 * than the client's SseParser: that one (rightly) dispatches no block without data, while tests
 * assert on the id-only blocks by which the server moves a client's resume point.
 */
export async function fetchSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  const client: SseClient = {
    status: res.status, headers: res.headers, body: undefined, blocks: [], comments: [], done: Promise.resolve(),
    close: async () => {
      ac.abort();
      await client.done;
    },
  };
  if (res.status !== 200) {
    client.body = await res.json();
    return client;
  }
  client.done = (async () => {
    const decoder = new TextDecoder();
    let pending = '';
    let block: SseBlock = {};
    try {
      for await (const chunk of res.body!) {
        pending += decoder.decode(chunk as Uint8Array, { stream: true });
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          if (line === '') {
            if (Object.keys(block).length) client.blocks.push(block);
            block = {};
          } else if (line.startsWith(':')) {
            client.comments.push(line.slice(1).trim());
          } else {
            const i = line.indexOf(':');
            const field = line.slice(0, i);
            const value = line.slice(i + 1).replace(/^ /, '');
            if (field === 'id') block.id = value;
            else if (field === 'event') block.event = value;
            else if (field === 'data') block.data = JSON.parse(value);
          }
        }
      }
    } catch { /* aborted or dropped */ }
  })();
  return client;
}
