// Two Parleys with two databases on one Temporal task queue (issue 13, "deployments that cannot
// cross"): a worker of the other deployment must never settle a chat it does not know as deleted.
// It fails the workflow task, loudly, and the chat is served once a worker of its own comes.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { chatWorkflowId } from '../src/workflows/types.ts';
import { reply, text } from './support/fake-providers.ts';
import { startStack, type Stack } from './support/stack.ts';

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
