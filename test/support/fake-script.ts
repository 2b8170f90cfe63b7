/**
 * The scripts a test gives the fake providers (test/support/fake-providers.ts, which re-exports all
 * of this): what one request is answered with, and the builders for it. See fake-providers.ts for
 * how they are used.
 */

export type FakeProvider = 'openai' | 'anthropic';

export type FakeBlock =
  | { type: 'text'; chunks: string[] }
  | { type: 'reasoning'; chunks: string[]; signature?: string }
  | { type: 'redacted_reasoning'; data: string }
  | { type: 'tool_call'; id?: string; name: string; argsChunks: string[] };

export interface FakeUsage {
  inputTokens?: number;
  outputTokens?: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
}

export interface FakeReplyOptions {
  /** Reported usage (wire format per provider; OpenAI prompt_tokens = input + cacheRead). */
  usage?: FakeUsage;
  /** Provider-native stop reason. Default: stop/end_turn, or tool_calls/tool_use when the reply has tool calls. */
  stopReason?: string;
  /** Delay before each content chunk, in ms (lets tests interrupt mid-stream). */
  chunkDelayMs?: number;
  /** Destroy the socket after this many content chunks (0 = right after the response headers). */
  dropAfterChunks?: number;
  /** Send a mid-stream error event after this many content chunks, then end the response. */
  errorAfterChunks?: number;
  /** The mid-stream error. Default Anthropic `overloaded_error`, OpenAI `server_error`. */
  streamError?: { type?: string; message?: string; code?: string };
  /** End the response cleanly but without finish_reason (OpenAI) / message_stop (Anthropic). */
  omitFinish?: boolean;
  /** OpenAI only: no usage chunk even when stream_options.include_usage asks for one (like some local servers). */
  omitUsage?: boolean;
  /** OpenAI only: the delta field carrying reasoning text (compatible servers use either). */
  reasoningField?: 'reasoning_content' | 'reasoning';
}

export interface FakeReply extends FakeReplyOptions { kind: 'reply'; blocks: FakeBlock[] }

export interface FakeHttpError {
  kind: 'http_error';
  status: number;
  /** Error type in the body; default per status and provider (e.g. `overloaded_error` for 529). */
  type?: string;
  message?: string;
  /** OpenAI `error.code`, e.g. `insufficient_quota`, `context_length_exceeded`, `model_not_found`. */
  code?: string | null;
  headers?: Record<string, string>;
  /** Send this body verbatim instead of the provider-format one. */
  body?: unknown;
}

export type FakeScript = FakeReply | FakeHttpError;
export type ScriptLike = FakeScript | FakeBlock | FakeBlock[];

export type FakeRequestBody = any;
export type FakeScriptInput = ScriptLike | ((body: FakeRequestBody, provider: FakeProvider) => ScriptLike);

// ---- builders ----

export const text = (...chunks: string[]): FakeBlock => ({ type: 'text', chunks });

export const reasoning = (chunks: string | string[], signature?: string): FakeBlock => ({
  type: 'reasoning', chunks: typeof chunks === 'string' ? [chunks] : chunks, ...(signature ? { signature } : {}),
});

export const redactedReasoning = (data: string): FakeBlock => ({ type: 'redacted_reasoning', data });

export function toolCall(name: string, args: unknown, opts: { id?: string; chunks?: number } = {}): FakeBlock {
  const json = typeof args === 'string' ? args : JSON.stringify(args);
  return { type: 'tool_call', name, argsChunks: splitInto(json, opts.chunks ?? 3), ...(opts.id ? { id: opts.id } : {}) };
}

export function reply(blocks: FakeBlock | FakeBlock[], opts: FakeReplyOptions = {}): FakeReply {
  return { kind: 'reply', blocks: Array.isArray(blocks) ? blocks : [blocks], ...opts };
}

export function httpError(status: number, opts: Omit<FakeHttpError, 'kind' | 'status'> = {}): FakeHttpError {
  return { kind: 'http_error', status, ...opts };
}

function splitInto(s: string, n: number): string[] {
  if (n <= 1 || s.length <= 1) return [s];
  const size = Math.ceil(s.length / n);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

/** A bare block or block array is shorthand for a reply with default options. */
export function normalize(s: ScriptLike): FakeScript {
  if (Array.isArray(s)) return reply(s);
  if ('kind' in s) return s;
  return reply(s);
}
