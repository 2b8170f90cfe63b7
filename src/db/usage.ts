// Token and cost reports over the assistant messages a user's chats hold. Fork copies are left out:
// their provider calls are counted at the original message. Messages of deleted chats are gone, and
// so is their usage.
import type { Usage } from '../shared/types.ts';
import type { Queryable } from './rows.ts';

export type UsageGroupBy = 'chat' | 'model' | 'day';

export interface UsageSums extends Usage { costMicros: number }

export interface UsageReport {
  userId: string;
  from: string;
  to: string;
  groupBy: UsageGroupBy;
  totals: UsageSums;
  groups: Array<UsageSums & { key: string }>;
}

// Keys are fixed strings chosen here, never user input.
const GROUP_KEY: Record<UsageGroupBy, string> = {
  chat: 'm.chat_id::text',
  model: `coalesce(m.model, 'unknown')`,
  day: `to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
};

// Summed as float8: a bigint sum can overflow (and would fail the whole report); past 2^53 a sum
// loses precision instead.
const SUMS = `
  coalesce(sum((m.usage->>'inputTokens')::float8), 0) AS input_tokens,
  coalesce(sum((m.usage->>'outputTokens')::float8), 0) AS output_tokens,
  coalesce(sum((m.usage->>'cacheReadTokens')::float8), 0) AS cache_read_tokens,
  coalesce(sum((m.usage->>'cacheWriteTokens')::float8), 0) AS cache_write_tokens,
  coalesce(sum((m.usage->>'reasoningTokens')::float8), 0) AS reasoning_tokens,
  coalesce(sum(m.cost_micros::float8), 0) AS cost_micros`;

interface SumsRow {
  input_tokens: number; output_tokens: number; cache_read_tokens: number; cache_write_tokens: number;
  reasoning_tokens: number; cost_micros: number;
}

const toSums = (r: SumsRow): UsageSums => ({
  inputTokens: r.input_tokens,
  outputTokens: r.output_tokens,
  cacheReadTokens: r.cache_read_tokens,
  cacheWriteTokens: r.cache_write_tokens,
  reasoningTokens: r.reasoning_tokens,
  costMicros: r.cost_micros,
});

/** Usage of `userId`'s chats for messages created in [from, to), grouped; groups sorted by key. */
export async function usageReport(
  db: Queryable, userId: string, range: { from: Date; to: Date }, groupBy: UsageGroupBy,
): Promise<UsageReport> {
  const { rows } = await db.query<SumsRow & { key: string }>(
    `SELECT ${GROUP_KEY[groupBy]} AS key, ${SUMS}
     FROM messages m JOIN chats c ON c.id = m.chat_id
     WHERE c.owner_id = $1 AND m.role = 'assistant' AND m.forked_from IS NULL
       AND m.created_at >= $2 AND m.created_at < $3
     GROUP BY 1 ORDER BY 1`,
    [userId, range.from, range.to],
  );
  const groups = rows.map((r) => ({ key: r.key, ...toSums(r) }));
  const totals = toSums({ input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, cost_micros: 0 });
  for (const g of groups) {
    for (const k of Object.keys(totals) as Array<keyof UsageSums>) totals[k] += g[k];
  }
  return { userId, from: range.from.toISOString(), to: range.to.toISOString(), groupBy, totals, groups };
}
