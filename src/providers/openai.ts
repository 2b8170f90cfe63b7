// Chat Completions adapter for OpenAI and OpenAI-compatible servers (Ollama, vLLM, llama.cpp,
// LiteLLM, ...). Streaming chunks are normalised to LlmStreamEvent; the compatible servers'
// quirks handled here: reasoning in `reasoning_content`/`reasoning` deltas, tool calls without
// ids or indexes, `finish_reason: "stop"` after tool calls, and no usage chunk.
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { emptyUsage } from '../shared/types.ts';
import type { Usage } from '../shared/types.ts';
import type { FinishReason, LlmCompleteRequest, LlmProvider, LlmRequest, LlmStreamEvent, ProviderConnection } from './provider.ts';
import { parseToolArgs, wireOptions } from './common.ts';
import { ProviderAbortError, ProviderError, streamEndedEarly, toProviderError } from './errors.ts';
import { fromOpenAiUsage, toOpenAiMessages, toOpenAiTools } from './openai-prompt.ts';

/** Local servers usually ignore the key, but the SDK refuses to run without one. */
const PLACEHOLDER_API_KEY = 'not-needed';

export function createOpenAiProvider(conn: ProviderConnection, compatible: boolean): LlmProvider {
  const name = conn.name;
  let client: OpenAI | undefined;
  // Built lazily so a configuration problem surfaces as a classified error from stream()/complete().
  const getClient = (): OpenAI => {
    if (client) return client;
    if (compatible && !conn.baseUrl) {
      throw new ProviderError({ kind: 'config', retryable: false, provider: name, message: `${name} is an openai-compatible provider without a base URL` });
    }
    client = new OpenAI({
      apiKey: conn.apiKey || (compatible ? PLACEHOLDER_API_KEY : undefined),
      baseURL: conn.baseUrl || undefined,
      // Temporal is the only retry layer: an SDK retry would hide failures and double the wait.
      maxRetries: 0,
    });
    return client;
  };
  // OpenAI deprecated max_tokens for max_completion_tokens, which most compatible servers don't know.
  const maxTokensKey = compatible ? 'max_tokens' : 'max_completion_tokens';

  return {
    async *stream(req: LlmRequest): AsyncGenerator<LlmStreamEvent> {
      try {
        const body = {
          ...wireOptions(req.options),
          model: req.model,
          messages: toOpenAiMessages(req.messages),
          ...(req.tools.length > 0 ? { tools: toOpenAiTools(req.tools) } : {}),
          ...(req.maxOutputTokens ? { [maxTokensKey]: req.maxOutputTokens } : {}),
          stream: true,
          stream_options: { include_usage: true },
        } as ChatCompletionCreateParamsStreaming;
        const chunks = await getClient().chat.completions.create(body, { signal: req.signal });
        yield* normalizeOpenAiStream(chunks, name, req.signal);
      } catch (err) {
        throw toProviderError(err, name, req.signal);
      }
    },

    async complete(req: LlmCompleteRequest): Promise<{ text: string; usage: Usage }> {
      try {
        const body = {
          model: req.model,
          messages: toOpenAiMessages(req.messages),
          [maxTokensKey]: req.maxOutputTokens,
        } as ChatCompletionCreateParamsNonStreaming;
        const res = await getClient().chat.completions.create(body, { signal: req.signal });
        const text = res.choices[0]?.message?.content ?? '';
        return { text, usage: res.usage ? fromOpenAiUsage(res.usage) : emptyUsage() };
      } catch (err) {
        throw toProviderError(err, name, req.signal);
      }
    },
  };
}

interface OpenCall {
  id: string;
  name: string;
  args: string;
  started: boolean;
}

/** Fields some compatible servers add to deltas; not in the SDK's types. */
interface ReasoningDelta { reasoning_content?: unknown; reasoning?: unknown }

