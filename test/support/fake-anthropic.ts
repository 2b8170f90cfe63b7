/** The fake providers' Anthropic Messages wire format: SSE events, JSON messages, error bodies. */
import type { FakeHttpError, FakeReply } from './fake-script.ts';
import { beforeJsonReply, hasToolCalls, SseWriter, usageOf, type ReplyContext, type WireFormat } from './fake-wire.ts';

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error', 401: 'authentication_error', 402: 'billing_error', 403: 'permission_error',
  404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error',
  504: 'timeout_error', 529: 'overloaded_error',
};

function errorBody(e: FakeHttpError, requestId: string): unknown {
  const type = e.type ?? ANTHROPIC_ERROR_TYPES[e.status] ?? (e.status >= 500 ? 'api_error' : 'invalid_request_error');
  return { type: 'error', error: { type, message: e.message ?? `Fake ${type} (${e.status})` }, request_id: requestId };
}

function anthropicUsage(script: FakeReply): Record<string, unknown> {
  const u = usageOf(script);
  return {
    input_tokens: u.inputTokens,
    cache_creation_input_tokens: u.cacheWriteTokens,
    cache_read_input_tokens: u.cacheReadTokens,
    output_tokens: u.outputTokens,
    output_tokens_details: u.reasoningTokens ? { thinking_tokens: u.reasoningTokens } : null,
  };
}

async function streamAnthropic(ctx: ReplyContext): Promise<void> {
  const { script, model, id } = ctx;
  const e = script.streamError ?? {};
  const w = new SseWriter(ctx, () => w.event({ type: 'error', error: { type: e.type ?? 'overloaded_error', message: e.message ?? 'Overloaded' } }, 'error'));
  const usage = anthropicUsage(script);

  w.start();
  w.event({
    type: 'message_start',
    message: {
      id: `msg_fake${id}`, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
      usage: { ...usage, output_tokens: 1, output_tokens_details: null },
    },
  }, 'message_start');
  w.event({ type: 'ping' }, 'ping');

  for (const [index, block] of script.blocks.entries()) {
    const delta = (d: Record<string, unknown>) => w.event({ type: 'content_block_delta', index, delta: d }, 'content_block_delta');
    const start = (content_block: Record<string, unknown>) => w.event({ type: 'content_block_start', index, content_block }, 'content_block_start');
    if (block.type === 'text') {
      start({ type: 'text', text: '', citations: null });
      for (const c of block.chunks) {
        if (!(await w.beforeContent())) return;
        delta({ type: 'text_delta', text: c });
        w.chunks++;
      }
    } else if (block.type === 'reasoning') {
      start({ type: 'thinking', thinking: '', signature: '' });
      for (const c of block.chunks) {
        if (!(await w.beforeContent())) return;
        delta({ type: 'thinking_delta', thinking: c });
        w.chunks++;
      }
      if (block.signature) delta({ type: 'signature_delta', signature: block.signature });
    } else if (block.type === 'redacted_reasoning') {
      start({ type: 'redacted_thinking', data: block.data });
    } else {
      start({ type: 'tool_use', id: block.id ?? `toolu_fake${id}_${index}`, name: block.name, input: {} });
      for (const c of block.argsChunks) {
        if (!(await w.beforeContent())) return;
        delta({ type: 'input_json_delta', partial_json: c });
        w.chunks++;
      }
    }
    w.event({ type: 'content_block_stop', index }, 'content_block_stop');
  }
  if (!(await w.checkFailure())) return;
  if (script.omitFinish) return w.end();
  w.event({
    type: 'message_delta',
    delta: { stop_reason: script.stopReason ?? (hasToolCalls(script) ? 'tool_use' : 'end_turn'), stop_sequence: null },
    usage,
  }, 'message_delta');
  w.event({ type: 'message_stop' }, 'message_stop');
  w.end();
}

async function jsonAnthropic(ctx: ReplyContext): Promise<void> {
  const { script, model, id, res } = ctx;
  if (!(await beforeJsonReply(ctx))) return;
  const content = script.blocks.map((b, index) => {
    switch (b.type) {
      case 'text': return { type: 'text', text: b.chunks.join(''), citations: null };
      case 'reasoning': return { type: 'thinking', thinking: b.chunks.join(''), signature: b.signature ?? '' };
      case 'redacted_reasoning': return { type: 'redacted_thinking', data: b.data };
      case 'tool_call': return { type: 'tool_use', id: b.id ?? `toolu_fake${id}_${index}`, name: b.name, input: JSON.parse(b.argsChunks.join('') || '{}') as unknown };
    }
  });
  res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_fake${id}` });
  res.end(JSON.stringify({
    id: `msg_fake${id}`, type: 'message', role: 'assistant', model, content,
    stop_reason: script.stopReason ?? (hasToolCalls(script) ? 'tool_use' : 'end_turn'), stop_sequence: null,
    usage: anthropicUsage(script),
  }));
}

export const anthropicFormat: WireFormat = { requestIdHeader: 'request-id', errorBody, stream: streamAnthropic, json: jsonAnthropic };
