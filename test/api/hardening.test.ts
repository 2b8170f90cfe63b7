// Issue 19's Medium and Low items on the API and the step loop, each reproduced first: values that
// used to reach PostgreSQL and come back as 500s (or as a chat calling its provider for ten minutes)
// are refused with a 400 or fail the step once, saying why.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { httpError, reply, text } from '../support/fake-providers.ts';
import { startStack, type Stack } from '../support/stack.ts';

let stack: Stack;
let providerId: string;
let modelId: string;
beforeAll(async () => {
  stack = await startStack();
  ({ providerId, modelId } = await stack.setupModel('openai'));
});
afterAll(async () => { await stack?.close(); });

describe('bounds in the schemas', () => {
  test.each([
    ['a price of 1e308', { pricing: { inputPerMTok: 1e308, outputPerMTok: 1 } }, /pricing\/inputPerMTok.*1000000/],
    ['a negative price', { pricing: { inputPerMTok: -1, outputPerMTok: 1 } }, /pricing\/inputPerMTok/],
    ['contextLimit 1e20', { contextLimit: 1e20 }, /contextLimit/],
    ['maxOutputTokens past int4', { maxOutputTokens: 3_000_000_000 }, /maxOutputTokens/],
  ])('%s is a 400 naming the field', async (_what, patch, message) => {
    const res = await stack.http('POST', '/api/v1/models', { providerId, model: 'm', contextLimit: 1000, ...patch });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('bad_request');
    expect(res.body.error.message).toMatch(message);
  });
});

describe('NUL characters', () => {
  test.each([
    ['a token name', 'POST', '/api/v1/tokens', { name: 'my\u0000token' }, 'body.name'],
    ['a model name', 'POST', '/api/v1/models', { providerId: 'x', model: 'gpt\u0000', contextLimit: 10 }, 'body.model'],
    ['model options', 'POST', '/api/v1/models', { providerId: 'x', model: 'm', contextLimit: 10, options: { stop: ['ok', 'a\u0000b'] } }, 'body.options.stop[1]'],
    ['a provider URL', 'POST', '/api/v1/providers', { name: 'p', type: 'openai', baseUrl: 'http://x\u0000y' }, 'body.baseUrl'],
  ])('in %s are a 400 saying where', async (_what, method, url, body, where) => {
    const res = await stack.http(method, url, body);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe(`${where} contains a NUL character (\\u0000), which text may not contain`);
  });

  test('in a URL are a 400', async () => {
    const res = await stack.http('GET', `/api/v1/chats/${randomUUID()}%00`);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/URL contains a NUL character/);
  });
});

/** Makes the next stores of assistant messages fail with `sqlstate`, `times` times (a trigger in the test's database). */
async function failAssistantStores(sqlstate: string, times: number): Promise<void> {
  const { pool } = stack.services;
  // A sequence counts the failures: unlike a table row, nextval is not rolled back with the failed insert.
  await pool.query('DROP SEQUENCE IF EXISTS test_store_failures');
  await pool.query('CREATE SEQUENCE test_store_failures');
  await pool.query(`
    CREATE OR REPLACE FUNCTION test_fail_store() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF nextval('test_store_failures') <= ${Number(times)} THEN
        RAISE EXCEPTION 'injected store failure' USING ERRCODE = '${sqlstate.replace(/[^0-9A-Z]/g, '')}';
      END IF;
      RETURN NEW;
    END $$`);
  await pool.query('DROP TRIGGER IF EXISTS test_fail_store ON messages');
  await pool.query(`CREATE TRIGGER test_fail_store BEFORE INSERT ON messages FOR EACH ROW WHEN (NEW.role = 'assistant') EXECUTE FUNCTION test_fail_store()`);
}

