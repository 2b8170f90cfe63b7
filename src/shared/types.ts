// The shapes clients see (REST, SSE) and the rest of Parley stores. Paths and names here are the
// public contract from the API issue: change them only with a migration plan for clients.

// Chat statuses, usage, messages, errors and queue entries as the API returns them: their schemas
// are in ./resources.ts, written once; the types here are derived from them.
import type {
  ChatStatus as ChatStatusSchema, ErrorInfo as ErrorInfoSchema, Message as MessageSchema, ProviderType as ProviderTypeSchema,
  QueuedMessage as QueuedMessageSchema, Usage as UsageSchema,
} from './resources.ts';
import type { Static } from '@fastify/type-provider-typebox';

export type ChatStatus = Static<typeof ChatStatusSchema>;
export type Role = Message['role'];
export type Visibility = 'user' | 'model' | 'both';
export type ProviderType = Static<typeof ProviderTypeSchema>;

export interface TextPart { type: 'text'; text: string }
/** Reasoning ("thinking"). `signature`/`redacted` let Anthropic thinking blocks be replayed verbatim. */
export interface ReasoningPart { type: 'reasoning'; text: string; signature?: string; redacted?: string }
export interface ToolCallPart { type: 'tool_call'; toolCallId: string; name: string; args: unknown }
export interface ToolResultPart { type: 'tool_result'; toolCallId: string; name: string; result: unknown; isError: boolean }
export type MessagePart = TextPart | ReasoningPart | ToolCallPart | ToolResultPart;

export type Usage = Static<typeof UsageSchema>;

export const emptyUsage = (): Usage => ({
  inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0,
});

export type Message = Static<typeof MessageSchema>;

/** `kind`: a stable machine-readable class, e.g. `auth`, `rate_limit`, `context_length`, `interrupted`. */
export type ErrorInfo = Static<typeof ErrorInfoSchema>;

/** Streaming deltas of a part: text/reasoning carry only the new text; tool_call streams argsDelta, then args. */
export type StreamPart =
  | TextPart
  | ReasoningPart
  | { type: 'tool_call'; toolCallId: string; name: string; argsDelta?: string; args?: unknown }
  | ToolResultPart;

export interface ChatEventDataMap {
  status: { status: ChatStatus; lastError?: ErrorInfo | null };
  message_part: { messageId: string; attempt: number; part: StreamPart };
  message: Message;
  retry: { attempt: number; delayMs: number; error: ErrorInfo; retryingAt: string };
  error: ErrorInfo;
  queue_update: { queue: QueuedMessage[] };
  title: { title: string };
  /** A step paused for a person: these calls wait for an approval or an answer (status requires_action). */
  action_required: { turn: number; step: number; actions: Array<{ toolCallId: string; kind: 'approval' | 'question'; tool: string; args: unknown }> };
}
export type ChatEventType = keyof ChatEventDataMap;
export const chatEventTypes: readonly ChatEventType[] = [
  'status', 'message_part', 'message', 'retry', 'error', 'queue_update', 'title', 'action_required',
];

export type NewChatEvent = { [K in ChatEventType]: { type: K; data: ChatEventDataMap[K] } }[ChatEventType];
/** A stored event: `id` is strictly increasing per chat. */
export type ChatEvent = NewChatEvent & { id: number; chatId: string };

export type QueuedMessage = Static<typeof QueuedMessageSchema>;

/** The user a request authenticated as. */
export interface AuthUser {
  id: string;
  username: string;
  role: 'admin' | 'member';
  /** The token this request authenticated with. */
  tokenId?: string;
}
