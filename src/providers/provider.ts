import type { ErrorInfo, MessagePart, ProviderType, Usage } from '../shared/types.ts';

/** What a provider adapter needs to reach one provider account. */
export interface ProviderConnection {
  type: ProviderType;
  /** Provider record name, reported in errors. */
  name: string;
  baseUrl?: string | null;
  apiKey?: string | null;
}

/** A message as sent to a model (content already loaded from PostgreSQL). */
export interface PromptMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  parts: MessagePart[];
}

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
}

export interface LlmRequest {
  model: string;
  messages: PromptMessage[];
  tools: ToolSpec[];
  maxOutputTokens?: number;
  /** Provider-specific model options from the model config (e.g. `thinking`, `temperature`, `reasoningEffort`). */
  options?: Record<string, unknown>;
  signal: AbortSignal;
}

export type FinishReason = 'stop' | 'tool_calls' | 'length' | 'content_filter' | 'other';

/** Normalised stream events, identical for every provider. */
export type LlmStreamEvent =
  | { type: 'text_delta'; text: string }
  | { type: 'reasoning_delta'; text: string }
  /** End of a reasoning block, with what is needed to replay it (Anthropic signature / redacted data). */
  | { type: 'reasoning_end'; signature?: string; redacted?: string }
  | { type: 'tool_call_start'; toolCallId: string; name: string }
  | { type: 'tool_call_delta'; toolCallId: string; argsDelta: string }
  | { type: 'tool_call_end'; toolCallId: string; args: unknown }
  | { type: 'finish'; reason: FinishReason; usage: Usage };

/** Non-streaming completion used for summaries and titles. */
export interface LlmCompleteRequest {
  model: string;
  messages: PromptMessage[];
  maxOutputTokens: number;
  signal: AbortSignal;
}

export interface LlmProvider {
  stream(req: LlmRequest): AsyncIterable<LlmStreamEvent>;
  complete(req: LlmCompleteRequest): Promise<{ text: string; usage: Usage }>;
}

/** A provider failure, classified once so the activity can map it to a Temporal ApplicationFailure. */
export interface ClassifiedError extends ErrorInfo {
  /** From Retry-After / retry-after-ms headers, when the provider sent one. */
  retryAfterMs?: number;
}
