// Tool approval and questions end to end through the API: a step whose calls the tool policy asks
// about (or an ask_user_question) pauses in requires_action until a person answers through
// POST /chats/:id/tool-calls/:toolCallId, which reaches the workflow as its answerToolCall update.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { findTemporalCli } from '../../src/dev/temporal.ts';
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import { agentRequest, isSubAgentRequest } from '../support/agents.ts';
import { reply, text, toolCall, waitFor, type FakeProvider } from '../support/fake-providers.ts';
import { recordHistory } from '../support/histories.ts';
import { fetchSse } from '../support/sse.ts';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.close(); });

const messagesOf = async (chatId: string): Promise<any[]> => (await stack.http('GET', `/api/v1/chats/${chatId}/messages`)).body.messages;
const toolResults = async (chatId: string): Promise<any[]> =>
  (await messagesOf(chatId)).filter((m) => m.role === 'tool').map((m) => m.parts[0]);
const answer = (chatId: string, toolCallId: string, body: unknown, token?: string) =>
  stack.http('POST', `/api/v1/chats/${chatId}/tool-calls/${encodeURIComponent(toolCallId)}`, body, token);

/** GET /chats/:id once the chat shows requires_action with `count` pending actions. */
async function waitForActions(chatId: string, count: number, timeoutMs = 20_000): Promise<any> {
  let last: any;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    last = (await stack.http('GET', `/api/v1/chats/${chatId}`)).body;
    if (last.chat?.status === 'requires_action' && last.pendingActions?.length === count) return last;
    // Not faster: the API's rate limit counts these too.
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`chat ${chatId} did not wait for ${count} actions (last: ${JSON.stringify(last)})`);
}

const exists = (file: string) => fs.access(file).then(() => true, () => false);

