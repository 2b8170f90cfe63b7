import { afterEach, expect, test } from 'vitest';
import { reply, text } from '../support/fake-providers.ts';
import { startStack, type Stack } from '../support/stack.ts';

let stack: Stack | undefined;
afterEach(async () => { await stack?.close(); stack = undefined; });

/** When each chat's provider request arrived, for two chats sent at once; each reply streams for ~1 s. */
async function requestTimes(maxActivities: number): Promise<number[]> {
  stack = await startStack({ env: { PARLEY_WORKER_MAX_ACTIVITIES: String(maxActivities) } });
  const { modelId } = await stack.setupModel('openai');
  const arrived: number[] = [];
  stack.fake.reset();
  for (let i = 0; i < 2; i++) {
    stack.fake.enqueue('openai', () => {
      arrived.push(Date.now());
      return reply(text(...'abcdefghij'), { chunkDelayMs: 100 });
    });
  }
  // Titled chats: no title activity competes for the slots.
  const chats = await Promise.all(['one', 'two'].map(async (title) =>
    (await stack!.http('POST', '/api/v1/chats', { content: 'hello', modelId, title })).body.chat.id as string));
  await Promise.all(chats.map((id) => stack!.waitForStatus(id, 'waiting', 15_000)));
  return arrived;
}

test('PARLEY_WORKER_MAX_ACTIVITIES bounds the LLM steps one worker streams at once', async () => {
  const [first, second] = await requestTimes(1);
  // One slot: the second chat's step starts only after the first reply has streamed.
  expect(second! - first!).toBeGreaterThanOrEqual(900);
});

test('with slots to spare, chats sent together stream together', async () => {
  const [first, second] = await requestTimes(2);
  expect(second! - first!).toBeLessThan(600);
});
