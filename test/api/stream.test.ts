import { randomUUID } from 'node:crypto';
import net from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import type { ApiDeps } from '../../src/api/deps.ts';
import { streamRoutes, type StreamRouteOptions } from '../../src/api/routes/stream.ts';
import type { AuthUser } from '../../src/api/auth-user.ts';
import { createPgEventHub } from '../../src/events/pg-event-hub.ts';
import type { EventHub, EventLog } from '../../src/events/event-log.ts';
import type { ChatStatus, NewChatEvent } from '../../src/shared/types.ts';
import { createEventsFixture, seedChat, seedUser, type TestDatabase } from '../support/db.ts';
import { fetchSse, type SseClient } from '../support/sse.ts';

let db: TestDatabase;
let log: EventLog;
let alice: string;
let bob: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  ({ db, log, userId: alice } = await createEventsFixture());
  bob = await seedUser(db.pool, 'bob');
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
afterAll(async () => { await db.drop(); });

const newChat = (owner = alice, status: ChatStatus = 'waiting') => seedChat(db.pool, owner, status);

interface Server { app: FastifyInstance; hub: EventHub; base: string; stop: () => Promise<void> }

/** One API replica: its own hub and a fastify app whose "auth" takes the user id from a header. */
async function startServer(options: Partial<StreamRouteOptions> = {}, wrapHub: (hub: EventHub) => EventHub = (h) => h): Promise<Server> {
  const hub = wrapHub(createPgEventHub(db.url, log, { reconnectMinMs: 100 }));
  await hub.start();
  const app = Fastify();
  app.decorateRequest('user', null as unknown as AuthUser);
  app.addHook('onRequest', async (request) => {
    request.user = { id: String(request.headers['x-user']), username: 'test', role: 'member' };
  });
  const deps = { pool: db.pool, events: log, hub } as unknown as ApiDeps;
  await app.register(streamRoutes, { prefix: '/api/v1', ...options, deps });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as net.AddressInfo;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.close();
    await hub.stop();
  };
  cleanups.push(stop);
  return { app, hub, base: `http://127.0.0.1:${port}`, stop };
}

async function connect(server: Server, chatId: string, opts: { user?: string; lastEventId?: number; query?: string } = {}): Promise<SseClient> {
  const headers: Record<string, string> = { 'x-user': opts.user ?? alice };
  if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId);
  const client = await fetchSse(`${server.base}/api/v1/chats/${chatId}/stream${opts.query ?? ''}`, headers);
  cleanups.push(client.close);
  return client;
}

const title = (t: string): NewChatEvent => ({ type: 'title', data: { title: t } });
const eventIds = (c: SseClient) => c.blocks.filter((b) => b.event && b.id !== undefined).map((b) => Number(b.id));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('status first (without id), then the events after Last-Event-ID, then live ones', async () => {
  const server = await startServer();
  const chatId = await newChat(alice, 'error');
  const lastError = { message: 'boom', kind: 'rate_limit', retryable: true };
  await db.pool.query('UPDATE chats SET last_error = $2 WHERE id = $1', [chatId, lastError]);
  await log.append(chatId, [title('1'), title('2'), title('3'), title('4')]);

  const client = await connect(server, chatId, { lastEventId: 2 });
  expect(client.status).toBe(200);
  expect(client.headers.get('content-type')).toMatch(/^text\/event-stream/);
  expect(client.headers.get('cache-control')).toBe('no-cache');
  expect(client.headers.get('x-accel-buffering')).toBe('no');
  await expect.poll(() => client.blocks.length).toBe(3);
  expect(client.blocks[0]).toEqual({ event: 'status', data: { status: 'error', lastError } });
  expect(client.blocks.slice(1)).toEqual([
    { id: '3', event: 'title', data: { title: '3' } },
    { id: '4', event: 'title', data: { title: '4' } },
  ]);

  await log.append(chatId, [{ type: 'status', data: { status: 'running' } }]);
  await expect.poll(() => client.blocks.at(-1)).toEqual({ id: '5', event: 'status', data: { status: 'running' } });
  await log.append(chatId, [title('6')]);
  await expect.poll(() => eventIds(client)).toEqual([3, 4, 5, 6]);
});

test('?after= resumes like Last-Event-ID; a resume id beyond the log still gets the next events', async () => {
  const server = await startServer();
  const chatId = await newChat();
  await log.append(chatId, [title('1'), title('2'), title('3')]);
  const client = await connect(server, chatId, { query: '?after=1' });
  await expect.poll(() => eventIds(client)).toEqual([2, 3]);

  const ahead = await connect(server, chatId, { lastEventId: 99 });
  await expect.poll(() => ahead.blocks.length).toBe(1);
  await log.append(chatId, [title('4')]);
  await expect.poll(() => eventIds(ahead)).toEqual([4]);
  await expect.poll(() => eventIds(client)).toEqual([2, 3, 4]);
});

test('without a resume id: the deltas of the message still streaming, then the resume point, then live', async () => {
  const server = await startServer();
  const chatId = await newChat(alice, 'running');
  const [done, streaming] = [randomUUID(), randomUUID()];
  const part = (messageId: string, text: string): NewChatEvent =>
    ({ type: 'message_part', data: { messageId, attempt: 1, part: { type: 'text', text } } });
  await log.append(chatId, [part(done, 'old'), part(done, ' text')]); // 1, 2
  await log.append(chatId, [title('t')]); // 3
  await log.pruneParts(chatId, done);
  await log.append(chatId, [part(streaming, 'Hel'), part(streaming, 'lo'), title('t2')]); // 4, 5, 6

  const client = await connect(server, chatId);
  await expect.poll(() => client.blocks.length).toBe(4);
  expect(client.blocks).toEqual([
    { event: 'status', data: { status: 'running', lastError: null } },
    { id: '4', event: 'message_part', data: { messageId: streaming, attempt: 1, part: { type: 'text', text: 'Hel' } } },
    { id: '5', event: 'message_part', data: { messageId: streaming, attempt: 1, part: { type: 'text', text: 'lo' } } },
    // Moves the client's Last-Event-ID past events it got from the REST API, without an event.
    { id: '6' },
  ]);
  await log.append(chatId, [part(streaming, '!')]);
  await expect.poll(() => client.blocks.at(-1)?.id).toBe('7');
});