describe.each(['openai', 'anthropic'] as const)('tool approval on %s', (kind: FakeProvider) => {
  test('a step with calls to approve pauses before running any of them; approve runs one, deny gives the model the reason', async () => {
    const { modelId } = await stack.setupModel(kind, { toolPolicy: { default: 'auto', tools: { write_file: 'ask' } } });
    const watch = await fetchSse(`${stack.api.url}/api/v1/chats/watch`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    let finalRequest = '';
    stack.fake.setDefault((body) => {
      const r = agentRequest(body, kind);
      if (r.steps === 0) {
        return reply([
          toolCall('write_file', { path: 'approved.txt', content: 'yes\n' }),
          toolCall('write_file', { path: 'denied.txt', content: 'no\n' }),
          toolCall('list_files', {}),
        ]);
      }
      finalRequest = r.raw;
      return reply(text('one written, one refused'));
    }, kind);

    const created = await stack.http('POST', '/api/v1/chats', { content: 'write two files', modelId });
    expect(created.status).toBe(201);
    const chatId: string = created.body.chat.id;
    const paused = await waitForActions(chatId, 2);
    const workspace = path.join(stack.config.workspacesDir, chatId);

    // Nothing of the step ran: not the asked calls, not the list_files the policy lets through.
    expect(await toolResults(chatId)).toEqual([]);
    expect(await exists(path.join(workspace, 'approved.txt'))).toBe(false);
    const [first, second] = paused.pendingActions;
    expect(first).toMatchObject({ kind: 'approval', tool: 'write_file', args: { path: 'approved.txt', content: 'yes\n' }, turn: 1 });
    expect(second).toMatchObject({ kind: 'approval', tool: 'write_file', args: { path: 'denied.txt' } });
    expect(first.step).toBe(second.step);

    // The chat's stream says so once, the watch stream shows the status.
    const events = await stack.events(chatId);
    const required = events.filter((e) => e.type === 'action_required');
    expect(required).toHaveLength(1);
    expect(required[0]!.data).toEqual({
      turn: 1, step: first.step,
      actions: [
        { toolCallId: first.toolCallId, kind: 'approval', tool: 'write_file', args: { path: 'approved.txt', content: 'yes\n' } },
        { toolCallId: second.toolCallId, kind: 'approval', tool: 'write_file', args: { path: 'denied.txt', content: 'no\n' } },
      ],
    });
    expect(events.filter((e) => e.type === 'status').map((e) => (e.data as any).status)).toContain('requires_action');
    await waitFor(() => watch.blocks.some((b) => b.event === 'chat' && b.data.chat.id === chatId && b.data.chat.status === 'requires_action'),
      5000, 'a requires_action chat change');

    // Answers: the wrong kind, an unknown call, another member's try, then the real ones.
    expect((await answer(chatId, first.toolCallId, { answer: 'sure' })).status).toBe(400);
    expect((await answer(chatId, first.toolCallId, { decision: 'maybe' })).status).toBe(400);
    const unknown = await answer(chatId, 'call_nope', { decision: 'approve' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.message).toContain('call_nope');
    const member = await stack.http('POST', '/api/v1/users', { username: `m-${kind}-${Date.now()}` });
    expect((await answer(chatId, first.toolCallId, { decision: 'approve' }, member.body.token)).status).toBe(404);

    const approved = await answer(chatId, first.toolCallId, { decision: 'approve' });
    expect(approved).toMatchObject({ status: 200, body: { toolCallId: first.toolCallId, decision: 'approve' } });
    expect((await answer(chatId, first.toolCallId, { decision: 'deny' })).status).toBe(409);
    // One answered, one to go: still paused, still nothing run.
    expect((await waitForActions(chatId, 1)).pendingActions[0].toolCallId).toBe(second.toolCallId);
    expect(await exists(path.join(workspace, 'approved.txt'))).toBe(false);

    expect((await answer(chatId, second.toolCallId, { decision: 'deny', reason: 'not that file' })).status).toBe(200);
    await stack.waitForStatus(chatId, 'waiting', 20_000);

    const results = await toolResults(chatId);
    expect(results.map((p) => [p.toolCallId, p.name, p.isError])).toEqual([
      [first.toolCallId, 'write_file', false],
      [second.toolCallId, 'write_file', true],
      [expect.any(String), 'list_files', false],
    ]);
    expect(results[1].result).toBe('The user denied this tool call: not that file');
    expect(await fs.readFile(path.join(workspace, 'approved.txt'), 'utf8')).toBe('yes\n');
    expect(await exists(path.join(workspace, 'denied.txt'))).toBe(false);
    expect(finalRequest).toContain('The user denied this tool call: not that file');
    expect((await stack.http('GET', `/api/v1/chats/${chatId}`)).body).toMatchObject({ chat: { status: 'waiting' }, pendingActions: [] });
    expect((await answer(chatId, second.toolCallId, { decision: 'approve' })).status).toBe(409);

    // History holds the decisions, not what the person typed.
    const history = JSON.stringify(await stack.temporal.workflow.getHandle(chatWorkflowId(chatId)).fetchHistory());
    expect(history).toContain('answerToolCall');
    expect(history).not.toContain('not that file');
    await watch.close();
    await recordHistory(stack, chatId, `approvals-${kind}`);
  }, 60_000);
});

test('ask_user_question pauses with kind question; the answer is the tool result', async () => {
  const { modelId } = await stack.setupModel('anthropic');
  let finalRequest = '';
  stack.fake.setDefault((body) => {
    const r = agentRequest(body, 'anthropic');
    expect(r.tools).toContain('ask_user_question');
    if (r.steps === 0) return reply(toolCall('ask_user_question', { question: 'Which colour?', options: ['red', 'blue'] }));
    finalRequest = r.raw;
    return reply(text('blue it is'));
  }, 'anthropic');
  const chatId = (await stack.http('POST', '/api/v1/chats', { content: 'paint it', modelId })).body.chat.id;
  const { pendingActions: [action] } = await waitForActions(chatId, 1);
  expect(action).toMatchObject({ kind: 'question', tool: 'ask_user_question', args: { question: 'Which colour?', options: ['red', 'blue'] } });

  expect((await answer(chatId, action.toolCallId, { decision: 'approve' })).status).toBe(400);
  const empty = await answer(chatId, action.toolCallId, { answer: '   ' });
  expect(empty.status).toBe(400);
  expect(empty.body.error.message).toMatch(/answer must not be empty/);
  expect((await answer(chatId, action.toolCallId, { answer: 'blue, the dark one' })).body).toEqual({ toolCallId: action.toolCallId, decision: 'answer' });
  await stack.waitForStatus(chatId, 'waiting');
  const [result] = await toolResults(chatId);
  expect(result).toMatchObject({ name: 'ask_user_question', isError: false, result: { answer: 'blue, the dark one' } });
  expect(finalRequest).toContain('blue, the dark one');
  const history = JSON.stringify(await stack.temporal.workflow.getHandle(chatWorkflowId(chatId)).fetchHistory());
  expect(history).not.toContain('the dark one');
}, 60_000);

test('while paused a plain message is queued; an interrupting message ends the wait with "interrupted" results', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault((body) => {
    const r = agentRequest(body, 'openai');
    // The queued message's turn sees "never mind" in its transcript too: test for it first.
    if (r.raw.includes('and then this')) return reply(text('queued one answered'));
    if (r.raw.includes('never mind')) return reply(text('stopped as asked'));
    return reply(toolCall('execute', { command: 'echo ran >> ran.txt' }));
  }, 'openai');
  const created = await stack.http('POST', '/api/v1/chats', { content: 'run it', modelId, toolPolicy: { default: 'ask' } });
  expect(created.body.chat.toolPolicy).toEqual({ default: 'ask' });
  const chatId = created.body.chat.id;
  const { pendingActions: [action] } = await waitForActions(chatId, 1);
  expect(action.tool).toBe('execute');

  const queued = await stack.http('POST', `/api/v1/chats/${chatId}/messages`, { content: 'and then this' });
  expect(queued).toMatchObject({ status: 202, body: { queued: true } });
  await waitForActions(chatId, 1);
  const interrupting = await stack.http('POST', `/api/v1/chats/${chatId}/messages`, { content: 'never mind', behavior: 'interrupt' });
  expect(interrupting.status).toBe(202);

  // The interrupted turn, then "never mind", then the queued message, each its own turn.
  const deadline = Date.now() + 20_000;
  while ((await messagesOf(chatId)).filter((m) => m.role === 'assistant').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await stack.waitForStatus(chatId, 'waiting');
  const [result] = await toolResults(chatId);
  expect(result).toMatchObject({ toolCallId: action.toolCallId, name: 'execute', isError: true, result: 'Interrupted before it was approved: the tool did not run.' });
  const texts = (await messagesOf(chatId)).filter((m) => m.role === 'assistant').flatMap((m) => m.parts).filter((p) => p.type === 'text').map((p) => p.text);
  expect(texts).toEqual(['stopped as asked', 'queued one answered']);
  expect(await exists(path.join(stack.config.workspacesDir, chatId, 'ran.txt'))).toBe(false);
  expect((await answer(chatId, action.toolCallId, { decision: 'approve' })).status).toBe(409);
}, 60_000);

test('an interrupt while paused settles the turn as waiting; temporal workflow update answers like the API', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault((body) => {
    const r = agentRequest(body, 'openai');
    if (r.steps === 0) return reply(toolCall('write_file', { path: 'cli.txt', content: 'from the CLI\n' }));
    return reply(text('written'));
  }, 'openai');
  const chatId = (await stack.http('POST', '/api/v1/chats', { content: 'write', modelId, toolPolicy: { tools: { write_file: 'ask' } } })).body.chat.id;

  // An operator answers from the Temporal CLI: a call that does not wait is refused, the real one runs.
  const { pendingActions: [action] } = await waitForActions(chatId, 1);
  const update = (input: unknown) => promisify(execFile)(findTemporalCli(), [
    'workflow', 'update', 'execute', '--address', stack.config.temporalAddress!, '--workflow-id', chatWorkflowId(chatId),
    '--name', 'answerToolCall', '--input', JSON.stringify(input),
  ]);
  await expect(update({ toolCallId: 'call_nope', decision: 'approve' })).rejects.toThrow(/does not wait for an answer/);
  await update({ toolCallId: action.toolCallId, decision: 'approve' });
  await stack.waitForStatus(chatId, 'waiting');
  expect(await fs.readFile(path.join(stack.config.workspacesDir, chatId, 'cli.txt'), 'utf8')).toBe('from the CLI\n');

  // The second turn pauses again; this time the person interrupts.
  stack.fake.setDefault(() => reply(toolCall('write_file', { path: 'never.txt', content: 'x' })), 'openai');
  await stack.http('POST', `/api/v1/chats/${chatId}/messages`, { content: 'write another' });
  const { pendingActions: [again] } = await waitForActions(chatId, 1);
  expect(again.turn).toBe(2);
  expect((await stack.http('POST', `/api/v1/chats/${chatId}/interrupt`)).status).toBeLessThan(300);
  await stack.waitForStatus(chatId, 'waiting');
  const results = await toolResults(chatId);
  expect(results.at(-1)).toMatchObject({ toolCallId: again.toolCallId, isError: true, result: 'Interrupted before it was approved: the tool did not run.' });
  expect((await stack.http('GET', `/api/v1/chats/${chatId}`)).body.pendingActions).toEqual([]);
  expect((await answer(chatId, again.toolCallId, { decision: 'approve' })).status).toBe(409);
  expect(await exists(path.join(stack.config.workspacesDir, chatId, 'never.txt'))).toBe(false);
}, 60_000);

test('a sub-agent inherits its parent\'s tool policy and pauses on its own; its parent waits for it', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault((body) => {
    const r = agentRequest(body, 'openai');
    if (isSubAgentRequest(r)) {
      if (r.steps === 0) return reply(toolCall('write_file', { path: 'child.txt', content: 'by the child\n' }));
      return reply(text('child wrote it'));
    }
    if (r.steps === 0) return reply(toolCall('spawn_agent', { prompt: 'write child.txt' }));
    if (r.steps === 1) return reply(toolCall('wait_agent', { chatId: r.chatIds[0] }));
    return reply(text('the child is done'));
  }, 'openai');
  const toolPolicy = { tools: { write_file: 'ask' } };
  const parentId = (await stack.http('POST', '/api/v1/chats', { content: 'delegate', modelId, toolPolicy })).body.chat.id;
  let childId = '';
  const deadline = Date.now() + 20_000;
  while (!childId && Date.now() < deadline) {
    childId = (await stack.http('GET', `/api/v1/chats?parentId=${parentId}`)).body.chats[0]?.id ?? '';
    if (!childId) await new Promise((r) => setTimeout(r, 150));
  }
  const child = await waitForActions(childId, 1);
  expect(child.chat.toolPolicy).toEqual(toolPolicy);
  expect(child.pendingActions[0]).toMatchObject({ tool: 'write_file', args: { path: 'child.txt' } });
  // The parent's own turn waits in wait_agent, not for a person.
  expect((await stack.http('GET', `/api/v1/chats/${parentId}`)).body).toMatchObject({ chat: { status: 'running' }, pendingActions: [] });

  expect((await answer(childId, child.pendingActions[0].toolCallId, { decision: 'approve' })).status).toBe(200);
  await stack.waitForStatus(parentId, 'waiting', 30_000);
  expect((await toolResults(parentId)).at(-1).result).toEqual({ chatId: childId, status: 'waiting', report: 'child wrote it' });
  expect(await fs.readFile(path.join(stack.config.workspacesDir, parentId, 'child.txt'), 'utf8')).toBe('by the child\n');
}, 60_000);

