import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import { httpError, reply, text } from '../support/fake-providers.ts';
import { recordHistory } from '../support/histories.ts';
import { startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
let raceChatId: string | undefined;
let raceInjected = false;

beforeAll(async () => {
  stack = await startStack({
    // Provokes the finishing race deterministically: right after the workflow learned that the
    // queue is empty, and before it can complete, a message is queued and the API's wake arrives.
    wrapActivities: (acts) => ({
      ...acts,
      advanceChat: async (input) => {
        const result = await acts.advanceChat(input);
        if (input.chatId === raceChatId && result.turn === null && !raceInjected) {
          raceInjected = true;
          await stack.services.pool.query(
            `INSERT INTO queued_messages (id, chat_id, content, position) VALUES ($1, $2, 'late message', 1)`,
            [randomUUID(), input.chatId],
          );
          await stack.temporal.workflow.getHandle(chatWorkflowId(input.chatId)).signal('wake');
        }
        return result;
      },
    }),
  });
});
afterAll(async () => { await stack?.close(); });

async function userTexts(chatId: string): Promise<string[]> {
  const msgs = (await stack.http('GET', `/api/v1/chats/${chatId}/messages`)).body.messages;
  return msgs.filter((m: any) => m.role === 'user').map((m: any) => m.parts[0].text);
}

test('messages sent while a turn runs are queued and drained in order, one turn each', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.enqueue('openai', reply(text(...Array.from({ length: 10 }, () => 'x')), { chunkDelayMs: 100 }));
  stack.fake.setDefault((body: any) => text(`answer to ${JSON.stringify(body.messages.at(-1).content).slice(0, 40)}`), 'openai');
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'first', modelId })).body.chat;
  const sent = [];
  for (const content of ['second', 'third', 'fourth']) {
    const res = await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content });
    expect(res.status).toBe(202);
    sent.push(res.body);
  }
  expect(sent.every((s) => s.queued === true)).toBe(true);
  const got = (await stack.http('GET', `/api/v1/chats/${chat.id}`)).body;
  expect(got.queue.map((q: any) => q.content)).toEqual(['second', 'third', 'fourth']);

  await stack.waitForStatus(chat.id, 'waiting', 30_000);
  await stack.waitForWorkflowClosed(chat.id);
  expect(await userTexts(chat.id)).toEqual(['first', 'second', 'third', 'fourth']);
  const msgs = (await stack.http('GET', `/api/v1/chats/${chat.id}/messages`)).body.messages;
  expect(msgs.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
  expect((await stack.http('GET', `/api/v1/chats/${chat.id}`)).body.queue).toEqual([]);
  stack.fake.reset();
});

test('a message that arrives while the workflow is finishing is not lost', async () => {
  const { modelId } = await stack.setupModel('openai');
  // Slow enough that the test knows the chat id before the turn ends.
  stack.fake.enqueue('openai', reply(text('a', 'b', 'c'), { chunkDelayMs: 150 }));
  const created = (await stack.http('POST', '/api/v1/chats', { content: 'early message', modelId })).body.chat;
  raceChatId = created.id;
  await stack.waitForWorkflowClosed(created.id, 30_000);
  expect(raceInjected).toBe(true);
  await stack.waitForStatus(created.id, 'waiting');
  expect(await userTexts(created.id)).toEqual(['early message', 'late message']);
  const { rows } = await stack.services.pool.query('SELECT count(*)::int AS n FROM queued_messages WHERE chat_id = $1', [created.id]);
  expect(rows[0].n).toBe(0);
});

test('a message sent while the first turn\'s title is still being generated is answered in the same run', async () => {
  const { modelId } = await stack.setupModel('openai');
  // Three retryable failures keep the title activity busy for ~3 s after the turn ends.
  stack.fake.enqueueCompletion('openai', httpError(503), httpError(503), httpError(503));
  stack.fake.setDefault((body: any) => text(`re: ${body.messages.at(-1).content}`), 'openai');
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'first', modelId })).body.chat;
  await stack.waitForStatus(chat.id, 'waiting', 30_000);
  const run = (await stack.temporal.workflow.getHandle(chatWorkflowId(chat.id)).describe()).runId;
  expect((await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'second' })).status).toBe(202);
  await stack.waitForWorkflowClosed(chat.id, 30_000);
  expect(await userTexts(chat.id)).toEqual(['first', 'second']);
  const msgs = (await stack.http('GET', `/api/v1/chats/${chat.id}/messages`)).body.messages;
  expect(msgs.filter((m: any) => m.role === 'assistant').map((m: any) => m.parts[0].text)).toEqual(['re: first', 're: second']);
  expect((await stack.temporal.workflow.getHandle(chatWorkflowId(chat.id)).describe()).runId).toBe(run);
  await recordHistory(stack, chat.id, 'wake-during-title');
  stack.fake.reset();
});
