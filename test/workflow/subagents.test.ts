// Sub-agents end to end through the API: spawn_agent creates child chats whose first runs are child
// workflows, wait_agent waits durably for their agentSettled signals, and the tree shows in the API
// (parentChatId, ?parentId=, usage) and in Temporal (the child run's parent).
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import { agentRequest, isSubAgentRequest } from '../support/agents.ts';
import { httpError, reply, text, toolCall, type FakeProvider } from '../support/fake-providers.ts';
import { recordHistory } from '../support/histories.ts';
import { startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
beforeAll(async () => { stack = await startStack({ env: { PARLEY_SUBAGENT_MAX_RUNNING: '3' } }); });
afterAll(async () => { await stack?.close(); });

const messagesOf = async (chatId: string): Promise<any[]> => (await stack.http('GET', `/api/v1/chats/${chatId}/messages`)).body.messages;
const toolResults = async (chatId: string): Promise<any[]> =>
  (await messagesOf(chatId)).filter((m) => m.role === 'tool').map((m) => m.parts[0]);

describe.each(['openai', 'anthropic'] as const)('sub-agents on %s', (kind: FakeProvider) => {
  test('a parent spawns two sub-agents in one step, waits for both in parallel, and gets their reports', async () => {
    const { modelId } = await stack.setupModel(kind);
    const seen: ReturnType<typeof agentRequest>[] = [];
    stack.fake.setDefault((body) => {
      const r = agentRequest(body, kind);
      seen.push(r);
      if (isSubAgentRequest(r)) {
        const task = r.firstUser.includes('task A') ? 'A' : 'B';
        // Sub-agent A writes a file in the shared workspace first; both answer slowly, so the parent really waits.
        if (task === 'A' && r.steps === 0) return reply(toolCall('write_file', { path: 'from-a.txt', content: 'written by A\n' }));
        return reply(text(`report `, `${task}: `, 'done'), { chunkDelayMs: 150, usage: { inputTokens: 10, outputTokens: 5 } });
      }
      if (r.steps === 0) {
        return reply([toolCall('spawn_agent', { prompt: 'task A: write from-a.txt', title: 'Agent A' }), toolCall('spawn_agent', { prompt: 'task B: look around' })],
          { usage: { inputTokens: 100, outputTokens: 20 } });
      }
      if (r.steps === 1) return reply(r.chatIds.map((chatId) => toolCall('wait_agent', { chatId, timeoutSeconds: 60 })));
      return reply(text('both sub-agents reported'));
    }, kind);

    const created = await stack.http('POST', '/api/v1/chats', { content: 'split the work', modelId });
    expect(created.status).toBe(201);
    const parentId: string = created.body.chat.id;
    await stack.waitForStatus(parentId, 'waiting', 30_000);

    const results = await toolResults(parentId);
    expect(results.map((p) => p.name)).toEqual(['spawn_agent', 'spawn_agent', 'wait_agent', 'wait_agent']);
    expect(results.every((p) => p.isError === false)).toBe(true);
    const [a, b] = results.slice(0, 2).map((p) => p.result);
    expect(a).toEqual({ chatId: expect.any(String), title: 'Agent A' });
    expect(b.title).toBe('task B: look around');
    expect(results[2].result).toEqual({ chatId: a.chatId, status: 'waiting', report: 'report A: done' });
    expect(results[3].result).toEqual({ chatId: b.chatId, status: 'waiting', report: 'report B: done' });
    expect((await messagesOf(parentId)).at(-1).parts).toEqual([{ type: 'text', text: 'both sub-agents reported' }]);

    // The children: same owner and model, parentChatId and depth set, their own transcripts.
    for (const child of [a, b]) {
      const { body } = await stack.http('GET', `/api/v1/chats/${child.chatId}`);
      expect(body.chat).toMatchObject({ parentChatId: parentId, agentDepth: 1, modelId, status: 'waiting', title: child.title });
    }
    expect((await messagesOf(a.chatId))[0].parts[0].text).toBe('task A: write from-a.txt');
    // Sub-agents share the parent's workspace.
    expect(await fs.readFile(path.join(stack.config.workspacesDir, parentId, 'from-a.txt'), 'utf8')).toBe('written by A\n');

    // Prompts: a sub-agent has its own system prompt and, at the deepest level, no sub-agent tools.
    const childRequests = seen.filter(isSubAgentRequest);
    const parentRequests = seen.filter((r) => !isSubAgentRequest(r));
    expect(childRequests.length).toBe(3);
    expect(childRequests.every((r) => !r.tools.includes('spawn_agent') && r.tools.includes('write_file'))).toBe(true);
    expect(parentRequests[0]!.tools).toEqual(expect.arrayContaining(['spawn_agent', 'wait_agent', 'message_agent', 'interrupt_agent', 'list_agents']));

    // Listing: top-level chats by default, the children with ?parentId=, everything with ?all=true.
    const top = (await stack.http('GET', '/api/v1/chats')).body.chats.map((c: any) => c.id);
    expect(top).toContain(parentId);
    expect(top).not.toContain(a.chatId);
    const kids = (await stack.http('GET', `/api/v1/chats?parentId=${parentId}`)).body.chats.map((c: any) => c.id);
    expect(kids.sort()).toEqual([a.chatId, b.chatId].sort());
    const all = (await stack.http('GET', '/api/v1/chats?all=true')).body.chats.map((c: any) => c.id);
    expect(all).toEqual(expect.arrayContaining([parentId, a.chatId, b.chatId]));
    expect((await stack.http('GET', '/api/v1/chats?parentId=not-a-uuid')).status).toBe(400);

    // The children's usage rolls up into the parent's.
    const parent = (await stack.http('GET', `/api/v1/chats/${parentId}`)).body.chat;
    const childUsage = await Promise.all([a, b].map(async (c) => (await stack.http('GET', `/api/v1/chats/${c.chatId}`)).body.chat.usage.inputTokens));
    expect(childUsage.every((n) => n >= 10)).toBe(true);
    const ownInput = (await messagesOf(parentId)).reduce((n, m) => n + (m.usage?.inputTokens ?? 0), 0);
    expect(parent.usage.inputTokens).toBe(ownInput + childUsage[0] + childUsage[1]);

    // In Temporal, each child's first run is a child workflow of the parent's run; history holds ids only.
    for (const child of [a, b]) {
      const d = await stack.temporal.workflow.getHandle(chatWorkflowId(child.chatId)).describe();
      expect(d.parentExecution?.workflowId).toBe(chatWorkflowId(parentId));
    }
    const history = JSON.stringify(await stack.temporal.workflow.getHandle(chatWorkflowId(parentId)).fetchHistory());
    expect(history).toContain('agentSettled');
    expect(history).not.toContain('report A');
    expect(history).not.toContain('task A');
    await recordHistory(stack, parentId, `subagents-parent-${kind}`);
    await recordHistory(stack, a.chatId, `subagents-child-${kind}`);
  }, 60_000);
});

test('a sub-agent that fails reaches its parent through wait_agent as status error with its message', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault((body) => {
    const r = agentRequest(body, 'openai');
    if (isSubAgentRequest(r)) return httpError(400, { message: 'the model refused this prompt' });
    if (r.steps === 0) return reply(toolCall('spawn_agent', { prompt: 'task that fails' }));
    if (r.steps === 1) return reply(toolCall('wait_agent', { chatId: r.chatIds[0] }));
    return reply(text('the sub-agent failed'));
  }, 'openai');
  const parentId = (await stack.http('POST', '/api/v1/chats', { content: 'delegate', modelId })).body.chat.id;
  await stack.waitForStatus(parentId, 'waiting', 30_000);
  const wait = (await toolResults(parentId))[1];
  expect(wait.name).toBe('wait_agent');
  expect(wait.result).toMatchObject({ status: 'error', report: '' });
  expect(wait.result.error).toContain('the model refused this prompt');
}, 60_000);

