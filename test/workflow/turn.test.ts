import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import { reply, text, toolCall } from '../support/fake-providers.ts';
import { recordHistory } from '../support/histories.ts';
import { startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.close(); });

describe.each(['openai', 'anthropic'] as const)('a multi-step tool turn on %s', (kind) => {
  test('runs LLM step → tools → next step until the final answer, durable in PostgreSQL', async () => {
    const { modelId } = await stack.setupModel(kind);
    const { fake } = stack;
    fake.enqueue(kind, reply([text('I will write a file.'), toolCall('write_file', { path: 'notes/hello.txt', content: 'hello from the agent\n' })],
      { usage: { inputTokens: 100, outputTokens: 20 } }));
    // Two independent calls in one step: they run in parallel and their results keep call order.
    fake.enqueue(kind, reply([
      toolCall('read_file', { path: 'notes/hello.txt' }, { chunks: 4 }),
      toolCall('execute', { command: 'sleep 0.3; echo first-call' }),
    ], { usage: { inputTokens: 150, outputTokens: 30 } }));
    fake.enqueue(kind, reply(text('All ', 'done.'), { usage: { inputTokens: 200, outputTokens: 5 } }));

    const created = await stack.http('POST', '/api/v1/chats', { content: 'Write hello.txt and read it back', modelId });
    expect(created.status).toBe(201);
    const chatId: string = created.body.chat.id;
    await stack.waitForStatus(chatId, 'waiting');

    // The tool really ran in the chat's workspace.
    const file = await fs.readFile(path.join(stack.config.workspacesDir, chatId, 'notes/hello.txt'), 'utf8');
    expect(file).toBe('hello from the agent\n');

    const { body } = await stack.http('GET', `/api/v1/chats/${chatId}/messages`);
    const roles = body.messages.map((m: any) => m.role);
    expect(roles).toEqual(['user', 'assistant', 'tool', 'assistant', 'tool', 'tool', 'assistant']);
    const toolResults = body.messages.filter((m: any) => m.role === 'tool').map((m: any) => m.parts[0]);
    expect(toolResults.map((p: any) => p.name)).toEqual(['write_file', 'read_file', 'execute']);
    expect(toolResults.every((p: any) => p.isError === false)).toBe(true);
    expect(JSON.stringify(toolResults[1].result)).toContain('hello from the agent');
    expect(JSON.stringify(toolResults[2].result)).toContain('first-call');
    const final = body.messages.at(-1);
    expect(final.parts).toEqual([{ type: 'text', text: 'All done.' }]);
    expect(final.usage).toMatchObject({ inputTokens: 200, outputTokens: 5 });

    // The third request carried both tool results, in call order.
    const third = JSON.stringify(fake.requests(kind).at(-1));
    expect(third.indexOf('hello from the agent')).toBeGreaterThan(-1);
    expect(third.indexOf('hello from the agent')).toBeLessThan(third.indexOf('first-call'));

    // Clients saw streamed parts and whole messages, in one ordered log.
    const events = await stack.events(chatId);
    const ids = events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(events.filter((e) => e.type === 'message').length).toBe(7);
    const statuses = events.filter((e) => e.type === 'status').map((e) => (e.data as any).status);
    expect(statuses[0]).toBe('pending');
    expect(statuses.at(-1)).toBe('waiting');

    const state = await stack.temporal.workflow.getHandle(chatWorkflowId(chatId)).query('state').catch(() => null);
    // The workflow has completed (nothing queued): queries on a closed workflow still answer.
    if (state) expect(state).toMatchObject({ turn: 1, step: 3 });

    // Workspace file tools ran as local activities (markers in the history); only `execute`, which
    // may run for minutes, was dispatched as an activity task.
    await stack.waitForWorkflowClosed(chatId);
    const activities = await activityKinds(chatId);
    expect(activities.scheduled.filter((t) => t !== 'generateTitle')).toEqual(['llmStep', 'llmStep', 'runToolCall', 'llmStep']);
    expect(activities.local.filter((t) => t === 'runToolCall')).toHaveLength(2);
    await recordHistory(stack, chatId, `tool-turn-${kind}`);
  });
});

