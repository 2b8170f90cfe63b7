import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { editRoutes } from '../../src/api/routes/edit.ts';
import type { AuthUser } from '../../src/api/auth-user.ts';
import { asHttpError } from '../../src/api/errors.ts';
import { stepMessageId } from '../../src/db/turns.ts';
import type { Json } from '../support/api.ts';
import { api, member as alice, modelId, other as bob, useChatsApi } from '../support/chats-api.ts';
import { reply, text, waitFor } from '../support/fake-providers.ts';
import { startStack, type Stack } from '../support/stack.ts';

useChatsApi();
// Interrupt and cancel answer "a workflow was running" unless a test says otherwise.
beforeEach(() => { api.workflows.running = true; });

const sql = (q: string, params: unknown[] = []) => api.db.pool.query(q, params);
const usage = (i: number, o: number) => ({ inputTokens: i, outputTokens: o, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 });

/** Stores an assistant step (and its tool results) as the workflow would. */
async function assistant(chatId: string, turn: number, step: number, opts: { text?: string; calls?: string[]; results?: number; cost?: number } = {}) {
  const parts: Json[] = [{ type: 'text', text: opts.text ?? `answer ${turn}.${step}` }];
  for (const id of opts.calls ?? []) parts.push({ type: 'tool_call', toolCallId: id, name: 'read_file', args: { path: id } });
  const id = stepMessageId(chatId, turn, step, 0);
  await sql(
    `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, model_id, model, usage, cost_micros, finish_reason)
     VALUES ($1, $2, $3, $4, 0, 'assistant', $5, $6, 'test-model', $7, $8, 'stop')`,
    [id, chatId, turn, step, JSON.stringify(parts), modelId, JSON.stringify(usage(100 * turn + step, 10)), opts.cost ?? 50],
  );
  const calls = opts.calls ?? [];
  for (const [i, call] of calls.slice(0, opts.results ?? calls.length).entries()) {
    await sql(
      `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, tool_call_id) VALUES ($1, $2, $3, $4, $5, 'tool', $6, $7)`,
      [stepMessageId(chatId, turn, step, i + 1), chatId, turn, step, i + 1,
        JSON.stringify([{ type: 'tool_result', toolCallId: call, name: 'read_file', result: 'ok', isError: false }]), call],
    );
  }
  return id;
}

const setStatus = (chatId: string, status: string) => sql('UPDATE chats SET status = $2 WHERE id = $1', [chatId, status]);

async function send(chatId: string, content: string, token = alice.token) {
  const res = await api.request('POST', `/api/v1/chats/${chatId}/messages`, { body: { content }, token });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body;
}

/**
 * A settled chat of alice's: turn 1 = question, a tool step, an answer; turn 2 = follow-up, answer;
 * plus a queued message (left behind, as a lost workflow would). Forgets the workflow calls it caused.
 */
async function transcript(title = 'Plan a trip') {
  const created = await api.request('POST', '/api/v1/chats', { body: { content: 'first question', title }, token: alice.token });
  expect(created.status).toBe(201);
  const chatId = created.body.chat.id as string;
  const first = created.body.message.id as string;
  await sql(`UPDATE chats SET status = 'running' WHERE id = $1`, [chatId]);
  const toolStep = await assistant(chatId, 1, 1, { calls: ['call_a', 'call_b'] });
  const answer1 = await assistant(chatId, 1, 2);
  await setStatus(chatId, 'waiting');
  const second = (await send(chatId, 'second question')).message.id as string;
  await setStatus(chatId, 'running');
  const answer2 = await assistant(chatId, 2, 1);
  await send(chatId, 'queued one'); // running: queued
  await setStatus(chatId, 'waiting');
  api.workflows.calls.length = 0;
  return { chatId, first, toolStep, answer1, second, answer2 };
}

async function rows(chatId: string) {
  return (await sql(
    `SELECT id, turn, step, idx, role, parts, usage, cost_micros, tool_call_id, forked_from FROM messages WHERE chat_id = $1 ORDER BY turn, step, idx`,
    [chatId],
  )).rows;
}

const textOf = (m: Json) => m.parts.map((p: Json) => p.text ?? p.toolCallId ?? '').join('');

