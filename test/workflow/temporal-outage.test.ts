// Issue 13, reproduced against a real outage: the Temporal server is stopped while a person creates
// a chat, then started again on the same port and database. The chat is saved and named in the 503,
// the client's retry with its Idempotency-Key gets that same chat, and the reconciler serves it once
// Temporal is back: one user message, one answer, nothing doubled.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { freePort } from '../../src/dev/ports.ts';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/dev/temporal.ts';
import { reply, text } from '../support/fake-providers.ts';
import { ADMIN_TOKEN, startStack, type Stack } from '../support/stack.ts';

let dir: string;
let port: number;
let temporal: TemporalDevServer | undefined;
let stack: Stack;
const start = () => startTemporalDevServer({
  port, dbFile: path.join(dir, 'temporal.sqlite'), headless: true,
  ...(process.env.TEMPORAL_CLI_PATH ? { cliPath: process.env.TEMPORAL_CLI_PATH } : {}),
});

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'parley-outage-'));
  port = await freePort();
  temporal = await start();
  stack = await startStack({ temporalAddress: temporal.address, env: { PARLEY_RECONCILE_INTERVAL_MS: '500' } });
}, 60_000);
afterAll(async () => {
  await stack?.close();
  await temporal?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const post = (body: unknown, key: string) => fetch(`${stack.api.url}/api/v1/chats`, {
  method: 'POST',
  headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'idempotency-key': key },
  body: JSON.stringify(body),
});

test('a chat created while Temporal is down is saved, named, not doubled by a retry, and served when Temporal is back', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.enqueue('openai', reply(text('answer after the outage')));
  await temporal!.stop();
  temporal = undefined;

  const body = { content: 'hello during the outage', modelId };
  const res = await post(body, 'outage-key-1');
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBeTruthy();
  const error = ((await res.json()) as any).error;
  const chatId: string = error.chatId;
  expect(chatId).toMatch(/^[0-9a-f-]{36}$/);
  expect(error.message).toContain(chatId);

  temporal = await start();
  // The retry a client makes (same key, same body) answers with the same chat.
  let retried: Response | undefined;
  for (let i = 0; i < 60; i++) {
    retried = await post(body, 'outage-key-1');
    if (retried.status !== 503) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(retried!.status).toBe(201);
  expect(((await retried!.json()) as any).chat.id).toBe(chatId);

  await stack.waitForStatus(chatId, 'waiting', 60_000);
  const { body: list } = await stack.http('GET', '/api/v1/chats');
  expect(list.chats.filter((c: any) => c.title === list.chats.find((x: any) => x.id === chatId).title)).toHaveLength(1);
  const { body: page } = await stack.http('GET', `/api/v1/chats/${chatId}/messages`);
  expect(page.messages.map((m: any) => m.role)).toEqual(['user', 'assistant']);
  expect(page.messages[1].parts).toEqual([{ type: 'text', text: 'answer after the outage' }]);
  expect(stack.fake.requests('openai')).toHaveLength(1);
}, 180_000);
