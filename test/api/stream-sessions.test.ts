// Issue 19 (Low): a revoked token's streams end, and one user can't hold unbounded streams open.
// The real API app on a real socket, its real hub and PostgreSQL.
import type net from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { seedChat } from '../support/db.ts';
import { createTestApi, type TestApi } from '../support/api.ts';
import { fetchSse, type SseClient } from '../support/sse.ts';

let api: TestApi;
let base: string;
beforeAll(async () => {
  api = await createTestApi({ env: { PARLEY_MAX_STREAMS_PER_USER: '3' }, api: { rateLimit: false, streamRecheckMs: 200 } });
  await api.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(api.app.server.address() as net.AddressInfo).port}`;
});
afterAll(async () => { await api?.app.close(); });

const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const ended = async (client: SseClient, withinMs: number): Promise<boolean> =>
  Promise.race([client.done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), withinMs))]);

async function memberWithTwoTokens() {
  const { user, token } = await api.createMember();
  const second = (await api.request('POST', '/api/v1/tokens', { token, body: { name: 'second' } })).body;
  const chatId = await seedChat(api.db.pool, user.id, 'waiting');
  return { token, second: second.token as string, secondId: second.id as string, chatId };
}

test('revoking a token ends the streams opened with it at once; streams of its other tokens go on', async () => {
  const m = await memberWithTwoTokens();
  const chat = await fetchSse(`${base}/api/v1/chats/${m.chatId}/stream`, auth(m.second));
  const watch = await fetchSse(`${base}/api/v1/chats/watch`, auth(m.second));
  const other = await fetchSse(`${base}/api/v1/chats/watch`, auth(m.token));
  try {
    expect([chat.status, watch.status, other.status]).toEqual([200, 200, 200]);
    expect((await api.request('DELETE', `/api/v1/tokens/${m.secondId}`, { token: m.token })).status).toBe(204);
    expect(await ended(chat, 1_000)).toBe(true);
    expect(await ended(watch, 1_000)).toBe(true);
    expect(await ended(other, 500)).toBe(false);
    // Reconnecting with the revoked token is refused.
    expect((await fetchSse(`${base}/api/v1/chats/watch`, auth(m.second))).status).toBe(401);
  } finally {
    await Promise.all([chat.close(), watch.close(), other.close()]);
  }
});

test('a token revoked through another API process ends its streams here at the next recheck', async () => {
  const m = await memberWithTwoTokens();
  const chat = await fetchSse(`${base}/api/v1/chats/${m.chatId}/stream`, auth(m.second));
  try {
    expect(chat.status).toBe(200);
    await api.db.pool.query('DELETE FROM api_tokens WHERE id = $1', [m.secondId]); // as another replica's DELETE does
    expect(await ended(chat, 3_000)).toBe(true);
  } finally {
    await chat.close();
  }
});

test('PARLEY_MAX_STREAMS_PER_USER: one more stream is a 429; a closed one frees its place; others are not affected', async () => {
  const m = await memberWithTwoTokens();
  const open: SseClient[] = [];
  try {
    for (let i = 0; i < 3; i++) open.push(await fetchSse(`${base}/api/v1/chats/watch`, auth(i % 2 ? m.second : m.token)));
    expect(open.map((c) => c.status)).toEqual([200, 200, 200]);
    const refused = await fetchSse(`${base}/api/v1/chats/${m.chatId}/stream`, auth(m.token));
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'too_many_streams', message: expect.stringMatching(/3 event streams open/) });
    // A stream refused for another reason (404) does not use up a place either.
    const another = await api.createMember();
    const notFound = await fetchSse(`${base}/api/v1/chats/${m.chatId}/stream`, auth(another.token));
    expect(notFound.status).toBe(404);
    open.push(await fetchSse(`${base}/api/v1/chats/watch`, auth(another.token)));
    expect(open.at(-1)!.status).toBe(200);

    await open.shift()!.close();
    let again: SseClient | undefined;
    for (let i = 0; i < 20 && again?.status !== 200; i++) {
      again = await fetchSse(`${base}/api/v1/chats/watch`, auth(m.token));
      if (again.status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(again!.status).toBe(200);
    open.push(again!);
  } finally {
    await Promise.all(open.map((c) => c.close()));
  }
});