export async function* normalizeOpenAiStream(
  chunks: AsyncIterable<ChatCompletionChunk>,
  providerName: string,
  signal: AbortSignal,
): AsyncGenerator<LlmStreamEvent> {
  const calls = new Map<number, OpenCall>();
  let reasoningOpen = false;
  let sawToolCalls = false;
  let finishReason: string | undefined;
  let usage: Usage | undefined;

  function* closeReasoning(): Generator<LlmStreamEvent> {
    if (!reasoningOpen) return;
    reasoningOpen = false;
    yield { type: 'reasoning_end' };
  }
  function* endCall(call: OpenCall): Generator<LlmStreamEvent> {
    if (!call.started) {
      // Never got a name: still report it, so the tool layer answers with "unknown tool".
      yield { type: 'tool_call_start', toolCallId: call.id, name: call.name };
      if (call.args) yield { type: 'tool_call_delta', toolCallId: call.id, argsDelta: call.args };
    }
    yield { type: 'tool_call_end', toolCallId: call.id, args: parseToolArgs(call.args) };
  }
  function* endAllCalls(): Generator<LlmStreamEvent> {
    for (const key of [...calls.keys()].sort((a, b) => a - b)) {
      yield* endCall(calls.get(key)!);
      calls.delete(key);
    }
  }

  for await (const chunk of chunks) {
    if (chunk.usage) usage = fromOpenAiUsage(chunk.usage);
    const choice = chunk.choices?.find((c) => c.index === 0) ?? chunk.choices?.[0];
    if (!choice) continue;
    const delta = choice.delta ?? {};

    const r = delta as ReasoningDelta;
    const reasoning = typeof r.reasoning_content === 'string' ? r.reasoning_content : typeof r.reasoning === 'string' ? r.reasoning : '';
    if (reasoning) {
      reasoningOpen = true;
      yield { type: 'reasoning_delta', text: reasoning };
    }
    if (delta.content) {
      yield* closeReasoning();
      yield { type: 'text_delta', text: delta.content };
    }
    for (const [position, tc] of (delta.tool_calls ?? []).entries()) {
      yield* closeReasoning();
      sawToolCalls = true;
      const key = typeof tc.index === 'number' ? tc.index : position;
      let call = calls.get(key);
      if (call && tc.id && call.started && tc.id !== call.id) {
        // A server reusing an index for a new call (seen with some proxies): close the old one.
        yield* endCall(call);
        call = undefined;
      }
      if (!call) {
        call = { id: tc.id || `call_${randomUUID()}`, name: '', args: '', started: false };
        calls.set(key, call);
      }
      if (tc.function?.name && !call.started) call.name += tc.function.name;
      const argsDelta = tc.function?.arguments ?? '';
      call.args += argsDelta;
      if (!call.started && call.name) {
        call.started = true;
        yield { type: 'tool_call_start', toolCallId: call.id, name: call.name };
        if (call.args) yield { type: 'tool_call_delta', toolCallId: call.id, argsDelta: call.args };
      } else if (call.started && argsDelta) {
        yield { type: 'tool_call_delta', toolCallId: call.id, argsDelta };
      }
    }
    if (choice.finish_reason) {
      finishReason = choice.finish_reason;
      yield* closeReasoning();
      yield* endAllCalls();
    }
  }

  // The SDK ends iteration quietly when the request is aborted: that is an interrupt, not an answer.
  if (signal.aborted) throw new ProviderAbortError(providerName, { cause: signal.reason });
  if (finishReason === undefined) throw streamEndedEarly(providerName, 'finish_reason');
  yield* closeReasoning();
  yield* endAllCalls();
  yield { type: 'finish', reason: mapFinishReason(finishReason, sawToolCalls), usage: usage ?? emptyUsage() };
}

function mapFinishReason(reason: string, sawToolCalls: boolean): FinishReason {
  switch (reason) {
    // Ollama and llama.cpp report "stop" even when the turn ended in tool calls.
    case 'stop': return sawToolCalls ? 'tool_calls' : 'stop';
    case 'tool_calls':
    case 'function_call': return 'tool_calls';
    case 'length': return 'length';
    case 'content_filter': return 'content_filter';
    default: return 'other';
  }
}
