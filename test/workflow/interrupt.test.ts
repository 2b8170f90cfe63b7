import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Context } from '@temporalio/activity';
import pg from 'pg';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { findTemporalCli } from '../../src/dev/temporal.ts';
import { INTERRUPT_CHANNEL } from '../../src/events/channels.ts';
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import { reply, text, toolCall, waitFor } from '../support/fake-providers.ts';
import { recordHistory } from '../support/histories.ts';
import { startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
/** A chat whose local (fast) tool calls hang until cancelled, like a file system that stopped answering. */
let hangingLocalToolChat: string | undefined;
let hangingLocalToolOutcome: string | undefined;
beforeAll(async () => {
  stack = await startStack({
    wrapActivities: (acts) => ({
      ...acts,
      runToolCall: async (ref) => {
        const ctx = Context.current();
        if (ref.chatId === hangingLocalToolChat && ctx.info.isLocal) {
          // Like the real tool activity: it stops on Temporal's cancellation or on the interrupt NOTIFY.
          const listener = new pg.Client({ connectionString: stack.config.databaseUrl });
          await listener.connect();
          try {
            await listener.query(`LISTEN ${INTERRUPT_CHANNEL}`);
            hangingLocalToolOutcome = 'listening';
            const how = await new Promise<string>((resolve) => {
              const timer = setTimeout(() => resolve('timeout'), 20_000);
              ctx.cancellationSignal.addEventListener('abort', () => { clearTimeout(timer); resolve('cancelled'); });
              listener.on('notification', (n) => { if (n.payload === `${ref.chatId}:${ref.turn}`) { clearTimeout(timer); resolve('notified'); } });
            });
            hangingLocalToolOutcome = how;
            if (how === 'notified') return { isError: true, interrupted: true, replayed: false };
          } finally {
            await listener.end();
          }
        }
        return acts.runToolCall(ref);
      },
    }),
  });
});
afterAll(async () => { await stack?.close(); });

const slowText = (n: number) => reply(text(...Array.from({ length: n }, (_, i) => `w${i} `)), { chunkDelayMs: 100 });

async function messages(chatId: string) {
  return (await stack.http('GET', `/api/v1/chats/${chatId}/messages`)).body.messages as any[];
}

test('interrupt mid-stream stops the provider stream at once, keeps the partial, settles waiting', async () => {
  const { modelId } = await stack.setupModel('anthropic');
  stack.fake.enqueue('anthropic', slowText(200));
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'Tell me a long story', modelId })).body.chat;
  for (let i = 0; i < 100; i++) {
    const parts = (await stack.events(chat.id)).filter((e) => e.type === 'message_part');
    if (parts.length >= 3) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const abortsBefore = stack.fake.clientAborts('anthropic');
  const t0 = performance.now();
  const res = await stack.http('POST', `/api/v1/chats/${chat.id}/interrupt`, {});
  expect(res.status).toBe(202);
  await waitFor(() => stack.fake.clientAborts('anthropic') > abortsBefore, 5_000, 'provider connection closed');
  const closedMs = performance.now() - t0;
  await stack.waitForStatus(chat.id, 'waiting', 5_000);
  const settledMs = performance.now() - t0;
  console.log(`interrupt → provider connection closed ${closedMs.toFixed(0)} ms, status waiting ${settledMs.toFixed(0)} ms`);
  // The fast path (NOTIFY) must beat Temporal's heartbeat-throttled cancellation (seconds).
  expect(closedMs).toBeLessThan(1_000);

  const msgs = await messages(chat.id);
  expect(msgs.map((m) => m.role)).toEqual(['user', 'assistant']);
  const partial = msgs[1].parts[0].text as string;
  expect(partial.startsWith('w0 w1 ')).toBe(true);
  expect(partial.length).toBeLessThan('w0 '.length * 200);
  await recordHistory(stack, chat.id, 'interrupt-mid-stream');
});