test('wait_agent times out while the sub-agent works, and a second wait gets the report', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault((body) => {
    const r = agentRequest(body, 'openai');
    if (isSubAgentRequest(r)) return reply(text('slow ', 'but ', 'done'), { chunkDelayMs: 800 });
    if (r.steps === 0) return reply(toolCall('spawn_agent', { prompt: 'a slow task' }));
    if (r.steps === 1) return reply(toolCall('wait_agent', { chatId: r.chatIds[0], timeoutSeconds: 1 }));
    if (r.steps === 2) return reply(toolCall('wait_agent', { chatId: r.chatIds[0] }));
    return reply(text('got it'));
  }, 'openai');
  const parentId = (await stack.http('POST', '/api/v1/chats', { content: 'delegate a slow task', modelId })).body.chat.id;
  await stack.waitForStatus(parentId, 'waiting', 30_000);
  const results = await toolResults(parentId);
  const childId = results[0].result.chatId;
  expect(results[1].result).toEqual({ chatId: childId, status: 'running', timedOut: true });
  expect(results[2].result).toEqual({ chatId: childId, status: 'waiting', report: 'slow but done' });
}, 60_000);

test('the sub-agent tools refuse chats that are not the caller\'s sub-agents, bad arguments and too many at once', async () => {
  const { modelId } = await stack.setupModel('openai');
  const other = (await stack.http('POST', '/api/v1/chats', { content: 'another chat', modelId })).body.chat.id;
  await stack.waitForStatus(other, 'waiting', 30_000);
  stack.fake.setDefault((body) => {
    const r = agentRequest(body, 'openai');
    if (isSubAgentRequest(r)) return reply(text('child working'), { chunkDelayMs: 1_500 });
    if (r.steps === 0) {
      return reply([
        toolCall('wait_agent', { chatId: other }),
        toolCall('message_agent', { chatId: other, message: 'hi' }),
        toolCall('interrupt_agent', { chatId: '00000000-0000-4000-8000-000000000000' }),
        toolCall('spawn_agent', {}),
        // The limit is 3 running sub-agents (PARLEY_SUBAGENT_MAX_RUNNING): the fourth is refused.
        ...[1, 2, 3, 4].map((i) => toolCall('spawn_agent', { prompt: `task ${i}` })),
      ]);
    }
    if (r.steps === 1) return reply(toolCall('list_agents', {}));
    return reply(text('done'));
  }, 'openai');
  const parentId = (await stack.http('POST', '/api/v1/chats', { content: 'misbehave', modelId })).body.chat.id;
  await stack.waitForStatus(parentId, 'waiting', 30_000);
  const results = await toolResults(parentId);
  expect(results.slice(0, 3).map((p) => [p.name, p.isError])).toEqual([['wait_agent', true], ['message_agent', true], ['interrupt_agent', true]]);
  for (const p of results.slice(0, 3)) expect(p.result).toMatch(/is not one of your sub-agents/);
  expect(results[3]).toMatchObject({ isError: true, result: expect.stringContaining('Missing required argument "prompt"') });
  const spawns = results.slice(4, 8);
  expect(spawns.filter((p) => !p.isError)).toHaveLength(3);
  expect(spawns.filter((p) => p.isError).map((p) => p.result)).toEqual([expect.stringContaining('PARLEY_SUBAGENT_MAX_RUNNING=3')]);
  const listed = results[8].result.agents;
  expect(listed).toHaveLength(3);
  expect(listed.map((x: any) => x.chatId).sort()).toEqual(spawns.filter((p) => !p.isError).map((p) => p.result.chatId).sort());
  // The other chat got no message.
  expect((await messagesOf(other)).filter((m) => m.role === 'user')).toHaveLength(1);

  // Deleting the parent deletes its sub-agents (their workflows are cancelled first).
  expect((await stack.http('DELETE', `/api/v1/chats/${parentId}`)).status).toBe(204);
  for (const { chatId } of listed) expect((await stack.http('GET', `/api/v1/chats/${chatId}`)).status).toBe(404);
  expect((await stack.http('GET', `/api/v1/chats/${other}`)).status).toBe(200);
}, 60_000);

