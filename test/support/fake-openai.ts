/** The fake providers' OpenAI Chat Completions wire format: SSE chunks, JSON completions, error bodies. */
import type { FakeHttpError, FakeReply } from './fake-script.ts';
import { beforeJsonReply, hasToolCalls, SseWriter, usageOf, type ReplyContext, type WireFormat } from './fake-wire.ts';

const OPENAI_ERROR_DEFAULTS: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Invalid request.' },
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided: sk-fake.' },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory', message: 'Country, region, or territory not supported.' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model `fake` does not exist or you do not have access to it.' },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests.' },
  500: { type: 'server_error', code: null, message: 'The server had an error while processing your request.' },
  503: { type: 'server_error', code: null, message: 'The engine is currently overloaded, please try again later.' },
};

function errorBody(e: FakeHttpError): unknown {
  const d = OPENAI_ERROR_DEFAULTS[e.status] ?? { type: 'server_error', code: null, message: `Fake error ${e.status}.` };
  return { error: { message: e.message ?? d.message, type: e.type ?? d.type, param: null, code: e.code === undefined ? d.code : e.code } };
}

function openAiUsage(script: FakeReply): Record<string, unknown> {
  const u = usageOf(script);
  const prompt = u.inputTokens + u.cacheReadTokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: u.outputTokens,
    total_tokens: prompt + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cacheReadTokens, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

async function streamOpenAi(ctx: ReplyContext): Promise<void> {
  const { script, model, id, body } = ctx;
  const includeUsage = body?.stream_options?.include_usage === true && !script.omitUsage;
  const base = { id: `chatcmpl-fake${id}`, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, system_fingerprint: 'fp_fake' };
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const e = script.streamError ?? {};
  const w = new SseWriter(ctx, () => w.event({ error: { message: e.message ?? 'The server had an error while processing your request.', type: e.type ?? 'server_error', param: null, code: e.code ?? null } }));
  const reasoningField = script.reasoningField ?? 'reasoning_content';

  w.start();
  w.event(chunk({ role: 'assistant', content: '', refusal: null }));
  let toolIndex = 0;
  for (const block of script.blocks) {
    if (block.type === 'text' || block.type === 'reasoning') {
      for (const c of block.chunks) {
        if (!(await w.beforeContent())) return;
        w.event(chunk(block.type === 'text' ? { content: c } : { [reasoningField]: c }));
        w.chunks++;
      }
    } else if (block.type === 'tool_call') {
      const index = toolIndex++;
      w.event(chunk({ tool_calls: [{ index, id: block.id ?? `call_fake${id}_${index}`, type: 'function', function: { name: block.name, arguments: '' } }] }));
      for (const c of block.argsChunks) {
        if (!(await w.beforeContent())) return;
        w.event(chunk({ tool_calls: [{ index, function: { arguments: c } }] }));
        w.chunks++;
      }
    }
    // redacted reasoning has no Chat Completions equivalent
  }
  if (!(await w.checkFailure())) return;
  if (script.omitFinish) return w.end();
  w.event(chunk({}, script.stopReason ?? (hasToolCalls(script) ? 'tool_calls' : 'stop')));
  if (includeUsage) w.event({ ...base, choices: [], usage: openAiUsage(script) });
  w.event('[DONE]');
  w.end();
}

async function jsonOpenAi(ctx: ReplyContext): Promise<void> {
  const { script, model, id, res } = ctx;
  if (!(await beforeJsonReply(ctx))) return;
  const textOut = script.blocks.map((b) => (b.type === 'text' ? b.chunks.join('') : '')).join('');
  const reasoningOut = script.blocks.map((b) => (b.type === 'reasoning' ? b.chunks.join('') : '')).join('');
  const toolCalls = script.blocks.flatMap((b, i) => (b.type === 'tool_call'
    ? [{ id: b.id ?? `call_fake${id}_${i}`, type: 'function', function: { name: b.name, arguments: b.argsChunks.join('') } }]
    : []));
  const message: Record<string, unknown> = { role: 'assistant', content: textOut || null, refusal: null, annotations: [] };
  if (reasoningOut) message[script.reasoningField ?? 'reasoning_content'] = reasoningOut;
  if (toolCalls.length) message['tool_calls'] = toolCalls;
  res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_fake${id}` });
  res.end(JSON.stringify({
    id: `chatcmpl-fake${id}`, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: script.stopReason ?? (toolCalls.length ? 'tool_calls' : 'stop') }],
    usage: openAiUsage(script), system_fingerprint: 'fp_fake',
  }));
}

export const openAiFormat: WireFormat = { requestIdHeader: 'x-request-id', errorBody, stream: streamOpenAi, json: jsonOpenAi };
