// A chat's messages through the API: sending (a new turn or the queue), reading the transcript,
// interrupting a turn, and promoting or deleting queued messages.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { INTERRUPT_CHANNEL } from '../../src/events/channels.ts';
import type { Json } from '../support/api.ts';
import { api, member, newChat, useChatsApi } from '../support/chats-api.ts';

useChatsApi();

/** Puts a chat in a given status, as the workflow would. */
async function setStatus(chatId: string, status: string) {
  await api.db.pool.query('UPDATE chats SET status = $2 WHERE id = $1', [chatId, status]);
}

describe('messages', () => {
  test('sending to an idle chat starts the next turn in one transaction, then wakes', async () => {
    const { chat } = await newChat('first');
    await setStatus(chat.id, 'error');
    await api.db.pool.query(`UPDATE chats SET last_error = '{"message":"x","kind":"y","retryable":false}' WHERE id = $1`, [chat.id]);
    api.workflows.calls.length = 0;
    const res = await api.request('POST', `/api/v1/chats/${chat.id}/messages`, { body: { content: 'second' }, token: member.token });
    expect(res.status).toBe(202);
    expect(res.body.queued).toBe(false);
    expect(res.body.message).toMatchObject({ role: 'user', parts: [{ type: 'text', text: 'second' }] });
    expect(res.body.queuedMessage).toBeUndefined();
    const { rows } = await api.db.pool.query('SELECT turn, status, last_error FROM chats WHERE id = $1', [chat.id]);
    expect(rows[0]).toEqual({ turn: 2, status: 'pending', last_error: null });
    const m = await api.db.pool.query('SELECT turn, step, idx FROM messages WHERE id = $1', [res.body.message.id]);
    expect(m.rows[0]).toEqual({ turn: 2, step: 0, idx: 0 });
    const events = (await api.events(chat.id)).slice(-2);
    expect(events.map((e) => e.type)).toEqual(['status', 'message']);
    expect(events[0]!.data).toEqual({ status: 'pending' });
    expect(events[1]!.data).toEqual(res.body.message);
    expect(api.workflows.calls).toEqual([{ op: 'wake', chat: { id: chat.id, ownerId: member.user.id, model: 'test-model' } }]);
  });

  test('sending to a busy chat queues (append, or first for interrupt) and wakes; interrupt also interrupts', async () => {
    const { chat } = await newChat('busy');
    await setStatus(chat.id, 'running');
    api.workflows.calls.length = 0;
    const send = (content: string, behavior?: string) =>
      api.request('POST', `/api/v1/chats/${chat.id}/messages`, { body: { content, ...(behavior ? { behavior } : {}) }, token: member.token });

    const a = await send('a');
    expect(a.status).toBe(202);
    expect(a.body.queued).toBe(true);
    expect(a.body.queuedMessage).toMatchObject({ chatId: chat.id, content: 'a' });
    expect(a.body.message).toBeUndefined();
    await send('b', 'queue');
    expect(api.workflows.calls.map((c) => c.op)).toEqual(['wake', 'wake']);

    api.workflows.calls.length = 0;
    await send('urgent', 'interrupt');
    expect(api.workflows.calls).toEqual([
      { op: 'wake', chat: { id: chat.id, ownerId: member.user.id, model: 'test-model' } },
      { op: 'interrupt', chatId: chat.id, turn: 1, reason: 'new message' },
    ]);
    const got = await api.request('GET', `/api/v1/chats/${chat.id}`, { token: member.token });
    expect(got.body.queue.map((q: Json) => q.content)).toEqual(['urgent', 'a', 'b']);
    const last = (await api.events(chat.id)).at(-1)!;
    expect(last.type).toBe('queue_update');
    expect(last.data).toEqual({ queue: got.body.queue });
    // No new turn while busy.
    expect((await api.db.pool.query('SELECT turn, status FROM chats WHERE id = $1', [chat.id])).rows[0]).toEqual({ turn: 1, status: 'running' });

    const bad = await send('x', 'later');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/body\/behavior/);
  });

  test('a pending chat is busy too; the queue holds at most 20 messages', async () => {
    const { chat } = await newChat('pending');
    for (let i = 0; i < 20; i++) {
      const r = await api.request('POST', `/api/v1/chats/${chat.id}/messages`, { body: { content: `q${i}` }, token: member.token });
      expect(r.body.queued).toBe(true);
    }
    const full = await api.request('POST', `/api/v1/chats/${chat.id}/messages`, { body: { content: 'one too many' }, token: member.token });
    expect(full.status).toBe(409);
    expect(full.body).toEqual({ error: { code: 'conflict', message: 'queue is full (20 messages)' } });
  });

  test('empty content is refused and nothing is stored', async () => {
    const { chat } = await newChat('x');
    await setStatus(chat.id, 'waiting');
    const res = await api.request('POST', `/api/v1/chats/${chat.id}/messages`, { body: { content: '  ' }, token: member.token });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe('content must not be empty');
    expect((await api.db.pool.query('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1', [chat.id])).rows[0].n).toBe(1);
  });

  test('GET messages: user-visible only, transcript order, paged with after', async () => {
    const { chat, message } = await newChat('q1');
    const ins = (turn: number, step: number, idx: number, role: string, text: string, visibility = 'both') =>
      api.db.pool.query(
        `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, visibility, model, usage)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
        [randomUUID(), chat.id, turn, step, idx, role, JSON.stringify([{ type: 'text', text }]), visibility,
          role === 'assistant' ? 'test-model' : null,
          role === 'assistant' ? JSON.stringify({ inputTokens: 1, outputTokens: 2, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 }) : null],
      ).then((r) => r.rows[0].id as string);
    // Inserted out of order on purpose.
    const a2 = await ins(1, 2, 0, 'assistant', 'a2');
    const a1 = await ins(1, 1, 0, 'assistant', 'a1');
    await ins(1, 1, 1, 'tool', 'hidden summary', 'model');
    const t1 = await ins(1, 1, 2, 'tool', 't1', 'user');

    const res = await api.request('GET', `/api/v1/chats/${chat.id}/messages`, { token: member.token });
    expect(res.status).toBe(200);
    expect(res.body.messages.map((m: Json) => m.id)).toEqual([message.id, a1, t1, a2]);
    expect(res.body.messages[1]).toMatchObject({ role: 'assistant', model: 'test-model', usage: { inputTokens: 1, outputTokens: 2 } });
    expect(res.body.messages[0].usage).toBeUndefined();

    const page = await api.request('GET', `/api/v1/chats/${chat.id}/messages?after=${a1}&limit=1`, { token: member.token });
    expect(page.body.messages.map((m: Json) => m.id)).toEqual([t1]);
    const unknown = await api.request('GET', `/api/v1/chats/${chat.id}/messages?after=${randomUUID()}`, { token: member.token });
    expect(unknown.status).toBe(400);
  });

  test('messages keep every part type (tool calls, results, reasoning)', async () => {
    const { chat } = await newChat('tools');
    const parts = [
      { type: 'reasoning', text: 'thinking', signature: 'sig' },
      { type: 'text', text: 'let me look' },
      { type: 'tool_call', toolCallId: 'c1', name: 'read_file', args: { path: 'a.txt', nested: { deep: [1, 2] } } },
    ];
    await api.db.pool.query(
      `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts) VALUES ($1, $2, 1, 1, 0, 'assistant', $3),
         ($4, $2, 1, 1, 1, 'tool', $5)`,
      [randomUUID(), chat.id, JSON.stringify(parts), randomUUID(),
        JSON.stringify([{ type: 'tool_result', toolCallId: 'c1', name: 'read_file', result: { content: 'x' }, isError: false }])],
    );
    const res = await api.request('GET', `/api/v1/chats/${chat.id}/messages`, { token: member.token });
    expect(res.body.messages[1].parts).toEqual(parts);
    expect(res.body.messages[2].parts).toEqual([{ type: 'tool_result', toolCallId: 'c1', name: 'read_file', result: { content: 'x' }, isError: false }]);
  });
});

describe('interrupt and queue', () => {
  test('POST interrupt signals the workflow running the turn, with or without a body, and NOTIFYs its worker', async () => {
    const { chat } = await newChat('long task');
    await setStatus(chat.id, 'running');
    api.workflows.calls.length = 0;
    const listener = new pg.Client({ connectionString: api.db.url });
    await listener.connect();
    const notified: string[] = [];
    listener.on('notification', (n) => { if (n.payload?.startsWith(chat.id)) notified.push(n.payload); });
    await listener.query(`LISTEN ${INTERRUPT_CHANNEL}`);
    try {
      const bare = await api.request('POST', `/api/v1/chats/${chat.id}/interrupt`, { token: member.token });
      expect(bare.status).toBe(202);
      expect(bare.body).toEqual({ interrupted: true });
      const empty = await api.request('POST', `/api/v1/chats/${chat.id}/interrupt`, { token: member.token, rawBody: '' });
      expect(empty.status).toBe(202);
      api.workflows.running = false;
      const withReason = await api.request('POST', `/api/v1/chats/${chat.id}/interrupt`, { body: { reason: 'stop' }, token: member.token });
      api.workflows.running = true;
      expect(withReason.body).toEqual({ interrupted: false });
      await listener.query('SELECT 1'); // notifications sent before this round trip have arrived
    } finally {
      await listener.end();
    }
    expect(api.workflows.calls).toEqual([
      { op: 'interrupt', chatId: chat.id, turn: 1, reason: undefined },
      { op: 'interrupt', chatId: chat.id, turn: 1, reason: undefined },
      { op: 'interrupt', chatId: chat.id, turn: 1, reason: 'stop' },
    ]);
    // Only while a workflow runs the turn.
    expect(notified).toEqual([`${chat.id}:1`, `${chat.id}:1`]);
  });

  test('a turn the workflow has not picked up yet is called off in PostgreSQL (an early Ctrl-C is never lost)', async () => {
    const { chat } = await newChat('stop before you start');
    api.workflows.calls.length = 0;
    const res = await api.request('POST', `/api/v1/chats/${chat.id}/interrupt`, { token: member.token });
    expect(res.body).toEqual({ interrupted: true });
    expect(api.workflows.calls).toEqual([]);
    const got = await api.request('GET', `/api/v1/chats/${chat.id}`, { token: member.token });
    expect(got.body.chat.status).toBe('waiting');
    expect((await api.events(chat.id)).at(-1)).toMatchObject({ type: 'status', data: { status: 'waiting', lastError: null } });
    // The user message is kept; an idle chat has nothing to interrupt.
    const msgs = await api.request('GET', `/api/v1/chats/${chat.id}/messages`, { token: member.token });
    expect(msgs.body.messages.map((m: Json) => m.parts[0].text)).toEqual(['stop before you start']);
    expect((await api.request('POST', `/api/v1/chats/${chat.id}/interrupt`, { token: member.token })).body).toEqual({ interrupted: false });
  });

  test('promote moves a queued message first; delete removes it; both append queue_update', async () => {
    const { chat } = await newChat('busy');
    const ids: string[] = [];
    for (const content of ['a', 'b', 'c']) {
      ids.push((await api.request('POST', `/api/v1/chats/${chat.id}/messages`, { body: { content }, token: member.token })).body.queuedMessage.id);
    }
    const promoted = await api.request('POST', `/api/v1/chats/${chat.id}/queue/${ids[2]}/promote`, { token: member.token });
    expect(promoted.status).toBe(200);
    expect(promoted.body.queue.map((q: Json) => q.content)).toEqual(['c', 'a', 'b']);
    expect((await api.events(chat.id)).at(-1)).toMatchObject({ type: 'queue_update', data: { queue: promoted.body.queue } });

    const del = await api.request('DELETE', `/api/v1/chats/${chat.id}/queue/${ids[0]}`, { token: member.token });
    expect(del.status).toBe(204);
    const after = await api.request('GET', `/api/v1/chats/${chat.id}`, { token: member.token });
    expect(after.body.queue.map((q: Json) => q.content)).toEqual(['c', 'b']);
    expect((await api.events(chat.id)).at(-1)).toMatchObject({ type: 'queue_update', data: { queue: after.body.queue } });

    expect((await api.request('DELETE', `/api/v1/chats/${chat.id}/queue/${ids[0]}`, { token: member.token })).status).toBe(404);
    expect((await api.request('POST', `/api/v1/chats/${chat.id}/queue/${randomUUID()}/promote`, { token: member.token })).status).toBe(404);
    expect((await api.request('POST', `/api/v1/chats/${chat.id}/queue/not-a-uuid/promote`, { token: member.token })).status).toBe(404);
  });
});
