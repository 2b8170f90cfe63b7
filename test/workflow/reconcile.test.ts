// Nothing stuck: a chat saved while Temporal was unreachable is started by the reconciler, retries
// with an Idempotency-Key never create a second chat, and reconciler passes never overlap.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { toHttpError } from '../../src/api/errors.ts';
import { createReconciler } from '../../src/chats/reconciler.ts';
import { idempotencyClaim } from '../../src/chats/idempotency.ts';
import { createChat } from '../../src/chats/service.ts';
import { deploymentId, withReconcileLock } from '../../src/db/reconcile.ts';
import { createChatWorkflows, type ChatWorkflows } from '../../src/temporal/chat-workflows.ts';
import { startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
let workflows: ChatWorkflows;
let adminId: string;

beforeAll(async () => {
  // A long interval: the test runs passes itself, the processes' own reconcilers stay out of the way.
  stack = await startStack({ env: { PARLEY_RECONCILE_INTERVAL_MS: '3600000' } });
  await stack.setupModel('openai');
  workflows = createChatWorkflows(stack.temporal, stack.config.taskQueue, await deploymentId(stack.services.pool));
  adminId = (await stack.http('GET', '/api/v1/me')).body.user.id;
});
afterAll(async () => { await stack?.close(); });

const down: ChatWorkflows = {
  wake: async () => { throw new Error('connect ECONNREFUSED 127.0.0.1:7233'); },
  interrupt: async () => { throw new Error('down'); },
  cancel: async () => { throw new Error('down'); },
  isRunning: async () => { throw new Error('down'); },
  answerToolCall: async () => { throw new Error('down'); },
};

test('a chat saved while Temporal is down answers 503 naming it, and a reconciler pass starts its turn', async () => {
  const deps = { pool: stack.services.pool, events: stack.services.events, config: stack.config, workflows: down };
  const err = await createChat(deps, { id: adminId }, { content: 'hello while down' }).catch((e: unknown) => e) as any;
  expect(toHttpError(err).statusCode).toBe(503); // a domain error, answered as 503
  const chatId = err.details.chatId as string;
  expect(chatId).toMatch(/^[0-9a-f-]{36}$/);
  expect(err.details.messageId).toBeTruthy();
  expect(err.message).toContain(chatId);
  const { rows } = await stack.services.pool.query('SELECT status FROM chats WHERE id = $1', [chatId]);
  expect(rows[0].status).toBe('pending');

  // While Temporal stays down, a pass fails and changes nothing.
  const failing = createReconciler({ pool: stack.services.pool, workflows: down, intervalMs: 3_600_000, batchSize: 10, graceMs: 0 });
  await expect(failing.runPass()).rejects.toThrow(/ECONNREFUSED/);
  expect((await stack.services.pool.query('SELECT status FROM chats WHERE id = $1', [chatId])).rows[0].status).toBe('pending');

  const reconciler = createReconciler({ pool: stack.services.pool, workflows, intervalMs: 3_600_000, batchSize: 10, graceMs: 0 });
  const pass = await reconciler.runPass();
  expect(pass.ran).toBe(true);
  expect(pass.woken).toContain(chatId);
  await stack.waitForStatus(chatId, 'waiting');
  const messages = (await stack.http('GET', `/api/v1/chats/${chatId}/messages`)).body.messages;
  expect(messages.filter((m: any) => m.role === 'user')).toHaveLength(1);
  expect(messages.filter((m: any) => m.role === 'assistant').length).toBeGreaterThan(0);

  // Served chats are left alone by the next pass.
  await stack.waitForWorkflowClosed(chatId);
  expect((await reconciler.runPass()).woken).not.toContain(chatId);
});

test('a running chat whose workflow is gone is woken; one whose workflow runs is not', async () => {
  const created = await stack.http('POST', '/api/v1/chats', { content: 'first' });
  const chatId = created.body.chat.id;
  await stack.waitForStatus(chatId, 'waiting');
  await stack.waitForWorkflowClosed(chatId);
  // As if a worker died with the turn begun and the run was terminated.
  await stack.services.pool.query(`UPDATE chats SET status = 'running', updated_at = now() - interval '1 minute' WHERE id = $1`, [chatId]);
  const reconciler = createReconciler({ pool: stack.services.pool, workflows, intervalMs: 3_600_000, batchSize: 10, graceMs: 0 });
  expect((await reconciler.runPass()).woken).toContain(chatId);
  await stack.waitForStatus(chatId, ['waiting', 'error']);
});

test('two processes: a pass while another holds the lock does nothing', async () => {
  const reconciler = createReconciler({ pool: stack.services.pool, workflows, intervalMs: 3_600_000, batchSize: 10, graceMs: 0 });
  const inner = await withReconcileLock(stack.services.pool, () => reconciler.runPass());
  expect(inner).toEqual({ ran: false, checked: 0, woken: [] });
  expect((await reconciler.runPass()).ran).toBe(true);
});

test('Idempotency-Key: the same request twice is one chat; another request with that key is 422', async () => {
  const key = `k-${Date.now()}`;
  const post = (body: unknown, k = key) => fetch(`${stack.api.url}/api/v1/chats`, {
    method: 'POST',
    headers: { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json', 'idempotency-key': k },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() as any }));
  const [a, b] = await Promise.all([post({ content: 'only once' }), post({ content: 'only once' })]);
  expect(a.status).toBe(201);
  expect(b.status).toBe(201);
  expect(b.body.chat.id).toBe(a.body.chat.id);
  const { rows } = await stack.services.pool.query(`SELECT count(*)::int AS n FROM messages m JOIN chats c ON c.id = m.chat_id WHERE m.parts::text LIKE '%only once%'`);
  expect(rows[0].n).toBe(1);
  const other = await post({ content: 'something else' });
  expect(other.status).toBe(422);
  expect(other.body.error.code).toBe('idempotency_key_reused');
  const bad = await post({ content: 'x' }, ' ');
  expect(bad.status).toBe(400);

  // Messages too: the retry of a send is the same message.
  const chatId = a.body.chat.id;
  await stack.waitForStatus(chatId, 'waiting');
  const send = () => fetch(`${stack.api.url}/api/v1/chats/${chatId}/messages`, {
    method: 'POST',
    headers: { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json', 'idempotency-key': `${key}-m` },
    body: JSON.stringify({ content: 'follow up once' }),
  }).then(async (r) => ({ status: r.status, body: await r.json() as any }));
  const s1 = await send();
  const s2 = await send();
  expect(s1.status).toBe(202);
  expect(s2.body).toEqual(s1.body);
  const n = await stack.services.pool.query(`SELECT count(*)::int AS n FROM messages WHERE chat_id = $1 AND parts::text LIKE '%follow up once%'`, [chatId]);
  expect(n.rows[0].n).toBe(1);
});

test('idempotencyClaim validates the key', () => {
  expect(idempotencyClaim('u', undefined, { method: 'POST', route: '/chats', body: {} })).toBeUndefined();
  expect(() => idempotencyClaim('u', 'x'.repeat(256), { method: 'POST', route: '/chats', body: {} })).toThrow(/Idempotency-Key/);
  const a = idempotencyClaim('u', 'k', { method: 'POST', route: '/chats', body: { a: 1, b: 2 } })!;
  const b = idempotencyClaim('u', 'k', { method: 'POST', route: '/chats', body: { b: 2, a: 1 } })!;
  expect(a.fingerprint).toBe(b.fingerprint);
});