describe('PATCH /chats/:id/messages/:messageId', () => {
  test('replaces the message and everything after it with a new turn, empties the queue, wakes the workflow', async () => {
    const t = await transcript();
    const before = (await api.events(t.chatId)).at(-1)!.id;
    const res = await api.request('PATCH', `/api/v1/chats/${t.chatId}/messages/${t.second}`, { body: { content: 'second, edited' }, token: alice.token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const { message } = res.body;
    expect(message).toMatchObject({ chatId: t.chatId, role: 'user', parts: [{ type: 'text', text: 'second, edited' }] });
    expect(message.id).not.toBe(t.second);
    expect(message.id).toBe(stepMessageId(t.chatId, 3, 0, 0));

    const left = await rows(t.chatId);
    expect(left.map((m) => [m.turn, m.step, m.idx, m.role])).toEqual([
      [1, 0, 0, 'user'], [1, 1, 0, 'assistant'], [1, 1, 1, 'tool'], [1, 1, 2, 'tool'], [1, 2, 0, 'assistant'], [3, 0, 0, 'user'],
    ]);
    expect((await sql('SELECT status, turn, last_error FROM chats WHERE id = $1', [t.chatId])).rows[0]).toEqual({ status: 'pending', turn: 3, last_error: null });
    expect((await sql('SELECT count(*)::int AS n FROM queued_messages WHERE chat_id = $1', [t.chatId])).rows[0].n).toBe(0);

    const events = (await api.events(t.chatId)).filter((e) => e.id > before);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['queue_update', { queue: [] }], ['status', { status: 'pending' }], ['message', message],
    ]);
    expect(api.workflows.calls).toEqual([{ op: 'wake', chat: { id: t.chatId, ownerId: alice.user.id, model: 'test-model' } }]);

    const listed = (await api.request('GET', `/api/v1/chats/${t.chatId}/messages`, { token: alice.token })).body.messages;
    expect(listed.at(-1)).toEqual(message);
  });

  test('editing the first message leaves only the edited one; an error status is cleared', async () => {
    const t = await transcript();
    await sql(`UPDATE chats SET status = 'error', last_error = '{"message":"boom","kind":"x","retryable":false}' WHERE id = $1`, [t.chatId]);
    const res = await api.request('PATCH', `/api/v1/chats/${t.chatId}/messages/${t.first}`, { body: { content: 'first, edited' }, token: alice.token });
    expect(res.status).toBe(200);
    expect((await rows(t.chatId)).map((m) => [m.turn, m.role, textOf(m)])).toEqual([[3, 'user', 'first, edited']]);
    expect((await api.request('GET', `/api/v1/chats/${t.chatId}`, { token: alice.token })).body.chat).toMatchObject({ status: 'pending', lastError: null });
  });

  test('a pending chat (turn not begun) is rewritten at once, without an interrupt', async () => {
    const created = await api.request('POST', '/api/v1/chats', { body: { content: 'typo' }, token: alice.token });
    const { chat, message } = created.body;
    api.workflows.calls.length = 0;
    const res = await api.request('PATCH', `/api/v1/chats/${chat.id}/messages/${message.id}`, { body: { content: 'fixed' }, token: alice.token });
    expect(res.status).toBe(200);
    expect((await rows(chat.id)).map((m) => [m.turn, textOf(m)])).toEqual([[2, 'fixed']]);
    expect(api.workflows.calls.map((c) => c.op)).toEqual(['wake']);
  });

  test('a running chat: the queue is emptied, the turn interrupted, and the edit waits for it to settle', async () => {
    const t = await transcript();
    await setStatus(t.chatId, 'running');
    await send(t.chatId, 'queued while running');
    api.workflows.calls.length = 0;
    let queueAtInterrupt = -1;
    const interrupt = api.workflows.interrupt;
    api.workflows.interrupt = async (chatId, turn, reason) => {
      queueAtInterrupt = (await sql('SELECT count(*)::int AS n FROM queued_messages WHERE chat_id = $1', [chatId])).rows[0].n;
      api.workflows.calls.push({ op: 'interrupt', chatId, turn, reason });
      // The workflow settles the interrupted turn a little later, keeping its partial answer.
      setTimeout(() => {
        void (async () => {
          await assistant(chatId, 2, 2, { text: 'partial' });
          await setStatus(chatId, 'waiting');
        })();
      }, 300);
      return true;
    };
    try {
      const t0 = Date.now();
      const res = await api.request('PATCH', `/api/v1/chats/${t.chatId}/messages/${t.second}`, { body: { content: 'again' }, token: alice.token });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    } finally {
      api.workflows.interrupt = interrupt;
    }
    expect(queueAtInterrupt).toBe(0);
    expect(api.workflows.calls.map((c) => c.op)).toEqual(['interrupt', 'wake']);
    expect(api.workflows.calls[0]).toEqual({ op: 'interrupt', chatId: t.chatId, turn: 2, reason: 'message edited' });
    // The partial stored while settling is after the edited message: gone too.
    expect((await rows(t.chatId)).map((m) => [m.turn, m.step, m.role]).slice(-2)).toEqual([[1, 2, 'assistant'], [3, 0, 'user']]);
  });

  test('errors: 404 unknown chat/message or another user\'s chat, 409 non-user message, 400 empty content', async () => {
    const t = await transcript();
    const patch = (chatId: string, messageId: string, body: unknown, token = alice.token) =>
      api.request('PATCH', `/api/v1/chats/${chatId}/messages/${messageId}`, { body, token });
    const other = await transcript();
    api.workflows.calls.length = 0;

    for (const [chatId, messageId, what] of [
      [t.chatId, randomUUID(), 'message'], [t.chatId, 'nope', 'message'], [t.chatId, other.first, 'message'],
      [randomUUID(), t.first, 'chat'], ['nope', t.first, 'chat'],
    ] as const) {
      const res = await patch(chatId, messageId, { content: 'x' });
      expect(res.status, `${chatId} ${messageId}`).toBe(404);
      expect(res.body.error).toEqual({ code: 'not_found', message: `${what} not found` });
    }
    const bobs = await patch(t.chatId, t.first, { content: 'x' }, bob.token);
    expect(bobs.status).toBe(404);
    expect(bobs.body.error.message).toBe('chat not found');

    for (const id of [t.answer1, stepMessageId(t.chatId, 1, 1, 1)]) {
      const res = await patch(t.chatId, id, { content: 'x' });
      expect(res.status).toBe(409);
      expect(res.body.error).toEqual({ code: 'conflict', message: 'only user messages can be edited' });
    }
    for (const body of [{ content: '  \n ' }, {}, { content: 5 }]) {
      expect((await patch(t.chatId, t.first, body)).status).toBe(400);
    }
    // None of that changed anything.
    expect((await rows(t.chatId)).length).toBe(7);
    expect(api.workflows.calls).toEqual([]);
  });

  describe('a turn that does not stop', () => {
    async function editApp(waitMs: number) {
      const app = Fastify();
      app.decorateRequest('user', null as unknown as AuthUser);
      app.addHook('onRequest', async (request) => { request.user = { id: alice.user.id, username: 'alice', role: 'member' }; });
      app.setErrorHandler((err: Json, _request, reply) => {
        const http = asHttpError(err);
        return reply.code(http?.statusCode ?? 500).send({ error: { code: http?.code ?? err.code, message: err.message } });
      });
      await app.register(editRoutes, { deps: api.deps, edit: { busyWaitMs: waitMs, pollMs: 20 } });
      return app;
    }

    test('answers 409 after the wait, with nothing rewritten', async () => {
      const app = await editApp(300);
      const t = await transcript();
      await setStatus(t.chatId, 'running');
      api.workflows.calls.length = 0;
      const res = await app.inject({ method: 'PATCH', url: `/chats/${t.chatId}/messages/${t.second}`, payload: { content: 'x' } });
      expect(res.statusCode).toBe(409);
      expect(res.json().error.message).toBe('the chat is still busy; try again');
      expect((await rows(t.chatId)).length).toBe(7);
      expect(api.workflows.calls.filter((c) => c.op === 'interrupt')).toHaveLength(1);
      await app.close();
    });

    test('running with no workflow (a lost run): it is woken so a new run settles the turn', async () => {
      const app = await editApp(300);
      const t = await transcript();
      await setStatus(t.chatId, 'running');
      api.workflows.running = false;
      api.workflows.calls.length = 0;
      const res = await app.inject({ method: 'PATCH', url: `/chats/${t.chatId}/messages/${t.second}`, payload: { content: 'x' } });
      expect(res.statusCode).toBe(409);
      expect(api.workflows.calls.map((c) => c.op)).toEqual(['interrupt', 'wake']);
      await app.close();
    });

    test('Temporal down: 503, nothing rewritten', async () => {
      const t = await transcript();
      await setStatus(t.chatId, 'running');
      api.workflows.failWith = new Error('connection refused');
      const res = await api.request('PATCH', `/api/v1/chats/${t.chatId}/messages/${t.second}`, { body: { content: 'x' }, token: alice.token });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('temporal_unavailable');
      expect((await rows(t.chatId)).length).toBe(7);
    });
  });
});