test('tool policies are checked on chats and models, and a chat\'s can be cleared', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault(() => reply(text('ok')), 'openai');
  const unknownTool = await stack.http('POST', '/api/v1/chats', { content: 'x', modelId, toolPolicy: { tools: { rm_rf: 'ask' } } });
  expect(unknownTool.status).toBe(400);
  expect(unknownTool.body.error.message).toContain('rm_rf');
  expect((await stack.http('POST', '/api/v1/chats', { content: 'x', modelId, toolPolicy: { default: 'sometimes' } })).status).toBe(400);
  expect((await stack.http('POST', '/api/v1/chats', { content: 'x', modelId, toolPolicy: { deflt: 'ask' } })).status).toBe(400);
  expect((await stack.http('PATCH', `/api/v1/models/${modelId}`, { toolPolicy: { tools: { nope: 'auto' } } })).status).toBe(400);

  const patchedModel = await stack.http('PATCH', `/api/v1/models/${modelId}`, { toolPolicy: { default: 'ask', tools: { read_file: 'auto' } } });
  expect(patchedModel.status).toBe(200);
  expect(patchedModel.body.model.toolPolicy).toEqual({ default: 'ask', tools: { read_file: 'auto' } });

  const chatId = (await stack.http('POST', '/api/v1/chats', { content: 'x', modelId, toolPolicy: { default: 'auto' } })).body.chat.id;
  await stack.waitForStatus(chatId, 'waiting');
  const set = await stack.http('PATCH', `/api/v1/chats/${chatId}`, { toolPolicy: { tools: { execute: 'ask' } } });
  expect(set.body.chat.toolPolicy).toEqual({ tools: { execute: 'ask' } });
  expect((await stack.http('PATCH', `/api/v1/chats/${chatId}`, { toolPolicy: { tools: { nope: 'ask' } } })).status).toBe(400);
  const cleared = await stack.http('PATCH', `/api/v1/chats/${chatId}`, { toolPolicy: null });
  expect(cleared.status).toBe(200);
  expect(cleared.body.chat.toolPolicy).toBeNull();
}, 30_000);

