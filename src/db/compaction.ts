// Storage side of context compaction. A compaction after step s of turn t is stored at
// (t, s, base..base+2), base = 1000 + 3k for the k-th compaction there, after the step's tool results:
//   base     assistant, user-visible: a `chat_summarized` tool call ("Summarizing…")
//   base + 1 tool, user-visible: its result, the summary (expandable) or the failure ("Summarized")
//   base + 2 user, model-only: the summary the model continues from
// Every model-visible message before base + 2 is marked compressed (kept, never sent to the model again).
import type { CompactInput } from '../workflows/contract.ts';
import type { EventLog } from '../events/event-log.ts';
import type { ErrorInfo, MessagePart } from '../shared/types.ts';
import { toJsonb } from './json.ts';
import { withTransaction, type Pool, type PoolClient } from './pool.ts';
import { MESSAGE_COLUMNS, toMessage } from './rows.ts';
import { stepMessageId } from './turns.ts';

export const SUMMARY_TOOL = 'chat_summarized';
const BASE = 1000;

export interface CompactionSlot { base: number; toolCallId: string; markerId: string }

/** Stores and announces the "Summarizing…" marker; a retried attempt reuses its unfinished marker. */
export async function beginCompaction(pool: Pool, events: EventLog, input: CompactInput, attempt: number): Promise<CompactionSlot | null> {
  return withTransaction(pool, async (tx) => {
    const chat = await tx.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [input.chatId]);
    if (!chat.rowCount) return null;
    const { rows } = await tx.query(
      'SELECT max(idx) AS top FROM messages WHERE chat_id = $1 AND turn = $2 AND step = $3 AND idx >= $4',
      [input.chatId, input.turn, input.afterStep, BASE],
    );
    const top: number | null = rows[0].top;
    const lastBase = top === null ? null : BASE + 3 * Math.floor((top - BASE) / 3);
    // Only the marker is there: an earlier attempt of this compaction stopped midway; reuse it.
    const base = lastBase === null ? BASE : top === lastBase ? lastBase : lastBase + 3;
    const slot = {
      base,
      toolCallId: `summary_${input.turn}_${input.afterStep}_${(base - BASE) / 3}`,
      markerId: stepMessageId(input.chatId, input.turn, input.afterStep, base),
    };
    const part: MessagePart = {
      type: 'tool_call', toolCallId: slot.toolCallId, name: SUMMARY_TOOL,
      args: { reason: input.reason, thresholdPercent: input.thresholdPercent, contextTokens: input.contextTokens, contextLimit: input.contextLimit },
    };
    const ins = await tx.query(
      `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, visibility)
       VALUES ($1, $2, $3, $4, $5, 'assistant', $6, 'user') ON CONFLICT DO NOTHING RETURNING ${MESSAGE_COLUMNS}`,
      [slot.markerId, input.chatId, input.turn, input.afterStep, base, toJsonb([part])],
    );
    if (ins.rows[0]) {
      await events.append(input.chatId, [
        { type: 'message_part', data: { messageId: slot.markerId, attempt, part } },
        { type: 'message', data: toMessage(ins.rows[0]) },
      ], tx);
      await events.pruneParts(input.chatId, slot.markerId, tx);
    }
    return slot;
  });
}

/** Stores the outcome: on success the summary and the compressed flags, on failure an error event. */
export async function finishCompaction(
  pool: Pool, events: EventLog, input: CompactInput, slot: CompactionSlot,
  outcome: { summary: string } | { error: ErrorInfo },
): Promise<void> {
  await withTransaction(pool, async (tx) => {
    const chat = await tx.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [input.chatId]);
    if (!chat.rowCount) return;
    const ok = 'summary' in outcome;
    const resultPart: MessagePart = {
      type: 'tool_result', toolCallId: slot.toolCallId, name: SUMMARY_TOOL, isError: !ok,
      result: ok ? { summary: outcome.summary } : outcome.error.message,
    };
    const key = (idx: number) => [stepMessageId(input.chatId, input.turn, input.afterStep, idx), input.chatId, input.turn, input.afterStep, idx];
    const result = await tx.query(
      `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, visibility)
       VALUES ($1, $2, $3, $4, $5, 'tool', $6, 'user') ON CONFLICT DO NOTHING RETURNING ${MESSAGE_COLUMNS}`,
      [...key(slot.base + 1), toJsonb([resultPart])],
    );
    if (!result.rows[0]) return; // recorded by an earlier attempt
    const out = [];
    if (ok) {
      const text = `Summary of the conversation so far (earlier messages were compacted to fit the context window):\n\n${outcome.summary}\n\nContinue from here.`;
      await tx.query(
        `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, visibility) VALUES ($1, $2, $3, $4, $5, 'user', $6, 'model')`,
        [...key(slot.base + 2), toJsonb([{ type: 'text', text }])],
      );
      await tx.query(
        `UPDATE messages SET compressed = true
         WHERE chat_id = $1 AND NOT compressed AND visibility <> 'user' AND (turn, step, idx) < ($2, $3, $4)`,
        [input.chatId, input.turn, input.afterStep, slot.base + 2],
      );
    }
    if (input.reason === 'manual') await tx.query('UPDATE chats SET compact_requested = false WHERE id = $1', [input.chatId]);
    out.push({ type: 'message_part' as const, data: { messageId: result.rows[0].id, attempt: 1, part: resultPart } });
    out.push({ type: 'message' as const, data: toMessage(result.rows[0]) });
    if (!ok) out.push({ type: 'error' as const, data: outcome.error });
    await events.append(input.chatId, out, tx);
    await events.pruneParts(input.chatId, result.rows[0].id, tx);
  });
}

/**
 * Makes `compressed` agree with the summaries a chat still has, after an edit or a fork removed
 * some: model-visible messages before the latest summary are compressed, the rest are not.
 */
export async function recomputeCompression(tx: PoolClient, chatId: string): Promise<void> {
  await tx.query(
    `WITH latest AS (
       SELECT turn, step, idx FROM messages
       WHERE chat_id = $1 AND role = 'user' AND visibility = 'model' AND idx >= $2 AND (idx - $2) % 3 = 2
       ORDER BY turn DESC, step DESC, idx DESC LIMIT 1)
     UPDATE messages m SET compressed = COALESCE((SELECT (m.turn, m.step, m.idx) < (l.turn, l.step, l.idx) FROM latest l), false)
     WHERE m.chat_id = $1 AND m.visibility <> 'user'`,
    [chatId, BASE],
  );
}
