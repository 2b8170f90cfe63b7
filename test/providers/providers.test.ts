// Provider adapters through the real openai / @anthropic-ai/sdk clients, against the fake server.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createProvider } from '../../src/providers/index.ts';
import { classifyProviderError, isAbortError, parseRetryAfter, ProviderError } from '../../src/providers/errors.ts';
import type { LlmProvider, LlmRequest, LlmStreamEvent, PromptMessage, ProviderConnection } from '../../src/providers/provider.ts';
import type { MessagePart } from '../../src/shared/types.ts';
import {
  httpError, reasoning, redactedReasoning, reply, startFakeProviders, text, toolCall, waitFor,
} from '../support/fake-providers.ts';
import type { FakeProvider, FakeProviders } from '../support/fake-providers.ts';

let fake: FakeProviders;
beforeAll(async () => { fake = await startFakeProviders(); });
afterAll(async () => { await fake.close(); });
beforeEach(() => fake.reset());

const NAMES: Record<FakeProvider, string> = { openai: 'OpenAI', anthropic: 'Anthropic' };

function providerFor(kind: FakeProvider, extra: Partial<ProviderConnection> = {}): LlmProvider {
  return createProvider(kind === 'openai'
    ? { type: 'openai', name: NAMES.openai, baseUrl: fake.openaiBaseUrl, apiKey: 'sk-test', ...extra }
    : { type: 'anthropic', name: NAMES.anthropic, baseUrl: fake.anthropicBaseUrl, apiKey: 'sk-ant-test', ...extra });
}

const user = (t: string): PromptMessage => ({ role: 'user', parts: [{ type: 'text', text: t }] });

function request(over: Partial<LlmRequest> = {}): LlmRequest {
  return { model: 'test-model', messages: [user('hi')], tools: [], signal: new AbortController().signal, ...over };
}

async function collect(p: LlmProvider, req: LlmRequest = request()): Promise<LlmStreamEvent[]> {
  const out: LlmStreamEvent[] = [];
  for await (const ev of p.stream(req)) out.push(ev);
  return out;
}

/** Runs the stream to its failure; returns the error and the events delivered before it. */
async function failure(p: LlmProvider, req: LlmRequest = request()): Promise<{ err: unknown; events: LlmStreamEvent[] }> {
  const events: LlmStreamEvent[] = [];
  try {
    for await (const ev of p.stream(req)) events.push(ev);
  } catch (err) {
    return { err, events };
  }
  throw new Error(`stream did not fail; events: ${JSON.stringify(events)}`);
}

/** A port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const texts = (events: LlmStreamEvent[]) => events.flatMap((e) => (e.type === 'text_delta' ? [e.text] : []));
const finishOf = (events: LlmStreamEvent[]) => events.find((e) => e.type === 'finish');

/** What the activity stores from a stream: enough to replay the assistant message next turn. */
function partsFrom(events: LlmStreamEvent[]): MessagePart[] {
  const parts: MessagePart[] = [];
  let open: MessagePart | undefined;
  for (const ev of events) {
    if (ev.type === 'text_delta' || ev.type === 'reasoning_delta') {
      const type = ev.type === 'text_delta' ? 'text' : 'reasoning';
      if (open?.type !== type) parts.push((open = { type, text: '' }));
      (open as { text: string }).text += ev.text;
    } else if (ev.type === 'reasoning_end') {
      let part = open?.type === 'reasoning' ? open : undefined;
      if (!part) parts.push((part = { type: 'reasoning', text: '' }));
      if (ev.signature) part.signature = ev.signature;
      if (ev.redacted) part.redacted = ev.redacted;
      open = undefined;
    } else if (ev.type === 'tool_call_start') {
      parts.push({ type: 'tool_call', toolCallId: ev.toolCallId, name: ev.name, args: undefined });
      open = undefined;
    } else if (ev.type === 'tool_call_end') {
      const part = parts.find((p) => p.type === 'tool_call' && p.toolCallId === ev.toolCallId);
      if (part?.type === 'tool_call') part.args = ev.args;
    }
  }
  return parts;
}

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

