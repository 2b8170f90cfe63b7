import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestApi, type TestApi } from '../support/api.ts';

let api: TestApi;
let alice: { token: string; user: { id: string } };
let bob: { token: string; user: { id: string } };
let chatA1: string;
let chatA2: string;
let chatB: string;

interface Row { chat: string; model: string | null; at: string; usage: Record<string, number> | null; cost: number | null; role?: string }

const u = (i: number, o: number, cr = 0, cw = 0, r = 0) =>
  ({ inputTokens: i, outputTokens: o, cacheReadTokens: cr, cacheWriteTokens: cw, reasoningTokens: r });

let step = 0;
async function insert(rows: Row[]) {
  for (const r of rows) {
    step++;
    await api.db.pool.query(
      `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, model, usage, cost_micros, created_at)
       VALUES ($1, $2, 1, $3, 0, $4, '[]', $5, $6, $7, $8)`,
      [randomUUID(), r.chat, step, r.role ?? 'assistant', r.model, r.usage && JSON.stringify(r.usage), r.cost, r.at],
    );
  }
}

async function newChat(token: string) {
  const res = await api.request('POST', '/api/v1/chats', { body: { content: 'hi' }, token });
  expect(res.status).toBe(201);
  return res.body.chat.id as string;
}

beforeAll(async () => {
  api = await createTestApi();
  await api.setupModel();
  alice = await api.createMember('alice');
  bob = await api.createMember('bob');
  [chatA1, chatA2, chatB] = [await newChat(alice.token), await newChat(alice.token), await newChat(bob.token)];
  await insert([
    { chat: chatA1, model: 'gpt-a', at: '2025-03-01T10:00:00Z', usage: u(100, 10, 5, 1, 2), cost: 1000 },
    { chat: chatA1, model: 'gpt-a', at: '2025-03-01T23:59:59Z', usage: u(200, 20), cost: 2000 },
    { chat: chatA2, model: 'claude-b', at: '2025-03-02T00:00:00Z', usage: u(300, 30, 0, 7, 9), cost: 3500 },
    { chat: chatA2, model: null, at: '2025-03-05T12:00:00Z', usage: null, cost: null }, // an assistant message without usage
    { chat: chatA2, model: 'claude-b', at: '2025-03-02T01:00:00Z', usage: u(9999, 9999), cost: 9999, role: 'tool' }, // not assistant
    { chat: chatB, model: 'gpt-a', at: '2025-03-01T12:00:00Z', usage: u(7, 7), cost: 7 },
  ]);
});
afterAll(async () => { await api?.close(); });

const range = 'from=2025-03-01&to=2025-04-01';