test('interrupting a parent that waits ends the wait and interrupts its running sub-agent', async () => {
  const { modelId } = await stack.setupModel('anthropic');
  stack.fake.setDefault((body) => {
    const r = agentRequest(body, 'anthropic');
    if (isSubAgentRequest(r)) return reply(text(...Array.from({ length: 40 }, (_, i) => `chunk${i} `)), { chunkDelayMs: 250 });
    if (r.steps === 0) return reply(toolCall('spawn_agent', { prompt: 'a long task' }));
    if (r.steps === 1) return reply(toolCall('wait_agent', { chatId: r.chatIds[0] }));
    return reply(text('unexpected'));
  }, 'anthropic');
  const parentId = (await stack.http('POST', '/api/v1/chats', { content: 'delegate a long task', modelId })).body.chat.id;
  // Waiting: the spawn's result is stored and the child streams.
  let childId = '';
  for (let i = 0; i < 200 && !childId; i++) {
    const { rows } = await stack.services.pool.query(`SELECT id FROM chats WHERE parent_chat_id = $1 AND status = 'running'`, [parentId]);
    childId = rows[0]?.id ?? '';
    if (!childId) await new Promise((r) => setTimeout(r, 50));
  }
  expect(childId).not.toBe('');
  await new Promise((r) => setTimeout(r, 1_000));
  expect((await stack.http('POST', `/api/v1/chats/${parentId}/interrupt`, {})).body.interrupted).toBe(true);
  await stack.waitForStatus(parentId, 'waiting', 10_000);
  await stack.waitForStatus(childId, 'waiting', 10_000);
  const wait = (await toolResults(parentId))[1];
  expect(wait).toMatchObject({ name: 'wait_agent', isError: true, result: 'Interrupted before it produced a result.' });
  // The child stopped early: its partial answer is stored, far from all 40 chunks.
  const childText = (await messagesOf(childId)).filter((m) => m.role === 'assistant').flatMap((m) => m.parts).map((p: any) => p.text).join('');
  expect(childText).toContain('chunk0');
  expect(childText).not.toContain('chunk39');
}, 60_000);