test('404 for another user\'s chat, a missing chat and a non-uuid id; 400 for a malformed resume id', async () => {
  const server = await startServer();
  const bobs = await newChat(bob);
  for (const id of [bobs, randomUUID(), 'not-a-uuid']) {
    const client = await connect(server, id);
    expect(client.status).toBe(404);
    expect(client.body).toEqual({ error: { code: 'not_found', message: 'chat not found' } });
  }
  const mine = await connect(server, bobs, { user: bob });
  expect(mine.status).toBe(200);
  const bad = await connect(server, bobs, { user: bob, query: '?after=-1' });
  expect(bad.status).toBe(400);
  expect(bad.body).toMatchObject({ error: { code: 'bad_request' } });
});

test('sends keep-alive comments', async () => {
  const server = await startServer({ keepAliveMs: 50 });
  const client = await connect(server, await newChat());
  await expect.poll(() => client.comments.length).toBeGreaterThanOrEqual(2);
  expect(client.comments[0]).toBe('keep-alive');
});

test('a client resuming across a restart of the API (app + hub) gets every event once, in order', async () => {
  const chatId = await newChat();
  let appending = true;
  let appended = 0;
  const appender = (async () => {
    while (appending) {
      await log.append(chatId, [title(String(++appended))]);
      await new Promise((r) => setTimeout(r, 3));
    }
  })();

  const received: number[] = [];
  const follow = async (server: Server, minEvents: number) => {
    const client = await connect(server, chatId, received.length ? { lastEventId: received.at(-1)! } : { query: '?after=0' });
    await expect.poll(() => eventIds(client).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(minEvents);
    return client;
  };

  const first = await startServer();
  const c1 = await follow(first, 20);
  await first.stop(); // ends the stream, as a deploy would
  await c1.done;
  received.push(...eventIds(c1));
  const down = appended;
  await new Promise((r) => setTimeout(r, 100)); // events appended while no replica runs

  const second = await startServer();
  const c2 = await follow(second, 20);
  expect(appended).toBeGreaterThan(down);
  appending = false;
  await appender;
  await expect.poll(() => eventIds(c2).at(-1), { timeout: 10_000 }).toBe(appended);
  received.push(...eventIds(c2));
  expect(received).toEqual(range(1, appended));
});

test('a client that stops reading is dropped; a fast one on the same chat still gets everything promptly', async () => {
  const active = new Map<string, number>();
  const counting = (hub: EventHub): EventHub => ({
    ...hub,
    subscribe(chatId, onEvent) {
      active.set(chatId, (active.get(chatId) ?? 0) + 1);
      const stop = hub.subscribe(chatId, onEvent);
      let stopped = false;
      return () => {
        if (!stopped) active.set(chatId, active.get(chatId)! - 1);
        stopped = true;
        stop();
      };
    },
  });
  const server = await startServer({ maxBufferedBytes: 256 * 1024 }, counting);
  const chatId = await newChat();

  // The slow client sends its request and never reads a byte of the response.
  const slow = net.connect(Number(new URL(server.base).port), '127.0.0.1');
  slow.pause();
  slow.on('error', () => {});
  cleanups.push(async () => { slow.destroy(); });
  slow.write(`GET /api/v1/chats/${chatId}/stream?after=0 HTTP/1.1\r\nhost: test\r\nx-user: ${alice}\r\n\r\n`);
  const fast = await connect(server, chatId, { query: '?after=0' });
  await expect.poll(() => active.get(chatId)).toBe(2);

  const big = 'x'.repeat(100_000);
  const total = 150; // 15 MB: far more than the kernel's socket buffers hold
  const t0 = Date.now();
  for (let i = 1; i <= total; i++) await log.append(chatId, [title(`${i} ${big}`)]);
  const appendedAt = Date.now();
  await expect.poll(() => eventIds(fast).length, { timeout: 20_000, interval: 20 }).toBe(total);
  const lag = Date.now() - appendedAt;
  expect(eventIds(fast)).toEqual(range(1, total));
  expect(lag).toBeLessThan(5_000);
  await expect.poll(() => active.get(chatId)).toBe(1);
  expect(Date.now() - t0).toBeLessThan(30_000);
});

test('ids the hub did not deliver are read from the log before the next live event', async () => {
  // A hub that loses event 3 (as if a notification went missing) must not cost the client event 3.
  const lossy = (hub: EventHub): EventHub => ({
    ...hub,
    subscribe: (chatId, onEvent) => hub.subscribe(chatId, (e) => { if (e.id !== 3) onEvent(e); }),
  });
  const server = await startServer({}, lossy);
  const chatId = await newChat();
  const client = await connect(server, chatId, { query: '?after=0' });
  await expect.poll(() => client.blocks.length).toBe(1);
  for (let i = 1; i <= 5; i++) await log.append(chatId, [title(String(i))]);
  await expect.poll(() => eventIds(client)).toEqual([1, 2, 3, 4, 5]);
  expect(client.blocks.find((b) => b.id === '3')).toEqual({ id: '3', event: 'title', data: { title: '3' } });
});
