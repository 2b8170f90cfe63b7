// The chats API: creating, listing, reading, renaming, archiving and deleting chats, and that a
// chat is its owner's only. (chats-messages.test.ts: a chat's messages, interrupt and queue.)
import { randomUUID } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import type { Json } from '../support/api.ts';
import { api, member, modelId, newChat, other, useChatsApi } from '../support/chats-api.ts';

useChatsApi();

describe('POST /chats', () => {
  test('creates the chat and its first message, appends events, then wakes the workflow', async () => {
    const { chat, message } = await newChat('What is the capital of France?');
    expect(chat).toMatchObject({
      title: 'What is the capital of France?', status: 'pending', modelId, parentChatId: null, lastError: null,
      archived: false, usage: { inputTokens: 0, outputTokens: 0, costMicros: 0 },
    });
    expect(message).toMatchObject({ chatId: chat.id, role: 'user', parts: [{ type: 'text', text: 'What is the capital of France?' }] });
    expect(message.model).toBeUndefined();
    const { rows } = await api.db.pool.query('SELECT turn, step, idx, visibility FROM messages WHERE chat_id = $1', [chat.id]);
    expect(rows).toEqual([{ turn: 1, step: 0, idx: 0, visibility: 'both' }]);
    expect((await api.db.pool.query('SELECT turn, status FROM chats WHERE id = $1', [chat.id])).rows[0]).toEqual({ turn: 1, status: 'pending' });

    const events = await api.events(chat.id);
    expect(events.map((e) => [e.id, e.type])).toEqual([[1, 'status'], [2, 'message']]);
    expect(events[0]!.data).toEqual({ status: 'pending' });
    expect(events[1]!.data).toEqual(message);

    expect(api.workflows.calls).toEqual([{ op: 'wake', chat: { id: chat.id, ownerId: member.user.id, model: 'test-model' } }]);
  });

  test('a lone UTF-16 surrogate in the JSON body (half an emoji) is stored as U+FFFD, not a 500', async () => {
    const { chat, message } = await newChat('half \ud83d of an emoji', member.token, { title: 'cut \ude00' });
    expect(message.parts).toEqual([{ type: 'text', text: 'half \uFFFD of an emoji' }]);
    expect(chat.title).toBe('cut \uFFFD');
    const res = await api.request('GET', `/api/v1/chats/${chat.id}/messages`, { token: member.token });
    expect(res.body.messages[0].parts[0].text).toBe('half \uFFFD of an emoji');
  });

  test('title: given, else the first words of the message cut at a word boundary', async () => {
    expect((await newChat('hi', member.token, { title: '  My title ' })).chat.title).toBe('My title');
    const long = 'The quick brown fox jumps over the lazy dog and keeps running far beyond the horizon';
    const title = (await newChat(long)).chat.title;
    expect(title).toBe('The quick brown fox jumps over the lazy dog and keeps'); // + ' running' would be 61
    expect(title.length).toBeLessThanOrEqual(60);
    expect((await newChat('line one\n\n  line   two')).chat.title).toBe('line one line two');
    expect((await newChat('x'.repeat(100))).chat.title).toBe('x'.repeat(60));
  });

  test('validation: empty content, wrong types, unknown model', async () => {
    for (const content of ['', '   \n\t']) {
      const res = await api.request('POST', '/api/v1/chats', { body: { content }, token: member.token });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: { code: 'bad_request', message: 'content must not be empty' } });
    }
    const wrongType = await api.request('POST', '/api/v1/chats', { body: { content: 42 }, token: member.token });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.message).toBe('body/content must be string');
    const missing = await api.request('POST', '/api/v1/chats', { body: {}, token: member.token });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(/content/);

    const unknownModel = randomUUID();
    const res = await api.request('POST', '/api/v1/chats', { body: { content: 'hi', modelId: unknownModel }, token: member.token });
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain(unknownModel);
    expect(api.workflows.calls).toEqual([]);
  });

  test('Temporal down: 503 temporal_unavailable, but the chat and message are stored', async () => {
    api.workflows.failWith = new Error('connection refused');
    const res = await api.request('POST', '/api/v1/chats', { body: { content: 'stored anyway' }, token: member.token });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('temporal_unavailable');
    const { rows } = await api.db.pool.query(
      `SELECT c.status FROM chats c JOIN messages m ON m.chat_id = c.id WHERE m.parts->0->>'text' = 'stored anyway'`,
    );
    expect(rows).toEqual([{ status: 'pending' }]);
  });
});

