import { afterAll, beforeAll, expect, test } from 'vitest';
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import { reply, text, toolCall, waitFor } from '../support/fake-providers.ts';
import { startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.close(); });

const slow = () => reply(text(...Array.from({ length: 100 }, () => 'z')), { chunkDelayMs: 100 });

test('workflow cancel mid-turn settles the chat (never stuck in running)', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.enqueue('openai', reply([toolCall('execute', { command: 'sleep 30' })]));
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'go', modelId })).body.chat;
  await waitFor(() => stack.fake.requests('openai').length > 0, 10_000, 'step started');
  await new Promise((r) => setTimeout(r, 500));
  await stack.temporal.workflow.getHandle(chatWorkflowId(chat.id)).cancel();
  await stack.waitForStatus(chat.id, ['waiting', 'error'], 10_000);
  await stack.waitForWorkflowClosed(chat.id);
  const desc = await stack.temporal.workflow.getHandle(chatWorkflowId(chat.id)).describe();
  expect(desc.status.name).toBe('CANCELLED');
  // The dangling tool call got its synthetic result, so the chat can go on.
  const msgs = (await stack.http('GET', `/api/v1/chats/${chat.id}/messages`)).body.messages;
  expect(msgs.filter((m: any) => m.role === 'tool')).toHaveLength(1);
});

test('terminate, then the next message: the lost turn is settled as an error and the chat goes on', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.enqueue('openai', slow());
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'go', modelId })).body.chat;
  await waitFor(() => stack.fake.openConnections() > 0, 10_000, 'stream started');
  await stack.temporal.workflow.getHandle(chatWorkflowId(chat.id)).terminate('operator terminated it');
  stack.fake.enqueue('openai', reply(text('back again')));
  // The chat still reads as running (nothing could settle a terminated run) ...
  expect((await stack.http('GET', `/api/v1/chats/${chat.id}`)).body.chat.status).toBe('running');
  // ... a new message restarts the workflow, which settles the lost turn first.
  const sent = await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'are you there?' });
  expect(sent.status).toBe(202);
  for (let i = 0; i < 200; i++) {
    const m = (await stack.http('GET', `/api/v1/chats/${chat.id}/messages`)).body.messages;
    if (m.at(-1)?.parts?.[0]?.text === 'back again') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stack.waitForStatus(chat.id, 'waiting');
  const events = await stack.events(chat.id);
  expect(events.some((e) => e.type === 'error' && (e.data as any).kind === 'turn_lost')).toBe(true);
  const msgs = (await stack.http('GET', `/api/v1/chats/${chat.id}/messages`)).body.messages;
  expect(msgs.map((m: any) => m.parts[0]?.text)).toContain('are you there?');
  expect(msgs.at(-1).parts).toEqual([{ type: 'text', text: 'back again' }]);
});