describe('openai adapter', () => {
  it('assembles 2 parallel tool calls whose arguments are split across chunks', async () => {
    fake.enqueue('openai', [
      toolCall('read_file', { path: 'src/a.ts' }, { id: 'call_1', chunks: 4 }),
      toolCall('list_dir', { path: '.', depth: 2 }, { id: 'call_2', chunks: 3 }),
    ]);
    const events = await collect(providerFor('openai'));
    const starts = events.filter((e) => e.type === 'tool_call_start');
    expect(starts).toEqual([
      { type: 'tool_call_start', toolCallId: 'call_1', name: 'read_file' },
      { type: 'tool_call_start', toolCallId: 'call_2', name: 'list_dir' },
    ]);
    const deltas = (id: string) => events.flatMap((e) => (e.type === 'tool_call_delta' && e.toolCallId === id ? [e.argsDelta] : []));
    expect(deltas('call_1').length).toBeGreaterThan(1);
    expect(deltas('call_1').join('')).toBe('{"path":"src/a.ts"}');
    expect(deltas('call_2').join('')).toBe('{"path":".","depth":2}');
    expect(events.filter((e) => e.type === 'tool_call_end')).toEqual([
      { type: 'tool_call_end', toolCallId: 'call_1', args: { path: 'src/a.ts' } },
      { type: 'tool_call_end', toolCallId: 'call_2', args: { path: '.', depth: 2 } },
    ]);
    expect(finishOf(events)?.reason).toBe('tool_calls');
    // every start precedes its deltas and end
    expect(events.findIndex((e) => e.type === 'tool_call_start')).toBeLessThan(events.findIndex((e) => e.type === 'tool_call_delta'));
  });

  it.each(['reasoning_content', 'reasoning'] as const)('maps `%s` deltas to reasoning events', async (field) => {
    fake.enqueue('openai', reply([reasoning(['Think', 'ing']), text('Answer')], { reasoningField: field }));
    const events = await collect(providerFor('openai'));
    expect(events.slice(0, 4)).toEqual([
      { type: 'reasoning_delta', text: 'Think' },
      { type: 'reasoning_delta', text: 'ing' },
      { type: 'reasoning_end' },
      { type: 'text_delta', text: 'Answer' },
    ]);
  });

  it('converts the prompt: system, assistant tool_calls, tool results, tools, options', async () => {
    const messages: PromptMessage[] = [
      { role: 'system', parts: [{ type: 'text', text: 'You are Parley.' }] },
      user('Read a and b'),
      { role: 'assistant', parts: [
        { type: 'reasoning', text: 'hidden' },
        { type: 'text', text: 'Reading.' },
        { type: 'tool_call', toolCallId: 'c1', name: 'read_file', args: { path: 'a' } },
        { type: 'tool_call', toolCallId: 'c2', name: 'read_file', args: { path: 'b' } },
      ] },
      { role: 'tool', parts: [
        { type: 'tool_result', toolCallId: 'c1', name: 'read_file', result: { content: 'A' }, isError: false },
        { type: 'tool_result', toolCallId: 'c2', name: 'read_file', result: 'ENOENT: no such file', isError: true },
      ] },
    ];
    await collect(providerFor('openai'), request({
      messages,
      tools: [{ name: 'read_file', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } }],
      maxOutputTokens: 1000,
      options: { reasoningEffort: 'low', temperature: 0.2 },
    }));
    const body = fake.requests('openai')[0];
    expect(body.messages).toEqual([
      { role: 'system', content: 'You are Parley.' },
      { role: 'user', content: 'Read a and b' },
      { role: 'assistant', content: 'Reading.', tool_calls: [
        { id: 'c1', type: 'function', function: { name: 'read_file', arguments: '{"path":"a"}' } },
        { id: 'c2', type: 'function', function: { name: 'read_file', arguments: '{"path":"b"}' } },
      ] },
      { role: 'tool', tool_call_id: 'c1', content: '{"content":"A"}' },
      { role: 'tool', tool_call_id: 'c2', content: 'Error: ENOENT: no such file' },
    ]);
    expect(body.tools).toEqual([{ type: 'function', function: { name: 'read_file', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } } }]);
    expect(body).toMatchObject({ model: 'test-model', max_completion_tokens: 1000, reasoning_effort: 'low', temperature: 0.2, stream_options: { include_usage: true } });
    expect(body.max_tokens).toBeUndefined();
    expect(fake.requestHeaders('openai')[0]?.authorization).toBe('Bearer sk-test');
  });

  it('treats an OpenAI 429 without insufficient_quota as a rate limit with an HTTP-date Retry-After', async () => {
    const date = new Date(Date.now() + 30_000).toUTCString();
    fake.enqueue('openai', httpError(429, { headers: { 'retry-after': date } }));
    const { err } = await failure(providerFor('openai'));
    const info = classifyProviderError(err, 'OpenAI');
    expect(info.kind).toBe('rate_limit');
    expect(info.retryAfterMs).toBeGreaterThan(25_000);
    expect(info.retryAfterMs).toBeLessThanOrEqual(30_000);
  });
});