describe('a step whose reply cannot be stored', () => {
  test('a deterministic database error ends the turn at once, says so, and the provider is called once', async () => {
    await failAssistantStores('22003', 1000); // numeric_value_out_of_range, as the 1e308 price once did
    try {
      const before = stack.fake.requests('openai').length;
      stack.fake.enqueue('openai', reply(text('paid for once')));
      const created = await stack.http('POST', '/api/v1/chats', { content: 'hi', modelId, title: 'db error' });
      const row = await stack.waitForStatus(created.body.chat.id, 'error', 30_000);
      expect(row.last_error).toMatchObject({ kind: 'database', retryable: false });
      expect(row.last_error.message).toMatch(/Parley could not store the model's reply: the database refused it \(injected store failure, SQLSTATE 22003\)/);
      expect(row.last_error.provider).toBeUndefined(); // the provider is not blamed
      expect(stack.fake.requests('openai').length - before).toBe(1);
    } finally {
      await stack.services.pool.query('DROP TRIGGER IF EXISTS test_fail_store ON messages');
    }
  });

  test('a passing database error is retried, storing the reply received, without calling the provider again', async () => {
    await failAssistantStores('40001', 1); // serialization_failure: worth a retry
    try {
      const before = stack.fake.requests('openai').length;
      stack.fake.enqueue('openai', reply(text('received once, stored on the retry')));
      const created = await stack.http('POST', '/api/v1/chats', { content: 'hi', modelId, title: 'db blip' });
      const chatId = created.body.chat.id;
      await stack.waitForStatus(chatId, 'waiting', 30_000);
      const { body } = await stack.http('GET', `/api/v1/chats/${chatId}/messages`);
      expect(body.messages.map((m: any) => m.role)).toEqual(['user', 'assistant']);
      expect(body.messages[1].parts).toEqual([{ type: 'text', text: 'received once, stored on the retry' }]);
      expect(stack.fake.requests('openai').length - before).toBe(1);
      const retries = (await stack.events(chatId)).filter((e) => e.type === 'retry');
      expect(retries).toHaveLength(1);
      expect((retries[0]!.data as any).error.kind).toBe('database');
    } finally {
      await stack.services.pool.query('DROP TRIGGER IF EXISTS test_fail_store ON messages');
    }
  });
});

test('costs summing past the bigint range do not break GET /chats or GET /usage', async () => {
  stack.fake.enqueue('openai', reply(text('one')));
  const created = await stack.http('POST', '/api/v1/chats', { content: 'hi', modelId, title: 'expensive' });
  const chatId = created.body.chat.id;
  await stack.waitForStatus(chatId, 'waiting');
  // Two messages near the bigint maximum: their sum is past it.
  await stack.services.pool.query(`UPDATE messages SET cost_micros = 9000000000000000000 WHERE chat_id = $1`, [chatId]);
  await stack.services.pool.query(
    `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, cost_micros)
     SELECT $2, chat_id, turn, step + 1, idx, role, parts, 9000000000000000000 FROM messages WHERE chat_id = $1 AND role = 'assistant'`,
    [chatId, randomUUID()]);
  const list = await stack.http('GET', '/api/v1/chats');
  expect(list.status).toBe(200);
  expect(list.body.chats.find((c: any) => c.id === chatId).usage.costMicros).toBeGreaterThan(1.7e19);
  const usage = await stack.http('GET', '/api/v1/usage');
  expect(usage.status).toBe(200);
  expect(usage.body.totals.costMicros).toBeGreaterThan(1.7e19);
});

describe('errors answered before any route runs have the API error shape', () => {
  test('a too long path segment is a 414', async () => {
    const res = await fetch(`${stack.api.url}/api/v1/chats/${'a'.repeat(500)}`);
    expect(res.status).toBe(414);
    expect(await res.json()).toEqual({ error: { code: 'uri_too_long', message: expect.stringMatching(/too long/) } });
  });

  test('headers (or a URL) past 16 KB are a 431', async () => {
    for (const res of [
      await fetch(`${stack.api.url}/api/v1/chats`, { headers: { 'x-big': 'b'.repeat(20_000) } }),
      await fetch(`${stack.api.url}/api/v1/chats?q=${'a'.repeat(20_000)}`),
    ]) {
      expect(res.status).toBe(431);
      expect(await res.json()).toEqual({ error: { code: 'headers_too_large', message: expect.stringMatching(/larger than the server accepts/) } });
    }
  });
});

describe('provider error messages', () => {
  test("keep the provider's words but not the key fragments it echoes", async () => {
    const { modelId: m } = await stack.setupModel('openai');
    stack.fake.enqueue('openai', httpError(401, {
      type: 'invalid_request_error', code: 'invalid_api_key',
      message: 'Incorrect API key provided: sk-proj-abc1****************************wxyz. You can find your API key at https://platform.openai.com/account/api-keys.',
    }));
    const created = await stack.http('POST', '/api/v1/chats', { content: 'hi', modelId: m, title: 'bad key' });
    const row = await stack.waitForStatus(created.body.chat.id, 'error');
    expect(row.last_error.message).toContain('Incorrect API key provided');
    expect(row.last_error.message).not.toMatch(/abc1|wxyz|\*\*\*\*/);
    const events = JSON.stringify(await stack.events(created.body.chat.id));
    expect(events).not.toMatch(/abc1|wxyz/);
  });

  test.each([
    ['x-api-key: sk-ant-api03-AbCdEf123', 'x-api-key: [redacted]'],
    ['{"api_key": "secret-value-123"}', '{"api_key": "[redacted]"}'],
    ['Authorization: Bearer abc.def.ghi failed', 'Authorization: Bearer [redacted] failed'],
    ['key AIzaSyA1234567890abcdefgh rejected', 'key [redacted] rejected'],
    ['model gpt-4o-mini not found (request req_123)', 'model gpt-4o-mini not found (request req_123)'],
  ])('redactSecrets(%j)', async (input, expected) => {
    const { redactSecrets } = await import('../../src/providers/errors.ts');
    expect(redactSecrets(input)).toBe(expected);
  });
});
