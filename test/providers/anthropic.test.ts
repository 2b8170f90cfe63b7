// The Anthropic adapter through the real @anthropic-ai/sdk client, against the fake server.
import { describe, expect, it } from 'vitest';
import { classifyProviderError } from '../../src/providers/errors.ts';
import type { LlmStreamEvent, PromptMessage } from '../../src/providers/provider.ts';
import type { MessagePart } from '../../src/shared/types.ts';
import { httpError, reasoning, redactedReasoning, reply, text, toolCall } from '../support/fake-providers.ts';
import { collect, failure, fake, finishOf, providerFor, request, texts, useFakeProviders, user } from '../support/adapters.ts';

useFakeProviders();

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
