// The CLI's creating requests carry one Idempotency-Key across its retries, so retrying after a 503
// or a dropped connection never makes a second chat.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { ApiClient, ApiError } from '../../src/cli/api.ts';

let server: http.Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function serve(answers: Array<{ status: number; body: unknown }>): Promise<{ url: string; keys: Array<string | undefined> }> {
  const keys: Array<string | undefined> = [];
  server = http.createServer((req, res) => {
    keys.push(req.headers['idempotency-key'] as string | undefined);
    const a = answers[Math.min(keys.length - 1, answers.length - 1)]!;
    res.writeHead(a.status, { 'content-type': 'application/json', ...(a.status === 503 ? { 'retry-after': '0' } : {}) });
    res.end(JSON.stringify(a.body));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, keys };
}

const unavailable = { status: 503, body: { error: { code: 'temporal_unavailable', message: 'chat c1 was saved but its turn could not start', chatId: 'c1' } } };

test('retries a 503 with the same Idempotency-Key until it succeeds', async () => {
  const { url, keys } = await serve([unavailable, unavailable, { status: 201, body: { chat: { id: 'c1' } } }]);
  const api = new ApiClient({ baseUrl: url, token: 't' });
  const res = await api.create<{ chat: { id: string } }>('/chats', { content: 'hi' }, { maxDelayMs: 10 });
  expect(res.chat.id).toBe('c1');
  expect(keys).toHaveLength(3);
  expect(new Set(keys).size).toBe(1);
  expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
});

test('gives up after its attempts with the error that names the saved chat; other errors are not retried', async () => {
  const { url, keys } = await serve([unavailable]);
  const api = new ApiClient({ baseUrl: url, token: 't' });
  const err = await api.create('/chats', { content: 'hi' }, { attempts: 2, maxDelayMs: 10 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).message).toContain('c1');
  expect(keys).toHaveLength(2);
  server!.close();
  const bad = await serve([{ status: 400, body: { error: { code: 'bad_request', message: 'content is empty' } } }]);
  await expect(new ApiClient({ baseUrl: bad.url, token: 't' }).create('/chats', {}, { maxDelayMs: 10 })).rejects.toThrow(/content is empty/);
  expect(bad.keys).toHaveLength(1);
});