test('no answer within PARLEY_ACTION_TIMEOUT_MS: the calls get "no answer in time" and the turn goes on', async () => {
  const short = await startStack({ env: { PARLEY_ACTION_TIMEOUT_MS: '2000' } });
  try {
    const { modelId } = await short.setupModel('openai');
    let finalRequest = '';
    short.fake.setDefault((body) => {
      const r = agentRequest(body, 'openai');
      if (r.steps === 0) return reply([toolCall('ask_user_question', { question: 'Anyone there?' }), toolCall('write_file', { path: 't.txt', content: 't' })]);
      finalRequest = r.raw;
      return reply(text('nobody answered'));
    }, 'openai');
    const chatId = (await short.http('POST', '/api/v1/chats', { content: 'ask me', modelId, toolPolicy: { default: 'ask' } })).body.chat.id;
    await short.waitForStatus(chatId, 'waiting', 20_000);
    const results = (await (await short.http('GET', `/api/v1/chats/${chatId}/messages`)).body.messages).filter((m: any) => m.role === 'tool').map((m: any) => m.parts[0]);
    expect(results).toHaveLength(2);
    for (const r of results) {
      expect(r.isError).toBe(true);
      expect(r.result).toBe('No answer in time: the user did not answer within 2 seconds, so the tool did not run.');
    }
    expect(finalRequest).toContain('No answer in time');
    expect((await short.http('POST', `/api/v1/chats/${chatId}/tool-calls/${results[0].toolCallId}`, { answer: 'late' })).status).toBe(409);
  } finally {
    await short.close();
  }
}, 60_000);