test('interrupt mid-tool kills the tool, closes dangling tool calls, and the next prompt is valid', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.enqueue('openai', reply([
    toolCall('execute', { command: 'echo quick' }),
    toolCall('execute', { command: 'sleep 30; echo never' }),
  ]));
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'run things', modelId })).body.chat;
  for (let i = 0; i < 200; i++) {
    const tools = (await messages(chat.id)).filter((m) => m.role === 'tool');
    if (tools.length >= 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const t0 = performance.now();
  await stack.http('POST', `/api/v1/chats/${chat.id}/interrupt`, { reason: 'test' });
  await stack.waitForStatus(chat.id, 'waiting', 5_000);
  expect(performance.now() - t0).toBeLessThan(3_000);

  const tools = (await messages(chat.id)).filter((m) => m.role === 'tool').map((m) => m.parts[0]);
  expect(tools).toHaveLength(2);
  expect(tools[0]).toMatchObject({ isError: false });
  expect(tools[1]).toMatchObject({ isError: true, result: expect.stringMatching(/interrupted/i) });

  // The next turn's prompt answers every tool call.
  stack.fake.enqueue('openai', reply(text('ok')));
  const isNext = (b: any) => JSON.stringify(b.messages).includes('proceed-now');
  await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'proceed-now' });
  await waitFor(() => stack.fake.requests('openai').some(isNext), 10_000, 'next request');
  const next = stack.fake.requests('openai').find(isNext);
  const toolMsgs = next.messages.filter((m: any) => m.role === 'tool');
  expect(toolMsgs).toHaveLength(2);
  await stack.waitForStatus(chat.id, 'waiting');
  await recordHistory(stack, chat.id, 'interrupt-mid-tool');
});

test('interrupt reaches a tool running as a local activity: the turn settles and the call is closed', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.enqueue('openai', reply(text('hello')));
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'hi', modelId })).body.chat;
  await stack.waitForStatus(chat.id, 'waiting');
  hangingLocalToolChat = chat.id;
  stack.fake.enqueue('openai', reply([toolCall('read_file', { path: 'missing.txt' })]));
  await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'read it' });
  await waitFor(() => hangingLocalToolOutcome === 'listening', 10_000, 'the local tool to run');
  const t0 = performance.now();
  await stack.http('POST', `/api/v1/chats/${chat.id}/interrupt`, {});
  await stack.waitForStatus(chat.id, 'waiting', 5_000);
  expect(performance.now() - t0).toBeLessThan(3_000);
  const tools = (await messages(chat.id)).filter((m) => m.role === 'tool').map((m) => m.parts[0]);
  expect(tools).toEqual([expect.objectContaining({ name: 'read_file', isError: true, result: expect.stringMatching(/interrupted/i) })]);
  // The API's own NOTIFY got there: the workflow could not see the signal while the tool held its task.
  expect(hangingLocalToolOutcome).toBe('notified');
});

test('an interrupt signal for a turn that already ended does not stop the next turn', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.enqueue('openai', reply(text('first answer')));
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'one', modelId })).body.chat;
  await stack.waitForStatus(chat.id, 'waiting');
  stack.fake.enqueue('openai', slowText(30));
  await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'two' });
  await waitFor(() => stack.fake.openConnections() > 0, 10_000, 'stream started');
  const handle = stack.temporal.workflow.getHandle(chatWorkflowId(chat.id));
  await handle.signal('interrupt', { turn: 1, reason: 'late' });
  await stack.waitForStatus(chat.id, 'waiting', 10_000);
  const last = (await messages(chat.id)).at(-1);
  expect(last.role).toBe('assistant');
  expect(last.parts[0].text).toContain('w29');
  expect(last.finishReason ?? 'stop').not.toBe('interrupted');
});

test('`temporal workflow signal --name interrupt` with no input interrupts a turn', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.enqueue('openai', slowText(300));
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'stream a lot', modelId })).body.chat;
  await waitFor(() => stack.fake.openConnections() > 0, 10_000, 'stream started');
  await promisify(execFile)(findTemporalCli(), [
    'workflow', 'signal', '--address', inject('temporalAddress'), '--workflow-id', chatWorkflowId(chat.id), '--name', 'interrupt',
  ]);
  await stack.waitForStatus(chat.id, 'waiting', 5_000);
  const msgs = await messages(chat.id);
  expect(msgs.at(-1).role).toBe('assistant');
});

test('interrupting an idle chat is harmless', async () => {
  const { modelId } = await stack.setupModel('openai');
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'hi', modelId })).body.chat;
  await stack.waitForStatus(chat.id, 'waiting');
  await stack.waitForWorkflowClosed(chat.id);
  const res = await stack.http('POST', `/api/v1/chats/${chat.id}/interrupt`, {});
  expect(res.status).toBe(202);
  expect(res.body).toEqual({ interrupted: false });
});
