import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { reply, text, toolCall } from '../support/fake-providers.ts';
import { recordHistory } from '../support/histories.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

let stack: Stack;
let child: ChildProcess | undefined;
beforeAll(async () => { stack = await startStack({ workers: 0 }); });
afterAll(async () => {
  child?.kill('SIGKILL');
  await stack?.close();
});

test('SIGTERM of a worker during a tool: the step fails over to a second worker, no chat is stuck', async () => {
  const { modelId } = await stack.setupModel('openai');
  const first = await startWorkerProcess(stack);
  child = first.proc;
  stack.fake.enqueue('openai', reply(toolCall('execute', { command: 'echo run >> runs.txt; sleep 5; echo finished' })));
  stack.fake.enqueue('openai', reply(text('the command finished')));
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'run the long command', modelId })).body.chat;
  const runs = path.join(stack.config.workspacesDir, chat.id, 'runs.txt');
  for (let i = 0; i < 200; i++) {
    if (await fs.stat(runs).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(await fs.readFile(runs, 'utf8')).toBe('run\n');

  await stack.startWorker();
  const exited = new Promise<number | null>((r) => first.proc.once('exit', (code) => r(code)));
  first.proc.kill('SIGTERM');
  expect(await exited).toBe(0);
  // Shutdown settled nothing: the turn is still running, and must finish on the second worker.
  const { rows } = await stack.services.pool.query('SELECT status FROM chats WHERE id = $1', [chat.id]);
  expect(rows[0].status).toBe('running');

  await stack.waitForStatus(chat.id, 'waiting', 60_000);
  expect(await fs.readFile(runs, 'utf8')).toBe('run\nrun\n');
  const msgs = (await stack.http('GET', `/api/v1/chats/${chat.id}/messages`)).body.messages;
  const tools = msgs.filter((m: any) => m.role === 'tool');
  expect(tools).toHaveLength(1);
  expect(tools[0].parts[0].isError).toBe(false);
  expect(JSON.stringify(tools[0].parts[0].result)).toContain('finished');
  expect(msgs.at(-1).parts).toEqual([{ type: 'text', text: 'the command finished' }]);
  await recordHistory(stack, chat.id, 'worker-shutdown-failover');
}, 120_000);