/** Activity types of a chat's run in history order: dispatched as tasks, and run locally (markers). */
async function activityKinds(chatId: string): Promise<{ scheduled: string[]; local: string[] }> {
  const history = await stack.temporal.workflow.getHandle(chatWorkflowId(chatId)).fetchHistory();
  const scheduled: string[] = [];
  const local: string[] = [];
  for (const e of history.events ?? []) {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (name) scheduled.push(name);
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_local_activity') {
      // Core's marker data: a JSON payload naming the activity type.
      const data = marker.details?.data?.payloads?.[0]?.data;
      local.push(JSON.parse(Buffer.from(data!).toString('utf8')).activity_type);
    }
  }
  return { scheduled, local };
}

test('workflow history carries ids and metadata only, never message content', async () => {
  const { modelId } = await stack.setupModel('openai');
  const phrase = `zebra-${Date.now()}-quartz`;
  stack.fake.enqueue('openai', reply([text(`assistant says ${phrase}`), toolCall('write_file', { path: 'p.txt', content: `file ${phrase}` })]));
  stack.fake.enqueue('openai', reply(text(`done ${phrase}`)));
  const created = await stack.http('POST', '/api/v1/chats', { content: `user says ${phrase}`, modelId });
  const chatId: string = created.body.chat.id;
  await stack.waitForStatus(chatId, 'waiting');
  await stack.waitForWorkflowClosed(chatId);
  const history = await stack.temporal.workflow.getHandle(chatWorkflowId(chatId)).fetchHistory();
  const json = JSON.stringify(history);
  expect(json.length).toBeGreaterThan(1000);
  // Payloads are base64 in the history JSON: check decoded payloads as well as the raw text.
  const decoded = JSON.stringify(history, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v));
  expect(decoded).toContain(chatId);
  expect(decoded).not.toContain(phrase);
  expect(json).not.toContain(phrase);
});

test('NUL characters from users and tools are stored (as U+FFFD) instead of failing the turn', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.enqueue('openai', reply([toolCall('execute', { command: "printf 'a\\000b'" })]));
  stack.fake.enqueue('openai', reply(text('done')));
  const created = await stack.http('POST', '/api/v1/chats', { content: 'nul \u0000 here', modelId });
  expect(created.status).toBe(201);
  await stack.waitForStatus(created.body.chat.id, 'waiting');
  const msgs = (await stack.http('GET', `/api/v1/chats/${created.body.chat.id}/messages`)).body.messages;
  expect(msgs[0].parts[0].text).toBe('nul \uFFFD here');
  expect(JSON.stringify(msgs[2].parts[0].result)).toContain('a\uFFFDb');
});

test('a provider changed between turns is used from the next step on, without a worker restart', async () => {
  // The step reads the provider with the model (one query), so an edit needs no cache invalidation.
  const { modelId, providerId } = await stack.setupModel('openai');
  const { fake } = stack;
  fake.reset();
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'first', modelId, title: 'p' })).body.chat;
  await stack.waitForStatus(chat.id, 'waiting');
  expect(fake.requestHeaders('openai').at(-1)?.authorization).toBe('Bearer sk-test');

  const patched = await stack.http('PATCH', `/api/v1/providers/${providerId}`, { apiKey: 'sk-rotated' });
  expect(patched.status).toBe(200);
  expect((await stack.http('POST', `/api/v1/chats/${chat.id}/messages`, { content: 'second' })).status).toBe(202);
  await stack.waitForStatus(chat.id, 'waiting');
  expect(fake.requestHeaders('openai').map((h) => h.authorization)).toEqual(['Bearer sk-test', 'Bearer sk-rotated']);
});