describe('POST /chats/:id/fork', () => {
  const fork = (chatId: string, messageId: unknown, token = alice.token) =>
    api.request('POST', `/api/v1/chats/${chatId}/fork`, { body: { messageId }, token });

  test('copies the transcript up to a user message into a new idle chat; no workflow starts', async () => {
    const t = await transcript();
    const source = await rows(t.chatId);
    const res = await fork(t.chatId, t.second);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const { chat } = res.body;
    expect(chat).toMatchObject({
      title: 'Fork of Plan a trip', status: 'waiting', modelId, parentChatId: t.chatId, archived: false, lastError: null,
      usage: { inputTokens: 101 + 102, outputTokens: 20, costMicros: 100 },
    });
    expect(chat.id).not.toBe(t.chatId);
    expect(api.workflows.calls).toEqual([]);
    expect((await sql('SELECT turn, owner_id FROM chats WHERE id = $1', [chat.id])).rows[0]).toEqual({ turn: 2, owner_id: alice.user.id });

    const copied = await rows(chat.id);
    const expected = source.filter((m) => m.turn === 1 || (m.turn === 2 && m.step === 0));
    expect(copied.map((m) => [m.turn, m.step, m.idx, m.role, m.parts, m.usage, m.cost_micros, m.tool_call_id])).toEqual(
      expected.map((m) => [m.turn, m.step, m.idx, m.role, m.parts, m.usage, m.cost_micros, m.tool_call_id]));
    expect(copied.map((m) => m.forked_from)).toEqual(expected.map((m) => m.id));
    for (const m of copied) expect(m.id).toBe(stepMessageId(chat.id, m.turn, m.step, m.idx));
    // The source is untouched.
    expect(await rows(t.chatId)).toEqual(source);

    // Listed as alice's chat; the fork continues at the next turn.
    const listed = (await api.request('GET', `/api/v1/chats/${chat.id}/messages`, { token: alice.token })).body.messages;
    expect(listed.map((m: Json) => m.role)).toEqual(['user', 'assistant', 'tool', 'tool', 'assistant', 'user']);
    const sent = await send(chat.id, 'continue in the fork');
    expect(sent.message.id).toBe(stepMessageId(chat.id, 3, 0, 0));
  });

  test('an assistant message with tool calls comes with its tool results; so does a tool result', async () => {
    const t = await transcript();
    for (const id of [t.toolStep, stepMessageId(t.chatId, 1, 1, 1)]) {
      const res = await fork(t.chatId, id);
      expect(res.status).toBe(201);
      const copied = await rows(res.body.chat.id);
      expect(copied.map((m) => [m.turn, m.step, m.idx, m.role])).toEqual([
        [1, 0, 0, 'user'], [1, 1, 0, 'assistant'], [1, 1, 1, 'tool'], [1, 1, 2, 'tool'],
      ]);
      expect(copied[2].parts[0]).toMatchObject({ toolCallId: 'call_a', isError: false, result: 'ok' });
    }
  });

  test('a tool call with no result yet (the source is mid-step) gets the interrupted result', async () => {
    const created = await api.request('POST', '/api/v1/chats', { body: { content: 'do things' }, token: alice.token });
    const chatId = created.body.chat.id;
    await setStatus(chatId, 'running');
    const step = await assistant(chatId, 1, 1, { calls: ['call_x', 'call_y'], results: 1 });
    const res = await fork(chatId, step);
    expect(res.status).toBe(201);
    const copied = await rows(res.body.chat.id);
    expect(copied.map((m) => [m.idx, m.role, m.tool_call_id, m.forked_from === null])).toEqual([
      [0, 'user', null, false], [0, 'assistant', null, false], [1, 'tool', 'call_x', false], [2, 'tool', 'call_y', true],
    ]);
    expect(copied[3].parts).toEqual([{ type: 'tool_result', toolCallId: 'call_y', name: 'read_file', result: expect.stringMatching(/interrupted/i), isError: true }]);
    expect(res.body.chat.status).toBe('waiting');
  });

  test('long titles are cut to 60 characters at a word boundary', async () => {
    const t = await transcript('An extremely long conversation title about many different things');
    const res = await fork(t.chatId, t.first);
    expect(res.body.chat.title).toBe('Fork of An extremely long conversation title about many');
    expect(res.body.chat.title.length).toBeLessThanOrEqual(60);
  });

  test('copies count once in /usage', async () => {
    const t = await transcript();
    const before = (await api.request('GET', '/api/v1/usage', { token: alice.token })).body.totals;
    expect((await fork(t.chatId, t.answer2)).status).toBe(201);
    const after = (await api.request('GET', '/api/v1/usage', { token: alice.token })).body.totals;
    expect(after).toEqual(before);
  });

  test('errors: 404 for unknown chats and messages and other users\' chats; 400 without messageId', async () => {
    const t = await transcript();
    const other = await transcript();
    for (const [chatId, messageId, what] of [
      [t.chatId, randomUUID(), 'message'], [t.chatId, 'nope', 'message'], [t.chatId, other.first, 'message'],
      [randomUUID(), t.first, 'chat'], ['nope', t.first, 'chat'],
    ] as const) {
      const res = await fork(chatId, messageId);
      expect(res.status, `${chatId} ${messageId}`).toBe(404);
      expect(res.body.error.message).toBe(`${what} not found`);
    }
    const bobs = await fork(t.chatId, t.first, bob.token);
    expect(bobs.status).toBe(404);
    expect(bobs.body.error.message).toBe('chat not found');
    expect((await api.request('POST', `/api/v1/chats/${t.chatId}/fork`, { body: {}, token: alice.token })).status).toBe(400);
    expect((await fork(t.chatId, 42)).status).toBe(400);
    const { rows: [n] } = await sql('SELECT count(*)::int AS n FROM chats WHERE parent_chat_id = $1', [t.chatId]);
    expect(n.n).toBe(0);
  });
});

