// PARLEY_RUN_IDLE_MS: after its queue empties, a chat's run waits for the next message before it
// completes. A follow-up inside the window is a `wake` signal to the same run; after the window the
// run completes and the next message starts a new one.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import type { ChatWorkflowState } from '../../src/workflows/contract.ts';
import { text } from '../support/fake-providers.ts';
import { recordHistory } from '../support/histories.ts';
import { startStack, type Stack } from '../support/stack.ts';

const IDLE_MS = 1_500;
let stack: Stack;
beforeAll(async () => { stack = await startStack({ env: { PARLEY_RUN_IDLE_MS: String(IDLE_MS) } }); });
afterAll(async () => { await stack?.close(); });

const handle = (chatId: string) => stack.temporal.workflow.getHandle(chatWorkflowId(chatId));
const runOf = async (chatId: string) => {
  const d = await handle(chatId).describe();
  return { runId: d.runId, status: d.status.name };
};
async function answers(chatId: string): Promise<string[]> {
  const { body } = await stack.http('GET', `/api/v1/chats/${chatId}/messages`);
  return body.messages.filter((m: any) => m.role === 'assistant').map((m: any) => m.parts.map((p: any) => p.text).join(''));
}
/** Waits until the chat has `n` answers and is idle again. */
async function answered(chatId: string, n: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await answers(chatId)).length < n) {
    if (Date.now() > deadline) throw new Error(`chat ${chatId}: no answer ${n}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await stack.waitForStatus(chatId, 'waiting');
}

test('a follow-up within the idle window runs in the same run; after the window the run completes', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault((body: any) => text(`re: ${body.messages.at(-1).content}`), 'openai');
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'one', modelId, title: 'idle' })).body.chat;
  await stack.waitForStatus(chat.id, 'waiting');

  // Idle, but the run is still open and says so.
  const first = await runOf(chat.id);
  expect(first.status).toBe('RUNNING');
  const state = await handle(chat.id).query<ChatWorkflowState>('state');
  expect(state).toMatchObject({ status: 'waiting', turn: 1, queueLength: 0 });

  expect((await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'two' })).status).toBe(202);
  await answered(chat.id, 2);
  expect(await answers(chat.id)).toEqual(['re: one', 're: two']);
  expect((await runOf(chat.id)).runId).toBe(first.runId);

  // No message for the window: the run completes on its own.
  await stack.waitForWorkflowClosed(chat.id, IDLE_MS + 10_000);
  expect(await runOf(chat.id)).toEqual({ runId: first.runId, status: 'COMPLETED' });
  await recordHistory(stack, chat.id, 'idle-run-follow-up');

  // The next message starts a new run, answered like any other.
  expect((await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'three' })).status).toBe(202);
  await answered(chat.id, 3);
  expect(await answers(chat.id)).toEqual(['re: one', 're: two', 're: three']);
  expect((await runOf(chat.id)).runId).not.toBe(first.runId);
  stack.fake.reset();
});

test('deleting a chat whose run is idle ends the run at once, not after the window', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault(() => text('ok'), 'openai');
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'hi', modelId, title: 'to delete' })).body.chat;
  await stack.waitForStatus(chat.id, 'waiting');
  expect((await runOf(chat.id)).status).toBe('RUNNING');
  expect((await stack.http('DELETE', `/api/v1/chats/${chat.id}`)).status).toBe(204);
  // Well inside the idle window: the cancel, not the timer, closed it.
  await stack.waitForWorkflowClosed(chat.id, IDLE_MS / 2);
  expect((await runOf(chat.id)).status).toBe('CANCELLED');
  stack.fake.reset();
});

test('an interrupt sent while the run is idle changes nothing, and the next message is answered', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault((body: any) => text(`re: ${body.messages.at(-1).content}`), 'openai');
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'a', modelId, title: 'interrupt idle' })).body.chat;
  await stack.waitForStatus(chat.id, 'waiting');
  // As `temporal workflow signal --name interrupt` would, bare.
  await handle(chat.id).signal('interrupt');
  expect((await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'b' })).status).toBe(202);
  await answered(chat.id, 2);
  expect(await answers(chat.id)).toEqual(['re: a', 're: b']);
  stack.fake.reset();
});
