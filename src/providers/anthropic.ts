// Anthropic Messages adapter: raw streaming events normalised to LlmStreamEvent, with thinking
// blocks (and their signatures) surfaced so they can be replayed on the next turn.
import Anthropic from '@anthropic-ai/sdk';
import type { MessageCreateParamsNonStreaming, MessageCreateParamsStreaming, RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import { emptyUsage } from '../shared/types.ts';
import type { Usage } from '../shared/types.ts';
import type { FinishReason, LlmCompleteRequest, LlmProvider, LlmRequest, LlmStreamEvent, ProviderConnection } from './provider.ts';
import { parseToolArgs, wireOptions } from './common.ts';
import { ProviderAbortError, streamEndedEarly, toProviderError } from './errors.ts';
import { mergeAnthropicUsage, toAnthropicPrompt, toAnthropicTools } from './anthropic-prompt.ts';

/** The Messages API requires max_tokens; used when the model config does not set one. */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 8192;

export function createAnthropicProvider(conn: ProviderConnection): LlmProvider {
  const name = conn.name;
  let client: Anthropic | undefined;
  const getClient = (): Anthropic => {
    client ??= new Anthropic({
      apiKey: conn.apiKey || undefined,
      baseURL: normalizeBaseUrl(conn.baseUrl),
      // Temporal is the only retry layer: an SDK retry would hide failures and double the wait.
      maxRetries: 0,
    });
    return client;
  };

  return {
    async *stream(req: LlmRequest): AsyncGenerator<LlmStreamEvent> {
      try {
        const options = wireOptions(req.options);
        const prompt = toAnthropicPrompt(req.messages);
        const body = {
          ...options,
          model: req.model,
          max_tokens: req.maxOutputTokens ?? (typeof options['max_tokens'] === 'number' ? options['max_tokens'] : DEFAULT_ANTHROPIC_MAX_TOKENS),
          ...(prompt.system ? { system: prompt.system } : {}),
          messages: prompt.messages,
          ...(req.tools.length > 0 ? { tools: toAnthropicTools(req.tools) } : {}),
          stream: true,
        } as MessageCreateParamsStreaming;
        const events = await getClient().messages.create(body, { signal: req.signal });
        yield* normalizeAnthropicStream(events, name, req.signal);
      } catch (err) {
        throw toProviderError(err, name, req.signal);
      }
    },

    async complete(req: LlmCompleteRequest): Promise<{ text: string; usage: Usage }> {
      try {
        const prompt = toAnthropicPrompt(req.messages);
        const body: MessageCreateParamsNonStreaming = {
          model: req.model,
          max_tokens: req.maxOutputTokens,
          ...(prompt.system ? { system: prompt.system } : {}),
          messages: prompt.messages,
        };
        // An explicit timeout skips the SDK's refusal of non-streaming calls with a large max_tokens.
        const res = await getClient().messages.create(body, { signal: req.signal, timeout: 10 * 60_000 });
        const text = res.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
        return { text, usage: mergeAnthropicUsage(emptyUsage(), res.usage) };
      } catch (err) {
        throw toProviderError(err, name, req.signal);
      }
    },
  };
}

/** The SDK appends `/v1/messages` itself; accept base URLs written with `/v1` too. */
function normalizeBaseUrl(url: string | null | undefined): string | undefined {
  if (!url) return undefined;
  return url.replace(/\/+$/, '').replace(/\/v1$/, '');
}

type OpenBlock =
  | { kind: 'text' | 'other' }
  | { kind: 'thinking'; signature: string }
  | { kind: 'redacted'; data: string }
  | { kind: 'tool'; id: string; args: string; input: unknown };

export async function* normalizeAnthropicStream(
  events: AsyncIterable<RawMessageStreamEvent>,
  providerName: string,
  signal: AbortSignal,
): AsyncGenerator<LlmStreamEvent> {
  const blocks = new Map<number, OpenBlock>();
  const usage = emptyUsage();
  let stopReason: string | null = null;
  let stopped = false;

  function* closeBlock(block: OpenBlock): Generator<LlmStreamEvent> {
    switch (block.kind) {
      case 'thinking':
        yield { type: 'reasoning_end', ...(block.signature ? { signature: block.signature } : {}) };
        break;
      case 'redacted':
        yield { type: 'reasoning_end', redacted: block.data };
        break;
      case 'tool': {
        // Input normally streams as input_json_delta; a proxy may instead send it whole at start.
        const args = block.args ? parseToolArgs(block.args) : (block.input ?? {});
        yield { type: 'tool_call_end', toolCallId: block.id, args };
        break;
      }
    }
  }

  for await (const ev of events) {
    switch (ev.type) {
      case 'message_start':
        mergeAnthropicUsage(usage, ev.message.usage);
        break;
      case 'content_block_start': {
        const cb = ev.content_block;
        if (cb.type === 'text') {
          blocks.set(ev.index, { kind: 'text' });
          if (cb.text) yield { type: 'text_delta', text: cb.text };
        } else if (cb.type === 'thinking') {
          blocks.set(ev.index, { kind: 'thinking', signature: cb.signature ?? '' });
          if (cb.thinking) yield { type: 'reasoning_delta', text: cb.thinking };
        } else if (cb.type === 'redacted_thinking') {
          blocks.set(ev.index, { kind: 'redacted', data: cb.data });
        } else if (cb.type === 'tool_use') {
          blocks.set(ev.index, { kind: 'tool', id: cb.id, args: '', input: cb.input });
          yield { type: 'tool_call_start', toolCallId: cb.id, name: cb.name };
        } else {
          blocks.set(ev.index, { kind: 'other' }); // server tools etc.: not used by Parley
        }
        break;
      }
      case 'content_block_delta': {
        const block = blocks.get(ev.index);
        const d = ev.delta;
        if (d.type === 'text_delta') {
          if (d.text) yield { type: 'text_delta', text: d.text };
        } else if (d.type === 'thinking_delta') {
          if (d.thinking) yield { type: 'reasoning_delta', text: d.thinking };
        } else if (d.type === 'signature_delta') {
          if (block?.kind === 'thinking') block.signature += d.signature;
        } else if (d.type === 'input_json_delta') {
          if (block?.kind === 'tool' && d.partial_json) {
            block.args += d.partial_json;
            yield { type: 'tool_call_delta', toolCallId: block.id, argsDelta: d.partial_json };
          }
        }
        break;
      }
      case 'content_block_stop': {
        const block = blocks.get(ev.index);
        if (block) {
          blocks.delete(ev.index);
          yield* closeBlock(block);
        }
        break;
      }
      case 'message_delta':
        if (ev.delta.stop_reason) stopReason = ev.delta.stop_reason;
        mergeAnthropicUsage(usage, ev.usage);
        break;
      case 'message_stop':
        stopped = true;
        break;
    }
  }

  // The SDK ends iteration quietly when the request is aborted: that is an interrupt, not an answer.
  if (signal.aborted) throw new ProviderAbortError(providerName, { cause: signal.reason });
  if (!stopped) throw streamEndedEarly(providerName, 'message_stop');
  for (const block of blocks.values()) yield* closeBlock(block);
  yield { type: 'finish', reason: mapStopReason(stopReason), usage };
}

function mapStopReason(reason: string | null): FinishReason {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence': return 'stop';
    case 'tool_use': return 'tool_calls';
    case 'max_tokens':
    case 'model_context_window_exceeded': return 'length';
    case 'refusal': return 'content_filter';
    default: return 'other';
  }
}