describe('GET /usage', () => {
  test('sums the caller\'s assistant messages; totals equal the stored usage', async () => {
    const res = await api.request('GET', `/api/v1/usage?${range}&groupBy=chat`, { token: alice.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      userId: alice.user.id, from: '2025-03-01T00:00:00.000Z', to: '2025-04-01T00:00:00.000Z', groupBy: 'chat',
      totals: { inputTokens: 600, outputTokens: 60, cacheReadTokens: 5, cacheWriteTokens: 8, reasoningTokens: 11, costMicros: 6500 },
    });
    const byKey = Object.fromEntries(res.body.groups.map((g: any) => [g.key, g]));
    expect(Object.keys(byKey).sort()).toEqual([chatA1, chatA2].sort());
    expect(byKey[chatA1]).toEqual({ key: chatA1, inputTokens: 300, outputTokens: 30, cacheReadTokens: 5, cacheWriteTokens: 1, reasoningTokens: 2, costMicros: 3000 });
    expect(byKey[chatA2]).toMatchObject({ inputTokens: 300, outputTokens: 30, costMicros: 3500 });

    // Cross-check against the stored rows.
    const { rows: [sum] } = await api.db.pool.query(
      `SELECT sum((usage->>'inputTokens')::int)::int AS i, sum(cost_micros)::int AS c FROM messages m JOIN chats c ON c.id = m.chat_id
       WHERE c.owner_id = $1 AND m.role = 'assistant'`, [alice.user.id]);
    expect(res.body.totals).toMatchObject({ inputTokens: sum.i, costMicros: sum.c });
  });

  test('groupBy model and day (UTC), sorted by key; day is the default', async () => {
    const byModel = await api.request('GET', `/api/v1/usage?${range}&groupBy=model`, { token: alice.token });
    expect(byModel.body.groups.map((g: any) => [g.key, g.inputTokens, g.costMicros])).toEqual([
      ['claude-b', 300, 3500], ['gpt-a', 300, 3000], ['unknown', 0, 0],
    ]);
    const byDay = await api.request('GET', `/api/v1/usage?${range}`, { token: alice.token });
    expect(byDay.body.groupBy).toBe('day');
    expect(byDay.body.groups.map((g: any) => [g.key, g.inputTokens])).toEqual([
      ['2025-03-01', 300], ['2025-03-02', 300], ['2025-03-05', 0],
    ]);
  });

  test('the range is [from, to) on the message time; date-times with offsets work', async () => {
    const res = await api.request('GET', '/api/v1/usage?from=2025-03-01T10:00:00Z&to=2025-03-02T00:00:00Z', { token: alice.token });
    expect(res.body.totals).toMatchObject({ inputTokens: 300, costMicros: 3000 });
    const offset = await api.request('GET', `/api/v1/usage?from=${encodeURIComponent('2025-03-02T01:00:00+01:00')}&to=2025-03-03`, { token: alice.token });
    expect(offset.body.from).toBe('2025-03-02T00:00:00.000Z');
    expect(offset.body.totals.inputTokens).toBe(300);
    const empty = await api.request('GET', '/api/v1/usage?from=2024-01-01&to=2024-02-01', { token: alice.token });
    expect(empty.body).toMatchObject({ groups: [], totals: { inputTokens: 0, costMicros: 0 } });
  });

  test('default range: the last 30 days up to now', async () => {
    const res = await api.request('GET', '/api/v1/usage', { token: alice.token });
    expect(res.status).toBe(200);
    const span = Date.parse(res.body.to) - Date.parse(res.body.from);
    expect(span).toBe(30 * 86_400_000);
    expect(Math.abs(Date.parse(res.body.to) - Date.now())).toBeLessThan(60_000);
  });

  test('users see only their own usage; admins see anyone\'s with userId', async () => {
    const mine = await api.request('GET', `/api/v1/usage?${range}`, { token: bob.token });
    expect(mine.body.totals).toMatchObject({ inputTokens: 7, costMicros: 7 });
    const own = await api.request('GET', `/api/v1/usage?${range}&userId=${bob.user.id}`, { token: bob.token });
    expect(own.status).toBe(200);

    const other = await api.request('GET', `/api/v1/usage?${range}&userId=${alice.user.id}`, { token: bob.token });
    expect(other.status).toBe(403);
    expect(other.body.error.code).toBe('forbidden');

    const admin = await api.request('GET', `/api/v1/usage?${range}&userId=${alice.user.id}`);
    expect(admin.status).toBe(200);
    expect(admin.body).toMatchObject({ userId: alice.user.id, totals: { inputTokens: 600 } });
    expect((await api.request('GET', `/api/v1/usage?userId=${randomUUID()}`)).status).toBe(404);
    expect((await api.request('GET', '/api/v1/usage?userId=nope')).status).toBe(404);
  });

  test('bad dates, reversed ranges and unknown groupings are 400; no token is 401', async () => {
    for (const q of ['from=yesterday', 'to=2025-02-30', 'from=2025-13-01', 'from=2025-03-01T10:00:00', 'from=2025-03-02&to=2025-03-01', 'groupBy=week']) {
      const res = await api.request('GET', `/api/v1/usage?${q}`, { token: alice.token });
      expect(res.status, q).toBe(400);
      expect(res.body.error.code).toBe('bad_request');
    }
    expect((await api.request('GET', '/api/v1/usage', { token: null })).status).toBe(401);
  });
});