describe('GET/PATCH/DELETE /chats', () => {
  test('lists own chats newest first with an opaque cursor, filtered by archived', async () => {
    const fresh = await api.createMember();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await newChat(`chat ${i}`, fresh.token)).chat.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const res = await api.request('GET', `/api/v1/chats?limit=2${q}`, { token: fresh.token });
      expect(res.status).toBe(200);
      expect(res.body.chats.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.chats.map((c: Json) => c.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    const patched = await api.request('PATCH', `/api/v1/chats/${ids[0]}`, { body: { archived: true }, token: fresh.token });
    expect(patched.status).toBe(200);
    expect(patched.body.chat.archived).toBe(true);
    const active = await api.request('GET', '/api/v1/chats', { token: fresh.token });
    expect(active.body.chats.map((c: Json) => c.id)).not.toContain(ids[0]);
    expect(active.body.nextCursor).toBeNull();
    const archived = await api.request('GET', '/api/v1/chats?archived=true', { token: fresh.token });
    expect(archived.body.chats.map((c: Json) => c.id)).toEqual([ids[0]]);

    const bad = await api.request('GET', '/api/v1/chats?cursor=nonsense', { token: fresh.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/cursor/);
    const badLimit = await api.request('GET', '/api/v1/chats?limit=abc', { token: fresh.token });
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error.message).toMatch(/querystring\/limit/);
  });

  test('GET /chats/:id returns the chat and its queue; usage sums the messages', async () => {
    const { chat } = await newChat('count my tokens');
    await api.db.pool.query(
      `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, model, usage, cost_micros)
       VALUES ($1, $2, 1, 1, 0, 'assistant', '[{"type":"text","text":"ok"}]', 'test-model', $3, 1500),
              ($4, $2, 1, 2, 0, 'assistant', '[{"type":"text","text":"ok"}]', 'test-model', $3, 500)`,
      [randomUUID(), chat.id, JSON.stringify({ inputTokens: 100, outputTokens: 20, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }), randomUUID()],
    );
    const res = await api.request('GET', `/api/v1/chats/${chat.id}`, { token: member.token });
    expect(res.status).toBe(200);
    expect(res.body.queue).toEqual([]);
    expect(res.body.chat.usage).toEqual({ inputTokens: 200, outputTokens: 40, costMicros: 2000 });
  });

  test('lastError is the ErrorInfo JSON', async () => {
    const { chat } = await newChat('will fail');
    const info = { message: 'boom', kind: 'auth', retryable: false, provider: 'openai', statusCode: 401 };
    await api.db.pool.query(`UPDATE chats SET status = 'error', last_error = $2 WHERE id = $1`, [chat.id, JSON.stringify(info)]);
    const res = await api.request('GET', `/api/v1/chats/${chat.id}`, { token: member.token });
    expect(res.body.chat).toMatchObject({ status: 'error', lastError: info });
  });

  test('PATCH renames (with a title event) and rejects an empty title', async () => {
    const { chat } = await newChat('rename me');
    const res = await api.request('PATCH', `/api/v1/chats/${chat.id}`, { body: { title: 'Renamed' }, token: member.token });
    expect(res.status).toBe(200);
    expect(res.body.chat.title).toBe('Renamed');
    expect((await api.events(chat.id)).at(-1)).toMatchObject({ type: 'title', data: { title: 'Renamed' } });
    const empty = await api.request('PATCH', `/api/v1/chats/${chat.id}`, { body: { title: ' ' }, token: member.token });
    expect(empty.status).toBe(400);
    const wrong = await api.request('PATCH', `/api/v1/chats/${chat.id}`, { body: { archived: 'yes' }, token: member.token });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toBe('body/archived must be boolean');
  });

  test('DELETE cancels the workflow first, then deletes; 503 and nothing deleted when Temporal is down', async () => {
    const { chat } = await newChat('delete me');
    api.workflows.calls.length = 0;
    api.workflows.failWith = new Error('unavailable');
    const failed = await api.request('DELETE', `/api/v1/chats/${chat.id}`, { token: member.token });
    expect(failed.status).toBe(503);
    expect((await api.request('GET', `/api/v1/chats/${chat.id}`, { token: member.token })).status).toBe(200);

    api.workflows.failWith = null;
    api.workflows.calls.length = 0;
    const res = await api.request('DELETE', `/api/v1/chats/${chat.id}`, { token: member.token });
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    expect(api.workflows.calls).toEqual([{ op: 'cancel', chatId: chat.id }]);
    expect((await api.request('GET', `/api/v1/chats/${chat.id}`, { token: member.token })).status).toBe(404);
    expect((await api.request('DELETE', `/api/v1/chats/${chat.id}`, { token: member.token })).status).toBe(404);
  });
});

describe('isolation', () => {
  test("another user's chat is 404 everywhere, and non-uuid ids are 404", async () => {
    const { chat } = await newChat('private', member.token);
    const queued = (await api.request('POST', `/api/v1/chats/${chat.id}/messages`, { body: { content: 'q' }, token: member.token })).body.queuedMessage;
    api.workflows.calls.length = 0;
    const attempts: Array<[string, string, unknown?]> = [
      ['GET', `/api/v1/chats/${chat.id}`],
      ['PATCH', `/api/v1/chats/${chat.id}`, { title: 'mine now' }],
      ['DELETE', `/api/v1/chats/${chat.id}`],
      ['GET', `/api/v1/chats/${chat.id}/messages`],
      ['POST', `/api/v1/chats/${chat.id}/messages`, { content: 'hi' }],
      ['POST', `/api/v1/chats/${chat.id}/interrupt`],
      ['DELETE', `/api/v1/chats/${chat.id}/queue/${queued.id}`],
      ['POST', `/api/v1/chats/${chat.id}/queue/${queued.id}/promote`],
    ];
    for (const [method, url, body] of attempts) {
      // The admin is no exception: chats are private to their owner.
      for (const token of [other.token, api.adminToken]) {
        const res = await api.request(method, url, { body, token });
        expect(res.status, `${method} ${url}`).toBe(404);
        expect(res.body.error.code).toBe('not_found');
      }
    }
    expect(api.workflows.calls).toEqual([]);
    const list = await api.request('GET', '/api/v1/chats', { token: other.token });
    expect(list.body.chats.map((c: Json) => c.id)).not.toContain(chat.id);
    const still = await api.request('GET', `/api/v1/chats/${chat.id}`, { token: member.token });
    expect(still.body.chat.title).toBe('private');
    expect(still.body.queue).toHaveLength(1);

    for (const url of ['/api/v1/chats/not-a-uuid', '/api/v1/chats/123/messages']) {
      expect((await api.request('GET', url, { token: member.token })).status).toBe(404);
    }
    expect((await api.request('POST', '/api/v1/chats/zzz/messages', { body: { content: 'x' }, token: member.token })).status).toBe(404);
  });
});
