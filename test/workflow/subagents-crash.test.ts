// The bug class Parley exists to fix: a parent agent stuck in wait_agent forever after its worker
// went away. Here the only worker dies (SIGTERM, then SIGKILL) while a parent waits for its
// sub-agent; a second worker must finish both chats, with no second sub-agent.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { agentRequest, isSubAgentRequest } from '../support/agents.ts';
import { reply, text, toolCall } from '../support/fake-providers.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { killProcess, startWorkerProcess } from '../support/worker-process.ts';

let stack: Stack;
let proc: ChildProcess | undefined;
beforeAll(async () => { stack = await startStack({ workers: 0 }); });
afterAll(async () => {
  proc?.kill('SIGKILL');
  await stack?.close();
});

const CHUNKS = Array.from({ length: 8 }, (_, i) => `part${i} `);

test.each(['SIGTERM', 'SIGKILL'] as const)('%s of the worker while a parent waits for its sub-agent: a second worker finishes both', async (signal) => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault((body) => {
    const r = agentRequest(body, 'openai');
    if (isSubAgentRequest(r)) return reply(text(...CHUNKS), { chunkDelayMs: 400 });
    if (r.steps === 0) return reply(toolCall('spawn_agent', { prompt: 'a task that outlives its worker' }));
    if (r.steps === 1) return reply(toolCall('wait_agent', { chatId: r.chatIds[0] }));
    return reply(text('the sub-agent reported'));
  }, 'openai');
  const worker = await startWorkerProcess(stack);
  proc = worker.proc;

  const parentId = (await stack.http('POST', '/api/v1/chats', { content: 'delegate', modelId })).body.chat.id;
  // The parent waits once its wait_agent call is stored and the sub-agent streams.
  let childId = '';
  for (let i = 0; i < 400; i++) {
    const { rows } = await stack.services.pool.query(
      `SELECT c.id FROM chats c WHERE c.parent_chat_id = $1 AND c.status = 'running'
         AND EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = $1 AND m.parts @> '[{"type": "tool_call", "name": "wait_agent"}]')
         AND EXISTS (SELECT 1 FROM chat_events e WHERE e.chat_id = c.id AND e.type = 'message_part')`,
      [parentId],
    );
    childId = rows[0]?.id ?? '';
    if (childId) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(childId, worker.output()).not.toBe('');

  await stack.startWorker();
  await killProcess(worker, signal);

  await stack.waitForStatus(childId, 'waiting', 90_000);
  await stack.waitForStatus(parentId, 'waiting', 90_000);
  const { rows } = await stack.services.pool.query('SELECT count(*)::int AS n FROM chats WHERE parent_chat_id = $1', [parentId]);
  expect(rows[0].n).toBe(1);
  const results = (await stack.http('GET', `/api/v1/chats/${parentId}/messages`)).body.messages
    .filter((m: any) => m.role === 'tool').map((m: any) => m.parts[0]);
  expect(results.map((p: any) => p.name)).toEqual(['spawn_agent', 'wait_agent']);
  expect(results[1].result).toEqual({ chatId: childId, status: 'waiting', report: CHUNKS.join('') });
}, 180_000);