describe('openai-compatible adapter', () => {
  it('works at a custom base URL without an API key, with max_tokens', async () => {
    const p = createProvider({ type: 'openai-compatible', name: 'Ollama', baseUrl: fake.openaiBaseUrl, apiKey: null });
    fake.enqueue('openai', reply([reasoning('hmm', undefined), text('local ', 'answer')], { reasoningField: 'reasoning', usage: { inputTokens: 5, outputTokens: 2 } }));
    const events = await collect(p, request({ model: 'llama3', maxOutputTokens: 256 }));
    expect(texts(events)).toEqual(['local ', 'answer']);
    expect(finishOf(events)).toMatchObject({ reason: 'stop', usage: { inputTokens: 5, outputTokens: 2 } });
    const body = fake.requests('openai')[0];
    expect(body).toMatchObject({ model: 'llama3', max_tokens: 256 });
    expect(body.max_completion_tokens).toBeUndefined();
    expect(fake.requestHeaders('openai')[0]?.authorization).toBe('Bearer not-needed');
  });

  it('reports tool_calls when a server says "stop" after tool calls, and accepts a missing usage chunk', async () => {
    const p = createProvider({ type: 'openai-compatible', name: 'llama.cpp', baseUrl: fake.openaiBaseUrl });
    fake.enqueue('openai', reply(toolCall('read_file', { path: 'x' }, { id: 'c9' }), { stopReason: 'stop', omitUsage: true }));
    const events = await collect(p);
    expect(finishOf(events)).toEqual({
      type: 'finish', reason: 'tool_calls',
      usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 },
    });
  });

  it('without a base URL fails with a non-retryable config error', async () => {
    const p = createProvider({ type: 'openai-compatible', name: 'vLLM' });
    const { err } = await failure(p);
    expect(classifyProviderError(err, 'vLLM')).toMatchObject({ kind: 'config', retryable: false });
  });

  it('classifies an Ollama-style string error body', async () => {
    const p = createProvider({ type: 'openai-compatible', name: 'Ollama', baseUrl: fake.openaiBaseUrl });
    fake.enqueue('openai', httpError(404, { body: { error: 'model "qwen9" not found, try pulling it first' } }));
    const { err } = await failure(p);
    const info = classifyProviderError(err, 'Ollama');
    expect(info).toMatchObject({ kind: 'model_not_found', retryable: false, statusCode: 404 });
    expect(info.message).toContain('model "qwen9" not found');
  });
});

