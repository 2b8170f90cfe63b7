// Two Parleys with two databases on one Temporal task queue (issue 13, "deployments that cannot
// cross"): a worker of the other deployment must never settle a chat it does not know as deleted.
// It fails the workflow task, loudly, and the chat is served once a worker of its own comes.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import { httpError, reply, text, toolCall } from '../support/fake-providers.ts';
import { startStack, type Stack } from '../support/stack.ts';

let mine: Stack;
let stranger: Stack | undefined;
beforeAll(async () => {
  const env = { PARLEY_TASK_QUEUE: `shared-${randomUUID()}`, PARLEY_RECONCILE_INTERVAL_MS: '3600000' };
  mine = await startStack({ env, workers: 0 });
  stranger = await startStack({ env, workers: 1 });
});
afterAll(async () => {
  await stranger?.close();
  await mine?.close();
});

test("a worker of another deployment fails the task instead of ending the chat; the chat's own worker then serves it", async () => {
  const { modelId } = await mine.setupModel('openai');
  mine.fake.enqueue('openai', reply(text('served by the right worker')));
  const created = await mine.http('POST', '/api/v1/chats', { content: 'hello', modelId });
  expect(created.status).toBe(201);
  const chatId: string = created.body.chat.id;
  const handle = mine.temporal.workflow.getHandle(chatWorkflowId(chatId));

  // The stranger's worker takes the task and refuses it: a failed workflow task naming both deployments.
  let failure: string | undefined;
  for (let i = 0; i < 200 && failure === undefined; i++) {
    const history = await handle.fetchHistory();
    failure = history.events?.map((e) => e.workflowTaskFailedEventAttributes?.failure?.message).find((m) => m) ?? undefined;
    if (failure === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  expect(failure).toMatch(/belongs to Parley deployment .* but this worker serves deployment .*PARLEY_TASK_QUEUE/);
  expect((await handle.describe()).status.name).toBe('RUNNING');
  const { rows } = await mine.services.pool.query('SELECT status FROM chats WHERE id = $1', [chatId]);
  expect(rows[0].status).toBe('pending');
  expect(mine.fake.requests('openai')).toHaveLength(0);

  // A worker of this deployment comes up: Temporal retries the task, and sooner or later it lands there.
  await stranger!.close();
  stranger = undefined;
  await mine.startWorker();
  await mine.waitForStatus(chatId, 'waiting', 30_000);
  const { body } = await mine.http('GET', `/api/v1/chats/${chatId}/messages`);
  expect(body.messages.map((m: any) => m.role)).toEqual(['user', 'assistant']);
  expect(body.messages[1].parts).toEqual([{ type: 'text', text: 'served by the right worker' }]);
}, 60_000);

test('with workers of both deployments polling, every step and tool of a turn is served by its own deployment', async () => {
  const env = { PARLEY_TASK_QUEUE: `shared-${randomUUID()}`, PARLEY_RECONCILE_INTERVAL_MS: '3600000' };
  const own = await startStack({ env, workers: 1 });
  // Two of theirs to one of ours: most first attempts land on a stranger.
  const other = await startStack({ env, workers: 2 });
  try {
    const { modelId } = await own.setupModel('openai');
    // A first attempt goes to the worker that completed the workflow task (eager dispatch, sticky
    // queues); retries go through the shared queue, where the strangers poll too. Provider errors
    // make retries of both steps.
    own.fake.enqueue('openai', httpError(503));
    own.fake.enqueue('openai', reply([toolCall('write_file', { path: 'a.txt', content: 'one\n' })]));
    own.fake.enqueue('openai', httpError(503));
    own.fake.enqueue('openai', reply([toolCall('execute', { command: 'cat a.txt' })]));
    own.fake.enqueue('openai', httpError(503));
    own.fake.enqueue('openai', reply(text('all done')));
    const created = await own.http('POST', '/api/v1/chats', { content: 'go', modelId, title: 'crossing' });
    const chatId: string = created.body.chat.id;
    const settled = await own.waitForStatus(chatId, ['waiting', 'error'], 60_000);
    expect(settled).toMatchObject({ status: 'waiting', last_error: null });
    const { body } = await own.http('GET', `/api/v1/chats/${chatId}/messages`);
    expect(body.messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'tool', 'assistant']);
    const results = body.messages.filter((m: any) => m.role === 'tool').map((m: any) => m.parts[0]);
    expect(results.every((p: any) => p.isError === false)).toBe(true);
    expect(JSON.stringify(results[1].result)).toContain('one');
    // Whatever the strangers were handed, they refused: nothing of this chat is in their database.
    const { rows } = await other.services.pool.query('SELECT count(*)::int AS n FROM messages');
    expect(rows[0].n).toBe(0);
  } finally {
    await other.close();
    await own.close();
  }
}, 120_000);
