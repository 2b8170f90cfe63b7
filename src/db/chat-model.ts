import type { ToolPolicy } from '../shared/resources.ts';
import type { ProviderType, Usage } from '../shared/types.ts';
import type { Pool } from './pool.ts';
import type { ProviderAccount } from './providers.ts';
import type { ProviderSource } from './rows.ts';

export interface Pricing { inputPerMTok: number; outputPerMTok: number; cacheReadPerMTok?: number; cacheWritePerMTok?: number }

/** A configured model with what an activity needs to call it. */
export interface ChatModel {
  modelId: string;
  /** Read with the model so a step needs no round trip of its own for it (every step reads it afresh). */
  provider: ProviderAccount;
  model: string;
  contextLimit: number;
  maxOutputTokens: number | null;
  /** Options sent to the provider (Parley's own keys removed). */
  options: Record<string, unknown>;
  pricing: Pricing | null;
  /** Optional cheaper models (ids of other configured models) for summaries and titles. */
  summaryModelId: string | null;
  titleModelId: string | null;
  /** The tool policy that applies: the chat's when it has one, else the model's (null: every tool runs). */
  toolPolicy: ToolPolicy | null;
}

const SELECT = `SELECT m.id, m.model, m.context_limit, m.max_output_tokens, m.options, m.pricing, m.tool_policy AS model_tool_policy,
    p.name AS provider_name, p.type AS provider_type, p.base_url AS provider_base_url, p.api_key_enc AS provider_api_key_enc,
    p.source AS provider_source
  FROM models m JOIN providers p ON p.id = m.provider_id`;

interface ModelRow {
  id: string; model: string; context_limit: number; max_output_tokens: number | null;
  options: Record<string, unknown> | null; pricing: Pricing | null; model_tool_policy: ToolPolicy | null; chat_tool_policy?: ToolPolicy | null;
  provider_name: string; provider_type: ProviderType; provider_base_url: string | null; provider_api_key_enc: string | null;
  provider_source: ProviderSource;
}

function toChatModel(r: ModelRow): ChatModel {
  // summaryModelId/titleModelId live in the model's free-form options but are Parley's, not the provider's.
  const { summaryModelId, titleModelId, ...options } = r.options ?? {};
  return {
    modelId: r.id, model: r.model, contextLimit: r.context_limit,
    provider: {
      name: r.provider_name, type: r.provider_type, baseUrl: r.provider_base_url, apiKeyEnc: r.provider_api_key_enc, source: r.provider_source,
    },
    maxOutputTokens: r.max_output_tokens, options, pricing: r.pricing,
    summaryModelId: typeof summaryModelId === 'string' ? summaryModelId : null,
    titleModelId: typeof titleModelId === 'string' ? titleModelId : null,
    toolPolicy: r.chat_tool_policy ?? r.model_tool_policy,
  };
}

/** The chat's model, or the default model when the chat has none (or its model was deleted). */
export async function loadChatModel(pool: Pool, chatId: string): Promise<ChatModel | null> {
  const { rows } = await pool.query(
    `${SELECT.replace('FROM models m', ', c.tool_policy AS chat_tool_policy FROM models m')}
     JOIN chats c ON m.id = COALESCE(c.model_id, (SELECT id FROM models WHERE is_default LIMIT 1)) WHERE c.id = $1`,
    [chatId],
  );
  return rows[0] ? toChatModel(rows[0]) : null;
}

export async function loadModel(pool: Pool, modelId: string): Promise<ChatModel | null> {
  const { rows } = await pool.query(`${SELECT} WHERE m.id = $1`, [modelId]);
  return rows[0] ? toChatModel(rows[0]) : null;
}

/** Cost in micro-units of the price currency, at the prices in force at the time of the call. */
export function costMicros(usage: Usage, pricing: Pricing | null): number | null {
  if (!pricing) return null;
  // A price per million tokens is exactly the price in micro-units per token. Prices are bounded
  // where they are set (the model schema); a cost that is still no safe integer (a row written
  // before those bounds) is unknown rather than a value the bigint column refuses.
  const cost = Math.round(
    usage.inputTokens * pricing.inputPerMTok +
    usage.outputTokens * pricing.outputPerMTok +
    usage.cacheReadTokens * (pricing.cacheReadPerMTok ?? pricing.inputPerMTok) +
    usage.cacheWriteTokens * (pricing.cacheWritePerMTok ?? pricing.inputPerMTok),
  );
  return Number.isSafeInteger(cost) && cost >= 0 ? cost : null;
}
