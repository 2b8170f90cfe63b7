// Row → API shape mappers shared by the repositories.
import type { ChatStatus, ErrorInfo, Message, MessagePart, QueuedMessage, Role, Usage } from '../shared/types.ts';
import type { Pool, PoolClient } from './pool.ts';

/** Anything that runs a query: the pool, or a client inside a transaction. */
export type Queryable = Pool | PoolClient;

// The resources as the API returns them: one shape each, the schemas in src/shared/resources.ts.
import type { Chat, Model, Pricing, Provider, ToolPolicy, User } from '../shared/resources.ts';
export type { Chat, ChatUsage, Model, Pricing, Provider, User } from '../shared/resources.ts';
export type UserRole = User['role'];
export type ProviderSource = Provider['source'];

export { isUuid } from '../shared/ids.ts';

const iso = (d: Date | string): string => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());

/** pg error code of a failed query (23505 unique_violation, 23503 foreign_key_violation, ...). */
export const pgCode = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;

export interface UserRow { id: string; username: string; role: UserRole; created_at: Date }
export const toUser = (r: UserRow): User => ({ id: r.id, username: r.username, role: r.role, createdAt: iso(r.created_at) });

export interface MessageRow {
  id: string; chat_id: string; role: Role; parts: MessagePart[]; created_at: Date; model: string | null; usage: Usage | null;
}
export const MESSAGE_COLUMNS = 'id, chat_id, role, parts, created_at, model, usage';
export function toMessage(r: MessageRow): Message {
  return {
    id: r.id,
    chatId: r.chat_id,
    role: r.role,
    parts: r.parts,
    createdAt: iso(r.created_at),
    ...(r.model ? { model: r.model } : {}),
    ...(r.usage ? { usage: r.usage } : {}),
  };
}

export interface QueuedRow { id: string; chat_id: string; content: string; created_at: Date }
export const toQueued = (r: QueuedRow): QueuedMessage => ({ id: r.id, chatId: r.chat_id, content: r.content, createdAt: iso(r.created_at) });

export interface ChatRow {
  id: string; title: string; status: ChatStatus; model_id: string | null; parent_chat_id: string | null; agent_depth: number;
  last_error: ErrorInfo | null; tool_policy: ToolPolicy | null; archived: boolean; created_at: Date; updated_at: Date;
  input_tokens: number; output_tokens: number; cost_micros: number;
}
export function toChat(r: ChatRow): Chat {
  return {
    id: r.id,
    title: r.title,
    status: r.status,
    modelId: r.model_id,
    parentChatId: r.parent_chat_id,
    agentDepth: r.agent_depth,
    lastError: r.last_error,
    toolPolicy: r.tool_policy,
    archived: r.archived,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    usage: { inputTokens: r.input_tokens, outputTokens: r.output_tokens, costMicros: r.cost_micros },
  };
}

export interface ModelRow {
  id: string; provider_id: string; provider_name: string; model: string; display_name: string | null;
  context_limit: number; compaction_threshold_percent: number; max_output_tokens: number | null; is_default: boolean;
  pricing: Pricing | null; options: Record<string, unknown> | null; tool_policy: ToolPolicy | null; created_at: Date; updated_at: Date;
}
export function toModel(r: ModelRow): Model {
  return {
    id: r.id,
    providerId: r.provider_id,
    providerName: r.provider_name,
    model: r.model,
    displayName: r.display_name,
    contextLimit: r.context_limit,
    compactionThresholdPercent: r.compaction_threshold_percent,
    maxOutputTokens: r.max_output_tokens,
    isDefault: r.is_default,
    pricing: r.pricing,
    options: r.options ?? {},
    toolPolicy: r.tool_policy,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}
