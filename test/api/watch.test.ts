import type net from 'node:net';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { waitFor } from '../support/fake-providers.ts';
import { createTestApi, type TestApi } from '../support/api.ts';
import { fetchSse, type SseBlock, type SseClient } from '../support/sse.ts';

let api: TestApi;
let base: string;
let alice: { token: string; user: { id: string } };
let bob: { token: string; user: { id: string } };
let active = 0;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  api = await createTestApi();
  await api.setupModel();
  alice = await api.createMember('alice');
  bob = await api.createMember('bob');
  // Counts live subscriptions, to see that a closed stream lets go of its own.
  const hub = api.deps.hub;
  const subscribeUser = hub.subscribeUser!.bind(hub);
  hub.subscribeUser = (userId, onChange) => {
    active++;
    const off = subscribeUser(userId, onChange);
    let done = false;
    return () => {
      if (!done) active--;
      done = true;
      off();
    };
  };
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(api.app.server.address() as net.AddressInfo).port}`;
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
afterAll(async () => { await api?.close(); });

interface Watch extends SseClient { chats(): SseBlock[] }

async function watch(token: string): Promise<Watch> {
  const client = await fetchSse(`${base}/api/v1/chats/watch`, { authorization: `Bearer ${token}` });
  cleanups.push(client.close);
  return Object.assign(client, { chats: () => client.blocks.filter((b) => b.event === 'chat') });
}

const kinds = (w: Watch, chatId: string) => w.chats().filter((b) => b.data.chat.id === chatId).map((b) => b.data.change);

async function newChat(token: string, content = 'hello') {
  const res = await api.request('POST', '/api/v1/chats', { body: { content }, token });
  expect(res.status).toBe(201);
  return res.body.chat as { id: string; title: string; createdAt: string };
}

test('is an SSE stream, not captured by /chats/:id; needs a token', async () => {
  const w = await watch(alice.token);
  expect(w.status).toBe(200);
  expect(w.headers.get('content-type')).toMatch(/^text\/event-stream/);
  // Through inject: a second socket beside an aborted stream can hold up server.close() (undici opens spare sockets).
  const anon = await api.request('GET', '/api/v1/chats/watch', { token: null });
  expect(anon.status).toBe(401);
  expect(anon.body.error.code).toBe('unauthorized');
  const doc = (await api.request('GET', '/api/v1/openapi.json')).body;
  expect(doc.paths['/api/v1/chats/watch'].get.description).toContain('event: chat');
});

test('created, title, archived, status and deleted changes of own chats, in order', async () => {
  const w = await watch(alice.token);
  const chat = await newChat(alice.token, 'Plan a trip');
  await waitFor(() => kinds(w, chat.id).length >= 1, 5_000, 'created');
  const created = w.chats()[0]!.data;
  expect(created).toEqual({
    change: 'created',
    chat: { id: chat.id, title: 'Plan a trip', status: 'pending', archived: false, createdAt: chat.createdAt, updatedAt: expect.any(String) },
  });

  expect((await api.request('PATCH', `/api/v1/chats/${chat.id}`, { body: { title: 'Trip' }, token: alice.token })).status).toBe(200);
  expect((await api.request('PATCH', `/api/v1/chats/${chat.id}`, { body: { archived: true }, token: alice.token })).status).toBe(200);
  // The workflow's status changes go through the same table.
  await api.db.pool.query(`UPDATE chats SET status = 'running' WHERE id = $1`, [chat.id]);
  // Writes that change none of the watched fields say nothing (the event log bumps the row on every event).
  await api.db.pool.query(`UPDATE chats SET status = 'running', last_event_id = last_event_id + 1, context_tokens = 5 WHERE id = $1`, [chat.id]);
  await api.db.pool.query(`UPDATE chats SET status = 'waiting' WHERE id = $1`, [chat.id]);
  // Several fields at once: one event per field.
  await api.request('PATCH', `/api/v1/chats/${chat.id}`, { body: { title: 'Trip 2', archived: false }, token: alice.token });
  expect((await api.request('DELETE', `/api/v1/chats/${chat.id}`, { token: alice.token })).status).toBe(204);

  await waitFor(() => kinds(w, chat.id).includes('deleted'), 5_000, 'deleted');
  expect(kinds(w, chat.id)).toEqual(['created', 'title', 'archived', 'status', 'status', 'title', 'archived', 'deleted']);
  const data = w.chats().map((b) => b.data.chat);
  expect(data.map((c) => [c.title, c.archived, c.status])).toEqual([
    ['Plan a trip', false, 'pending'],
    ['Trip', false, 'pending'],
    ['Trip', true, 'pending'],
    ['Trip', true, 'running'],
    ['Trip', true, 'waiting'],
    ['Trip 2', false, 'waiting'],
    ['Trip 2', false, 'waiting'],
    ['Trip 2', false, 'waiting'],
  ]);
  expect(w.blocks.every((b) => b.id === undefined)).toBe(true);
});

test('each user sees only their own chats', async () => {
  const wa = await watch(alice.token);
  const wb = await watch(bob.token);
  const a = await newChat(alice.token, 'alice chat');
  const b = await newChat(bob.token, 'bob chat');
  await api.request('PATCH', `/api/v1/chats/${b.id}`, { body: { title: 'bob renamed' }, token: bob.token });
  await api.request('DELETE', `/api/v1/chats/${b.id}`, { token: bob.token });
  // Another user touching alice's chat is a 404 and no change.
  expect((await api.request('PATCH', `/api/v1/chats/${a.id}`, { body: { title: 'x' }, token: bob.token })).status).toBe(404);
  await waitFor(() => kinds(wb, b.id).includes('deleted') && kinds(wa, a.id).length > 0, 5_000, 'both streams');
  await new Promise((r) => setTimeout(r, 200));
  expect(wa.chats().map((x) => x.data.chat.id)).toEqual([a.id]);
  expect(wb.chats().map((x) => x.data.chat.id)).toEqual([b.id, b.id, b.id]);
  expect(kinds(wb, b.id)).toEqual(['created', 'title', 'deleted']);
});

test('a closed stream unsubscribes', async () => {
  // The streams of earlier tests were aborted; the server notices asynchronously.
  await waitFor(() => active === 0, 5_000, 'earlier streams closed');
  const w = await watch(alice.token);
  expect(active).toBe(1);
  await w.close();
  await waitFor(() => active === 0, 5_000, 'unsubscribed');
});

test('after the hub lost its LISTEN connection, watchers are told to resync, and changes flow again', async () => {
  const w = await watch(alice.token);
  const { rows } = await api.db.pool.query(
    `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
     WHERE datname = current_database() AND query = 'LISTEN parley_events'`,
  );
  expect(rows.length).toBeGreaterThan(0);
  await waitFor(() => w.blocks.some((b) => b.event === 'resync'), 10_000, 'resync');
  expect(w.blocks.find((b) => b.event === 'resync')!.data).toEqual({});
  const chat = await newChat(alice.token, 'after reconnect');
  await waitFor(() => kinds(w, chat.id).includes('created'), 5_000, 'created after reconnect');
});

test('sends keep-alive comments', async () => {
  // A separate app with a short keep-alive interval, on the same database and hub.
  const Fastify = (await import('fastify')).default;
  const { watchRoutes } = await import('../../src/api/routes/watch.ts');
  const app = Fastify();
  app.decorateRequest('user', null as any);
  app.addHook('onRequest', async (request) => { request.user = { id: alice.user.id, username: 'alice', role: 'member' }; });
  await app.register(watchRoutes, { deps: api.deps, keepAliveMs: 50 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => app.close());
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}/chats/watch`, { signal: ac.signal });
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes(': keep-alive')) text += new TextDecoder().decode((await reader.read()).value);
  ac.abort();
});
