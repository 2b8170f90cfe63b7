import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/dev/temporal.ts';
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import { reply, text, toolCall } from '../support/fake-providers.ts';
import { startStack, type Stack } from '../support/stack.ts';

// A server of its own that suggests continue-as-new after a few dozen history events, so a busy
// chat's workflow hops runs between turns while messages keep coming.
let temporal: TemporalDevServer;
let stack: Stack;
beforeAll(async () => {
  temporal = await startTemporalDevServer({ headless: true, dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 30 } });
  stack = await startStack({ temporalAddress: temporal.address });
});
afterAll(async () => {
  await stack?.close();
  await temporal?.stop();
});

test('a long busy period continues as new between turns without losing or repeating a turn', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault((body: any) => {
    const last = JSON.stringify(body.messages.at(-1));
    // Each turn: one tool step, then an answer naming the request.
    return last.includes('"tool"') || body.messages.at(-1).role === 'tool'
      ? reply(text(`answered ${body.messages.filter((m: any) => m.role === 'user').length}`))
      : reply([toolCall('execute', { command: 'sleep 0.2; echo ok' })]);
  }, 'openai');
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'message 1', modelId, title: 'can' })).body.chat;
  for (let i = 2; i <= 6; i++) {
    const res = await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: `message ${i}` });
    expect(res.status).toBe(202);
  }
  await stack.waitForStatus(chat.id, 'waiting', 60_000);
  await stack.waitForWorkflowClosed(chat.id, 30_000);

  const msgs = (await stack.http('GET', `/api/v1/chats/${chat.id}/messages`)).body.messages;
  expect(msgs.filter((m: any) => m.role === 'user').map((m: any) => m.parts[0].text))
    .toEqual(['message 1', 'message 2', 'message 3', 'message 4', 'message 5', 'message 6']);
  expect(msgs.filter((m: any) => m.role === 'assistant' && m.parts[0]?.type === 'text')).toHaveLength(6);

  // The busy period spanned several runs of the same workflow id.
  const runs = [];
  for await (const w of stack.temporal.workflow.list({ query: `WorkflowId = '${chatWorkflowId(chat.id)}'` })) runs.push(w.status.name);
  expect(runs.filter((s) => s === 'CONTINUED_AS_NEW').length).toBeGreaterThanOrEqual(1);
  expect(runs.filter((s) => s === 'COMPLETED')).toHaveLength(1);
}, 120_000);

test('an idle run past the continue-as-new suggestion completes instead of waiting out its idle window', async () => {
  const lingering = await startStack({ temporalAddress: temporal.address, env: { PARLEY_RUN_IDLE_MS: '600000' } });
  try {
    const { modelId } = await lingering.setupModel('openai');
    // Three tool steps take one run past the 30-event suggestion before the turn ends.
    let step = 0;
    lingering.fake.setDefault(() => (++step <= 3 ? reply([toolCall('execute', { command: 'echo ok' })]) : reply(text('done'))), 'openai');
    const chat = (await lingering.http('POST', '/api/v1/chats', { content: 'go', modelId, title: 'long' })).body.chat;
    await lingering.waitForStatus(chat.id, 'waiting', 60_000);
    // Far inside the 10-minute window.
    await lingering.waitForWorkflowClosed(chat.id, 15_000);
    const d = await lingering.temporal.workflow.getHandle(chatWorkflowId(chat.id)).describe();
    expect(d.status.name).toBe('COMPLETED');
    expect(d.historyLength).toBeGreaterThan(30);
  } finally {
    await lingering.close();
  }
}, 120_000);
