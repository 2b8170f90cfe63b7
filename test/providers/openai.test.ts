// The OpenAI and OpenAI-compatible adapters through the real openai client, against the fake server.
import { describe, expect, it } from 'vitest';
import { createProvider } from '../../src/providers/index.ts';
import { classifyProviderError } from '../../src/providers/errors.ts';
import type { PromptMessage } from '../../src/providers/provider.ts';
import { httpError, reasoning, reply, text, toolCall } from '../support/fake-providers.ts';
import { collect, failure, fake, finishOf, providerFor, request, texts, useFakeProviders, user } from '../support/adapters.ts';

useFakeProviders();

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
