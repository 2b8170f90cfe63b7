// A wait for a person can last days, across deploys and outages. Here every process goes away while
// a step waits for an approval (the worker and the API are killed, the Temporal server is stopped),
// everything starts again, and the answer given afterwards still runs the tool, once.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { freePort } from '../../src/dev/ports.ts';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/dev/temporal.ts';
import { reply, text, toolCall } from '../support/fake-providers.ts';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.ts';
import { killProcess, startApiProcess, startWorkerProcess, type ParleyProcess } from '../support/worker-process.ts';

let dir: string;
let port: number;
let temporal: TemporalDevServer | undefined;
let stack: Stack;
const processes: ParleyProcess[] = [];
const start = () => startTemporalDevServer({
  port, dbFile: path.join(dir, 'temporal.sqlite'), headless: true,
  ...(process.env.TEMPORAL_CLI_PATH ? { cliPath: process.env.TEMPORAL_CLI_PATH } : {}),
});

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'parley-approval-restart-'));
  port = await freePort();
  temporal = await start();
  // The stack's own API only sets up the model; the chat lives in the processes below.
  stack = await startStack({ temporalAddress: temporal.address, workers: 0 });
}, 60_000);
afterAll(async () => {
  await Promise.all(processes.map((p) => killProcess(p)));
  await stack?.close();
  await temporal?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const call = async (base: string, method: string, url: string, body?: unknown) => {
  const res = await fetch(base + url, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() as any };
};

async function startProcesses(): Promise<string> {
  const worker = await startWorkerProcess(stack);
  const api = await startApiProcess(stack);
  processes.push(worker, api);
  return api.url;
}

test('a full restart while a step waits for approval loses nothing: the later answer runs the tool once', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.setDefault((body) => {
    const steps = (body.messages ?? []).filter((m: any) => m.role === 'assistant').length;
    if (steps === 0) return reply(toolCall('execute', { command: 'echo ran >> ran.txt' }));
    return reply(text('ran it after the restart'));
  }, 'openai');

  let api = await startProcesses();
  const created = await call(api, 'POST', '/api/v1/chats', { content: 'run it', modelId, toolPolicy: { tools: { execute: 'ask' } } });
  expect(created.status).toBe(201);
  const chatId: string = created.body.chat.id;
  let action: any;
  for (let i = 0; i < 200 && !action; i++) {
    action = (await call(api, 'GET', `/api/v1/chats/${chatId}`)).body.pendingActions?.[0];
    if (!action) await new Promise((r) => setTimeout(r, 100));
  }
  expect(action, processes.map((p) => p.output()).join('\n')).toMatchObject({ tool: 'execute', kind: 'approval' });

  // Everything goes away.
  await Promise.all(processes.splice(0).map((p) => killProcess(p)));
  await temporal!.stop();
  temporal = await start();
  api = await startProcesses();

  const after = await call(api, 'GET', `/api/v1/chats/${chatId}`);
  expect(after.body).toMatchObject({ chat: { status: 'requires_action' }, pendingActions: [{ toolCallId: action.toolCallId }] });
  // The restarted API may reach Temporal a moment after it listens: a 503 asks for the same answer again.
  let answered: { status: number; body: any } | undefined;
  for (let i = 0; i < 50; i++) {
    answered = await call(api, 'POST', `/api/v1/chats/${chatId}/tool-calls/${action.toolCallId}`, { decision: 'approve' });
    if (answered.status !== 503) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(answered!.status, JSON.stringify(answered!.body)).toBe(200);
  await stack.waitForStatus(chatId, 'waiting', 60_000);
  expect(await fs.readFile(path.join(stack.config.workspacesDir, chatId, 'ran.txt'), 'utf8')).toBe('ran\n');
  const messages = (await call(api, 'GET', `/api/v1/chats/${chatId}/messages`)).body.messages;
  expect(messages.filter((m: any) => m.role === 'tool').map((m: any) => m.parts[0].isError)).toEqual([false]);
  expect(messages.at(-1).parts).toEqual([{ type: 'text', text: 'ran it after the restart' }]);
}, 120_000);