test('the new routes are in the OpenAPI document', async () => {
  const doc = (await api.request('GET', '/api/v1/openapi.json')).body;
  expect(Object.keys(doc.paths['/api/v1/chats/{id}/messages/{messageId}'])).toContain('patch');
  expect(doc.paths['/api/v1/chats/{id}/fork'].post.responses['201']).toBeDefined();
  expect(doc.paths['/api/v1/usage'].get.responses['200']).toBeDefined();
  expect(doc.paths['/api/v1/chats/watch'].get).toBeDefined();
});

describe('on a real stack', () => {
  let stack: Stack;
  beforeAll(async () => { stack = await startStack(); });
  afterAll(async () => { await stack?.close(); });

  const messages = async (chatId: string) => (await stack.http('GET', `/api/v1/chats/${chatId}/messages`)).body.messages as Json[];

  test('editing during a running turn interrupts it and restarts with the edited content', async () => {
    const { modelId: realModel } = await stack.setupModel('openai');
    stack.fake.enqueue('openai', reply(text(...Array.from({ length: 200 }, (_, i) => `w${i} `)), { chunkDelayMs: 100 }));
    stack.fake.enqueue('openai', reply(text('Fresh ', 'answer.')));
    const created = await stack.http('POST', '/api/v1/chats', { content: 'Tell me a long story', modelId: realModel });
    const chat = created.body.chat;
    await waitFor(() => stack.appended.filter((e) => e.chatId === chat.id && e.type === 'message_part').length >= 3, 10_000, 'streaming');
    const queued = await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'never run this' });
    expect(queued.body.queued).toBe(true);

    const t0 = Date.now();
    const res = await stack.http('PATCH', `/api/v1/chats/${chat.id}/messages/${created.body.message.id}`, { content: 'Tell me a short story' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(Date.now() - t0).toBeLessThan(10_000);

    await stack.waitForStatus(chat.id, 'waiting');
    const msgs = await messages(chat.id);
    expect(msgs.map((m) => [m.role, textOf(m)])).toEqual([['user', 'Tell me a short story'], ['assistant', 'Fresh answer.']]);
    expect(msgs[0].id).toBe(res.body.message.id);
    const requests = stack.fake.requests('openai');
    expect(requests).toHaveLength(2);
    const prompt = JSON.stringify(requests[1].messages);
    expect(prompt).toContain('Tell me a short story');
    expect(prompt).not.toContain('long story');
    expect(prompt).not.toContain('w0');
    expect(JSON.stringify(requests)).not.toContain('never run this');
    expect((await stack.http('GET', `/api/v1/chats/${chat.id}`)).body.queue).toEqual([]);
  });
});
