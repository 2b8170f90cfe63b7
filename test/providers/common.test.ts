// Both provider adapters through the real openai / @anthropic-ai/sdk clients, against the fake
// server: streaming, complete(), and aborts. (errors.test.ts: their errors.)
import { describe, expect, it } from 'vitest';
import { classifyProviderError, isAbortError } from '../../src/providers/errors.ts';
import { httpError, reply, text, toolCall, waitFor } from '../support/fake-providers.ts';
import { collect, failure, fake, NAMES, providerFor, request, texts, useFakeProviders, user } from '../support/adapters.ts';

useFakeProviders();

describe.each(['openai', 'anthropic'] as const)('%s adapter: common behaviour', (kind) => {
  it('streams text deltas and finishes with usage', async () => {
    fake.enqueue(kind, reply(text('Hel', 'lo', ' world'), {
      usage: { inputTokens: 100, outputTokens: 7, cacheReadTokens: 40, cacheWriteTokens: 20, reasoningTokens: 3 },
    }));
    const events = await collect(providerFor(kind));
    expect(texts(events)).toEqual(['Hel', 'lo', ' world']);
    expect(events.at(-1)).toEqual({
      type: 'finish',
      reason: 'stop',
      usage: kind === 'openai'
        // prompt_tokens = 140 with 40 cached: Parley reports uncached input separately
        ? { inputTokens: 100, outputTokens: 7, cacheReadTokens: 40, cacheWriteTokens: 0, reasoningTokens: 3 }
        : { inputTokens: 100, outputTokens: 7, cacheReadTokens: 40, cacheWriteTokens: 20, reasoningTokens: 3 },
    });
    expect(fake.requests(kind)).toHaveLength(1);
    expect(fake.requests(kind)[0].stream).toBe(true);
  });

  it('reports an invalid-JSON tool argument string as { _raw }', async () => {
    fake.enqueue(kind, [toolCall('read_file', '{"path": "a', { id: 'call_bad' })]);
    const events = await collect(providerFor(kind));
    expect(events).toContainEqual({ type: 'tool_call_end', toolCallId: 'call_bad', args: { _raw: '{"path": "a' } });
  });

  it('complete() returns the text and usage without streaming', async () => {
    fake.enqueueCompletion(kind, reply(text('A short ', 'title'), { usage: { inputTokens: 12, outputTokens: 3 } }));
    const res = await providerFor(kind).complete({
      model: 'test-model', messages: [{ role: 'system', parts: [{ type: 'text', text: 'Summarise.' }] }, user('hello')],
      maxOutputTokens: 50, signal: new AbortController().signal,
    });
    expect(res.text).toBe('A short title');
    expect(res.usage).toMatchObject({ inputTokens: 12, outputTokens: 3 });
    const body = fake.completions(kind)[0];
    expect(body.stream ?? false).toBe(false);
    expect(body.tools).toBeUndefined();
    expect(kind === 'openai' ? body.max_completion_tokens : body.max_tokens).toBe(50);
  });

  it('complete() accepts a large max_tokens and classifies errors', async () => {
    const req = { model: 'test-model', messages: [user('hello')], maxOutputTokens: 64_000, signal: new AbortController().signal };
    expect((await providerFor(kind).complete(req)).text).toBe('Fake completion');
    fake.enqueueCompletion(kind, httpError(401));
    const err = await providerFor(kind).complete(req).then(() => undefined, (e: unknown) => e);
    expect(classifyProviderError(err, NAMES[kind])).toMatchObject({ kind: 'auth', retryable: false, statusCode: 401 });
  });

  it('aborting the signal mid-stream stops at once and closes the provider connection', async () => {
    fake.enqueue(kind, reply(text(...Array.from({ length: 30 }, (_, i) => `w${i} `)), { chunkDelayMs: 100 }));
    const ac = new AbortController();
    const received: string[] = [];
    let abortedAt = 0;
    let caught: unknown;
    try {
      for await (const ev of providerFor(kind).stream(request({ signal: ac.signal }))) {
        if (ev.type === 'text_delta') received.push(ev.text);
        if (received.length === 2 && !abortedAt) {
          abortedAt = Date.now();
          ac.abort();
        }
      }
    } catch (err) {
      caught = err;
    }
    const elapsed = Date.now() - abortedAt;
    expect(isAbortError(caught)).toBe(true);
    expect(classifyProviderError(caught, NAMES[kind])).toMatchObject({ kind: 'interrupted', retryable: false });
    expect(received).toEqual(['w0 ', 'w1 ']);
    // Without the abort the remaining 28 chunks would take 2.8 s.
    expect(elapsed).toBeLessThan(500);
    await waitFor(() => fake.clientAborts(kind) === 1, 2000, 'the fake to see the client close the connection');
    await waitFor(() => fake.openConnections() === 0, 2000, 'no open connections');
  });

  it('breaking out of the stream early also closes the provider connection', async () => {
    fake.enqueue(kind, reply(text('a', 'b', 'c', 'd'), { chunkDelayMs: 100 }));
    for await (const ev of providerFor(kind).stream(request())) {
      if (ev.type === 'text_delta') break;
    }
    await waitFor(() => fake.clientAborts(kind) === 1, 1000, 'the fake to see the client close the connection');
  });

  it('an already-aborted signal fails as an abort without a request', async () => {
    const ac = new AbortController();
    ac.abort();
    const { err } = await failure(providerFor(kind), request({ signal: ac.signal }));
    expect(isAbortError(err)).toBe(true);
    expect(fake.requests(kind)).toHaveLength(0);
  });
});