describe('anthropic adapter', () => {
  it('streams a tool_use block with input_json_delta chunks', async () => {
    fake.enqueue('anthropic', [text('Let me look.'), toolCall('read_file', { path: 'src/a.ts', limit: 10 }, { id: 'toolu_1', chunks: 4 })]);
    const events = await collect(providerFor('anthropic'));
    const i = events.findIndex((e) => e.type === 'tool_call_start');
    expect(events[i]).toEqual({ type: 'tool_call_start', toolCallId: 'toolu_1', name: 'read_file' });
    const deltas = events.flatMap((e) => (e.type === 'tool_call_delta' ? [e.argsDelta] : []));
    expect(deltas).toHaveLength(4);
    expect(deltas.join('')).toBe('{"path":"src/a.ts","limit":10}');
    expect(events).toContainEqual({ type: 'tool_call_end', toolCallId: 'toolu_1', args: { path: 'src/a.ts', limit: 10 } });
    expect(finishOf(events)?.reason).toBe('tool_calls');
  });

  it('round-trips a signed thinking block into the next request', async () => {
    fake.enqueue('anthropic', [reasoning(['Let me ', 'think.'], 'sig-abc123'), text('Reading.'), toolCall('read_file', { path: 'a' }, { id: 'toolu_7' })]);
    const first = await collect(providerFor('anthropic'), request({ options: { thinking: { type: 'enabled', budget_tokens: 2048 } } }));
    expect(first.slice(0, 3)).toEqual([
      { type: 'reasoning_delta', text: 'Let me ' },
      { type: 'reasoning_delta', text: 'think.' },
      { type: 'reasoning_end', signature: 'sig-abc123' },
    ]);
    expect(fake.requests('anthropic')[0].thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });

    const assistant: PromptMessage = { role: 'assistant', parts: partsFrom(first) };
    await collect(providerFor('anthropic'), request({
      messages: [user('hi'), assistant, { role: 'tool', parts: [{ type: 'tool_result', toolCallId: 'toolu_7', name: 'read_file', result: 'A', isError: false }] }],
    }));
    const second = fake.requests('anthropic')[1];
    expect(second.messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'Let me think.', signature: 'sig-abc123' },
        { type: 'text', text: 'Reading.' },
        { type: 'tool_use', id: 'toolu_7', name: 'read_file', input: { path: 'a' } },
      ],
    });
  });

  it('surfaces redacted thinking and replays it verbatim', async () => {
    fake.enqueue('anthropic', [redactedReasoning('ENCRYPTED=='), text('ok')]);
    const events = await collect(providerFor('anthropic'));
    expect(events[0]).toEqual({ type: 'reasoning_end', redacted: 'ENCRYPTED==' });
    await collect(providerFor('anthropic'), request({ messages: [user('hi'), { role: 'assistant', parts: partsFrom(events) }, user('again')] }));
    expect(fake.requests('anthropic')[1].messages[1].content[0]).toEqual({ type: 'redacted_thinking', data: 'ENCRYPTED==' });
  });

  it('converts the prompt: system + cache_control, merged tool results, tools, max_tokens default', async () => {
    const messages: PromptMessage[] = [
      { role: 'system', parts: [{ type: 'text', text: 'You are Parley.' }] },
      { role: 'system', parts: [{ type: 'text', text: 'Workspace: /w' }] },
      user('Read a and b'),
      { role: 'assistant', parts: [
        { type: 'reasoning', text: 'unsigned, from another provider' },
        { type: 'tool_call', toolCallId: 't1', name: 'read_file', args: { path: 'a' } },
        { type: 'tool_call', toolCallId: 't2', name: 'read_file', args: { path: 'b' } },
      ] },
      { role: 'tool', parts: [{ type: 'tool_result', toolCallId: 't1', name: 'read_file', result: { content: 'A' }, isError: false }] },
      { role: 'tool', parts: [{ type: 'tool_result', toolCallId: 't2', name: 'read_file', result: 'ENOENT', isError: true }] },
      user('Also check c'),
    ];
    await collect(providerFor('anthropic'), request({
      messages,
      tools: [{ name: 'read_file', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] } }],
    }));
    const body = fake.requests('anthropic')[0];
    expect(body.max_tokens).toBe(8192);
    expect(body.system).toEqual([
      { type: 'text', text: 'You are Parley.' },
      { type: 'text', text: 'Workspace: /w', cache_control: { type: 'ephemeral' } },
    ]);
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Read a and b' }] },
      { role: 'assistant', content: [
        { type: 'tool_use', id: 't1', name: 'read_file', input: { path: 'a' } },
        { type: 'tool_use', id: 't2', name: 'read_file', input: { path: 'b' } },
      ] },
      // two tool messages and the next user message merged into one user turn, results first
      { role: 'user', content: [
        { type: 'tool_result', tool_use_id: 't1', content: '{"content":"A"}' },
        { type: 'tool_result', tool_use_id: 't2', content: 'ENOENT', is_error: true },
        { type: 'text', text: 'Also check c', cache_control: { type: 'ephemeral' } },
      ] },
    ]);
    expect(body.tools).toEqual([{ name: 'read_file', description: 'Read a file', input_schema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] } }]);
    // this SDK version sends the API key as a bearer token
    expect(fake.requestHeaders('anthropic')[0]?.authorization).toBe('Bearer sk-ant-test');
  });

  it('puts cache_control on the last tool_result when the prompt ends with tool results', async () => {
    await collect(providerFor('anthropic'), request({
      maxOutputTokens: 2000,
      messages: [
        user('go'),
        { role: 'assistant', parts: [{ type: 'tool_call', toolCallId: 't1', name: 'x', args: {} }] },
        { role: 'tool', parts: [{ type: 'tool_result', toolCallId: 't1', name: 'x', result: 'done', isError: false }] },
      ],
    }));
    const body = fake.requests('anthropic')[0];
    expect(body.max_tokens).toBe(2000);
    expect(body.system).toBeUndefined();
    expect(body.messages.at(-1)).toEqual({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'done', cache_control: { type: 'ephemeral' } }] });
    expect(body.messages[0].content[0].cache_control).toBeUndefined();
  });

  it('accepts a base URL that already ends in /v1', async () => {
    const events = await collect(providerFor('anthropic', { baseUrl: `${fake.anthropicBaseUrl}/v1` }));
    expect(texts(events).join('')).toBe('This is a fake reply.');
  });

  it('maps a 402 billing error to quota and max_tokens to length', async () => {
    fake.enqueue('anthropic', httpError(402, { message: 'Payment required' }));
    expect(classifyProviderError((await failure(providerFor('anthropic'))).err, 'Anthropic')).toMatchObject({ kind: 'quota', retryable: false });
    fake.enqueue('anthropic', reply(text('trunc'), { stopReason: 'max_tokens' }));
    expect(finishOf(await collect(providerFor('anthropic')))?.reason).toBe('length');
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
