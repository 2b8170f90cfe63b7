import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { httpError, reply, text } from '../support/fake-providers.ts';
import { recordHistory } from '../support/histories.ts';
import { startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(async () => { await stack?.close(); });

const fast = { headers: { 'retry-after-ms': '50' } };

test('a retryable storm then success: retry events reach clients, one assistant message is stored', async () => {
  const { modelId } = await stack.setupModel('anthropic');
  stack.fake.enqueue('anthropic',
    httpError(429, fast),
    httpError(529, fast),
    reply(text('par', 'tial', ' lost'), { errorAfterChunks: 2 }), // mid-stream overloaded_error
    reply(text('final ', 'answer')));
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'hello', modelId })).body.chat;
  await stack.waitForStatus(chat.id, 'waiting', 30_000);

  const events = await stack.events(chat.id);
  const retries = events.filter((e) => e.type === 'retry').map((e) => e.data as any);
  expect(retries.map((r) => r.attempt)).toEqual([2, 3, 4]);
  expect(retries.map((r) => r.error.kind)).toEqual(['rate_limit', 'overloaded', expect.any(String)]);
  expect(retries[0].delayMs).toBe(50);
  expect(retries.every((r) => r.error.retryable === true && typeof r.retryingAt === 'string')).toBe(true);
  expect(stack.fake.requests('anthropic')).toHaveLength(4);

  // Parts of the failed attempt carried attempt 3, the survivor's attempt 4 (clients drop the
  // older attempt's parts); once the message is stored its deltas are pruned from the log.
  const streamed = stack.appended.filter((e) => e.chatId === chat.id && e.type === 'message_part').map((e) => e.data as any);
  expect(streamed.filter((d) => d.attempt === 3).map((d) => d.part.text).join('')).toBe('partial');
  expect(streamed.filter((d) => d.attempt === 4).map((d) => d.part.text).join('')).toBe('final answer');
  expect(events.filter((e) => e.type === 'message_part')).toEqual([]);
  const msgs = (await stack.http('GET', `/api/v1/chats/${chat.id}/messages`)).body.messages;
  expect(msgs.filter((m: any) => m.role === 'assistant')).toHaveLength(1);
  expect(msgs.at(-1).parts).toEqual([{ type: 'text', text: 'final answer' }]);
  await recordHistory(stack, chat.id, 'retry-storm');
});

test('a dropped connection is retried', async () => {
  const { modelId } = await stack.setupModel('openai');
  stack.fake.enqueue('openai', reply(text('a', 'b', 'c'), { dropAfterChunks: 1 }), reply(text('recovered')));
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'hello', modelId })).body.chat;
  await stack.waitForStatus(chat.id, 'waiting', 30_000);
  const msgs = (await stack.http('GET', `/api/v1/chats/${chat.id}/messages`)).body.messages;
  expect(msgs.at(-1).parts).toEqual([{ type: 'text', text: 'recovered' }]);
  expect((await stack.events(chat.id)).filter((e) => e.type === 'retry')).toHaveLength(1);
});

describe('non-retryable provider errors end the turn with status error and no retries', () => {
  const cases = [
    { name: 'auth (401)', kind: 'openai', script: httpError(401), expected: 'auth' },
    { name: 'forbidden (403)', kind: 'anthropic', script: httpError(403), expected: 'auth' },
    { name: 'model not found (404)', kind: 'openai', script: httpError(404, { code: 'model_not_found', message: 'The model `gpt-test` does not exist' }), expected: 'model_not_found' },
    { name: 'quota', kind: 'openai', script: httpError(429, { code: 'insufficient_quota', message: 'You exceeded your current quota' }), expected: 'quota' },
    { name: 'bad request', kind: 'anthropic', script: httpError(400, { message: 'messages: field required' }), expected: 'bad_request' },
  ] as const;
  test.each(cases)('$name', async ({ kind, script, expected }) => {
    const { modelId } = await stack.setupModel(kind);
    stack.fake.reset();
    stack.fake.enqueue(kind, script);
    const chat = (await stack.http('POST', '/api/v1/chats', { content: 'hello', modelId })).body.chat;
    const row = await stack.waitForStatus(chat.id, 'error', 15_000);
    expect(row.last_error.kind).toBe(expected);
    expect(row.last_error.message.length).toBeGreaterThan(10);
    expect(stack.fake.requests(kind)).toHaveLength(1);
    const events = await stack.events(chat.id);
    expect(events.filter((e) => e.type === 'retry')).toHaveLength(0);
    expect(events.filter((e) => e.type === 'error').map((e) => (e.data as any).kind)).toEqual([expected]);
    const got = (await stack.http('GET', `/api/v1/chats/${chat.id}`)).body.chat;
    expect(got.status).toBe('error');
    expect(got.lastError.kind).toBe(expected);
    if (expected === 'auth') await recordHistory(stack, chat.id, `non-retryable-${kind}`);
  });
});

test('a provider key that cannot be decrypted ends the turn with a clear error, without retries', async () => {
  const { modelId, providerId } = await stack.setupModel('openai');
  // As if PARLEY_SECRET_KEY had changed since the key was stored.
  await stack.services.pool.query(`UPDATE providers SET api_key_enc = 'v1:AAAA:BBBB:CCCC' WHERE id = $1`, [providerId]);
  const before = stack.fake.requests('openai').length;
  const chat = (await stack.http('POST', '/api/v1/chats', { content: 'hello', modelId, title: 'k' })).body.chat;
  const row = await stack.waitForStatus(chat.id, 'error', 15_000);
  expect(row.last_error.kind).toBe('provider_config');
  expect(row.last_error.message).toMatch(/PARLEY_SECRET_KEY|decrypt/i);
  expect(stack.fake.requests('openai').length).toBe(before);
  expect((await stack.events(chat.id)).filter((e) => e.type === 'retry')).toHaveLength(0);
});
