// The reconnecting event stream against a scripted HTTP server (no Parley needed).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { ApiClient, ApiError, NetworkError } from '../../src/cli/api.ts';
import { openChatStream, type ChatStreamEvent } from '../../src/cli/events.ts';

const CHAT = '00000000-0000-4000-8000-000000000000';

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: Handler): Promise<{ api: ApiClient; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res, requests.length);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { api: new ApiClient({ baseUrl: `http://127.0.0.1:${port}`, token: 'tok' }), requests };
}

const sse = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.flushHeaders();
};
const block = (type: string, data: unknown, id?: number) => `${id === undefined ? '' : `id: ${id}\n`}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
const textPart = (t: string) => ({ messageId: 'm', attempt: 1, part: { type: 'text', text: t } });

test('reconnects after a drop with Last-Event-ID: the last complete block, also an id-only one', async () => {
  const { api, requests } = await serve((req, res, n) => {
    sse(res);
    if (n === 1) {
      res.write(block('status', { status: 'running' }));
      res.write(block('message_part', textPart('a'), 1));
      res.write(': keep-alive\n\n');
      res.write(block('message_part', textPart('b'), 2));
      res.write('id: 5\n\n');
      // Half a block, then the connection dies: event 6 must be asked for again.
      res.write('id: 6\nevent: message_part\ndata: {"mess');
      setTimeout(() => res.destroy(), 50);
    } else {
      res.write(block('status', { status: 'running' }));
      res.write(block('message_part', textPart('c'), 6));
      res.write(block('status', { status: 'waiting', lastError: null }, 7));
    }
  });
  const reconnects: number[] = [];
  const stream = await openChatStream(api, CHAT, { after: 0, reconnectDelaysMs: [10], onReconnect: (i) => reconnects.push(i.attempt) });
  const got: ChatStreamEvent[] = [];
  for await (const e of stream) {
    got.push(e);
    if (e.id === 7) break;
  }
  expect(got.map((e) => [e.type, e.id])).toEqual([
    ['status', null], ['message_part', 1], ['message_part', 2], ['status', null], ['message_part', 6], ['status', 7],
  ]);
  expect(reconnects).toEqual([1]);
  expect(requests[0]!.url).toBe(`/api/v1/chats/${CHAT}/stream?after=0`);
  expect(requests[0]!.headers['last-event-id']).toBeUndefined();
  expect(requests[0]!.headers.authorization).toBe('Bearer tok');
  expect(requests[1]!.url).toBe(`/api/v1/chats/${CHAT}/stream`);
  expect(requests[1]!.headers['last-event-id']).toBe('5');
  expect(stream.lastEventId).toBe('7');
});

test('a silent connection (no keep-alives) counts as dead and is replaced', async () => {
  const { api, requests } = await serve((_req, res, n) => {
    sse(res);
    if (n === 1) res.write(block('message_part', textPart('a'), 3)); // then silence
    else res.write(block('status', { status: 'waiting' }, 4));
  });
  const stream = await openChatStream(api, CHAT, { idleTimeoutMs: 200, reconnectDelaysMs: [10] });
  const ids: Array<number | null> = [];
  for await (const e of stream) {
    ids.push(e.id);
    if (e.id === 4) break;
  }
  expect(ids).toEqual([3, 4]);
  expect(requests[1]!.headers['last-event-id']).toBe('3');
});

test('the first connection fails fast with the API error; a 4xx on reconnect is final too', async () => {
  const notFound = await serve((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found', message: 'chat not found' } }));
  });
  await expect(openChatStream(notFound.api, CHAT)).rejects.toMatchObject({ name: 'ApiError', status: 404, message: 'chat not found' });

  const gone = await serve((_req, res, n) => {
    if (n === 1) {
      sse(res);
      res.end(block('message_part', textPart('a'), 1));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found', message: 'chat not found' } }));
    }
  });
  const stream = await openChatStream(gone.api, CHAT, { reconnectDelaysMs: [10] });
  const err = await (async () => {
    try {
      for await (const _ of stream) { /* drain */ }
    } catch (e) {
      return e;
    }
  })();
  expect(err).toBeInstanceOf(ApiError);
  expect(gone.requests).toHaveLength(2);
});

test('gives up after maxReconnects with a NetworkError naming the URL', async () => {
  const { api } = await serve((_req, res) => {
    sse(res);
    res.end(block('message_part', textPart('a'), 1));
  });
  const stream = await openChatStream(api, CHAT, { reconnectDelaysMs: [5], maxReconnects: 2 });
  // The server now refuses connections.
  const server = servers.pop()!;
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  let caught: unknown;
  try {
    for await (const _ of stream) { /* drain */ }
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(NetworkError);
  expect((caught as Error).message).toContain(api.baseUrl);
});

test('close() ends the iteration at once, also while waiting for data', async () => {
  const { api } = await serve((_req, res) => sse(res));
  const stream = await openChatStream(api, CHAT);
  setTimeout(() => stream.close(), 50);
  const t0 = Date.now();
  for await (const _ of stream) { /* nothing arrives */ }
  expect(Date.now() - t0).toBeLessThan(2000);
});
