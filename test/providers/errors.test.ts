// How both provider adapters report failures (HTTP errors, broken streams, an unreachable server),
// through the real SDK clients against the fake server; and parseRetryAfter.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { classifyProviderError, isAbortError, parseRetryAfter, ProviderError } from '../../src/providers/errors.ts';
import { httpError, reply, text } from '../support/fake-providers.ts';
import { failure, fake, finishOf, NAMES, providerFor, texts, useFakeProviders } from '../support/adapters.ts';

useFakeProviders();

/** A port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe.each(['openai', 'anthropic'] as const)('%s adapter: common behaviour', (kind) => {
  describe('error classification', () => {
    const contextError = kind === 'openai'
      ? httpError(400, { code: 'context_length_exceeded', message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens." })
      : httpError(400, { message: 'prompt is too long: 210000 tokens > 200000 maximum' });
    const quotaError = kind === 'openai'
      ? httpError(429, { type: 'insufficient_quota', code: 'insufficient_quota', message: 'You exceeded your current quota, please check your plan and billing details.' })
      : httpError(400, { message: 'Your credit balance is too low to access the Anthropic API.' });

    it.each([
      ['401', httpError(401), 'auth', false, 401],
      ['403', httpError(403), 'auth', false, 403],
      ['404 model not found', httpError(404), 'model_not_found', false, 404],
      ['400 context length', contextError, 'context_length', false, 400],
      ['insufficient quota / billing', quotaError, 'quota', false, kind === 'openai' ? 429 : 400],
      ['other 400', httpError(400, { message: 'messages.0.content: field required' }), 'bad_request', false, 400],
      ['422', httpError(422, { message: 'unprocessable' }), 'bad_request', false, 422],
      ['429', httpError(429), 'rate_limit', true, 429],
      ['529', httpError(529), 'overloaded', true, 529],
      ['500', httpError(500), 'server', true, 500],
      ['503', httpError(503), 'server', true, 503],
    ] as const)('%s', async (_label, script, expectedKind, retryable, status) => {
      fake.enqueue(kind, script);
      const { err, events } = await failure(providerFor(kind));
      expect(events).toEqual([]);
      expect(err).toBeInstanceOf(ProviderError);
      const info = classifyProviderError(err, NAMES[kind]);
      expect(info).toMatchObject({ kind: expectedKind, retryable, statusCode: status, provider: NAMES[kind] });
      expect(info.message).toContain(NAMES[kind]);
      expect(info.message).toContain(String(status));
      expect(isAbortError(err)).toBe(false);
      // maxRetries: 0 — Temporal is the only retry layer
      expect(fake.requests(kind)).toHaveLength(1);
    });

    it('401 message is human readable and carries the provider text', async () => {
      fake.enqueue(kind, httpError(401, { message: 'invalid x-api-key' }));
      const { err } = await failure(providerFor(kind));
      expect((err as Error).message).toBe(`${NAMES[kind]} rejected the API key (401): invalid x-api-key`);
    });

    it.each([
      ['retry-after seconds', { 'retry-after': '7' }, 7000],
      ['retry-after-ms', { 'retry-after-ms': '1500', 'retry-after': '9' }, 1500],
    ])('429 with %s → retryAfterMs', async (_label, headers, ms) => {
      fake.enqueue(kind, httpError(429, { headers }));
      const { err } = await failure(providerFor(kind));
      expect(classifyProviderError(err, NAMES[kind])).toMatchObject({ kind: 'rate_limit', retryable: true, retryAfterMs: ms });
    });

    it('an error event mid-stream is a retryable stream error, after the deltas already sent', async () => {
      fake.enqueue(kind, reply(text('a', 'b', 'c', 'd'), { errorAfterChunks: 2 }));
      const { err, events } = await failure(providerFor(kind));
      expect(texts(events)).toEqual(['a', 'b']);
      expect(finishOf(events)).toBeUndefined();
      const info = classifyProviderError(err, NAMES[kind]);
      expect(info).toMatchObject({ kind: 'stream', retryable: true });
      expect(info.message).toMatch(kind === 'anthropic' ? /overloaded_error/ : /server_error/);
    });

    it('a dropped connection mid-stream is a retryable error, never a silent end', async () => {
      fake.enqueue(kind, reply(text('a', 'b', 'c'), { dropAfterChunks: 1 }));
      const { err, events } = await failure(providerFor(kind));
      expect(texts(events)).toEqual(['a']);
      const info = classifyProviderError(err, NAMES[kind]);
      expect(info.retryable).toBe(true);
      expect(['network', 'stream']).toContain(info.kind);
      expect(fake.requests(kind)).toHaveLength(1);
    });

    it('a stream that ends cleanly without its finish marker is a retryable stream error', async () => {
      fake.enqueue(kind, reply(text('a', 'b'), { omitFinish: true }));
      const { err, events } = await failure(providerFor(kind));
      expect(texts(events)).toEqual(['a', 'b']);
      expect(finishOf(events)).toBeUndefined();
      expect(classifyProviderError(err, NAMES[kind])).toMatchObject({ kind: 'stream', retryable: true, provider: NAMES[kind] });
      expect((err as Error).message).toMatch(kind === 'openai' ? /finish_reason/ : /message_stop/);
    });

    it('an unreachable server is a retryable network error', async () => {
      const port = await closedPort();
      const p = providerFor(kind, { baseUrl: kind === 'openai' ? `http://127.0.0.1:${port}/v1` : `http://127.0.0.1:${port}` });
      const { err } = await failure(p);
      const info = classifyProviderError(err, NAMES[kind]);
      expect(info).toMatchObject({ kind: 'network', retryable: true });
      expect(info.message).toMatch(/ECONNREFUSED/);
    });
  });
});

describe('parseRetryAfter', () => {
  it('reads ms, seconds and HTTP dates, ignoring junk', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter(new Headers({ 'retry-after-ms': '250.4' }), now)).toBe(250);
    expect(parseRetryAfter(new Headers({ 'retry-after': '2.5' }), now)).toBe(2500);
    expect(parseRetryAfter({ 'Retry-After': 'Wed, 01 Jan 2025 00:00:10 GMT' }, now)).toBe(10_000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
