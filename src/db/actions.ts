// Queries of the actions a paused turn waits for (migrations/1764000000005_actions.sql): the calls
// a person must approve or answer, and the answers people sent.
import type { ActionDecision, ActionKind } from '../workflows/contract.ts';
import type { PendingAction } from '../shared/resources.ts';
import type { PoolClient } from './pool.ts';
import { isUuid, type Queryable } from './rows.ts';

export type ActionState = 'pending' | 'approved' | 'denied' | 'answered' | 'interrupted' | 'timed_out';

/**
 * The actions of a chat's paused step still waiting for an answer, in call order, with each call's
 * arguments. An answered one leaves the list as soon as the workflow took its answer.
 */
export async function pendingActions(db: Queryable, chatId: string): Promise<PendingAction[]> {
  const { rows } = await db.query(
    `SELECT a.tool_call_id, a.kind, a.tool, a.turn, a.step, a.created_at,
       (SELECT p->'args' FROM messages m, jsonb_array_elements(m.parts) p
         WHERE m.chat_id = a.chat_id AND m.turn = a.turn AND m.step = a.step AND m.idx = 0
           AND p->>'type' = 'tool_call' AND p->>'toolCallId' = a.tool_call_id LIMIT 1) AS args
     FROM tool_actions a WHERE a.chat_id = $1 AND a.state = 'pending' AND a.answer_id IS NULL ORDER BY a.turn, a.step, a.idx`,
    [chatId],
  );
  return rows.map((r) => ({
    toolCallId: r.tool_call_id, kind: r.kind, tool: r.tool, args: r.args ?? {}, turn: r.turn, step: r.step,
    createdAt: (r.created_at as Date).toISOString(),
  }));
}

/** The chat's latest action for a tool call, or null when the call never waited for anyone. */
export async function findAction(db: Queryable, chatId: string, toolCallId: string):
  Promise<{ kind: ActionKind; state: ActionState; tool: string; answered: boolean } | null> {
  const { rows } = await db.query(
    'SELECT kind, state, tool, answer_id IS NOT NULL AS answered FROM tool_actions WHERE chat_id = $1 AND tool_call_id = $2',
    [chatId, toolCallId],
  );
  return rows[0] ?? null;
}

/**
 * Notes the answer the workflow accepted for a pending action, so listings show it answered while
 * the step waits for the others. The workflow's endActions settles it for good either way.
 */
export async function markAnswered(db: Queryable, chatId: string, toolCallId: string, answerId: string): Promise<void> {
  await db.query(
    `UPDATE tool_actions SET answer_id = $3 WHERE chat_id = $1 AND tool_call_id = $2 AND state = 'pending' AND answer_id IS NULL`,
    [chatId, toolCallId, answerId],
  );
}

export async function insertAnswer(
  db: Queryable, answer: { id: string; chatId: string; toolCallId: string; userId: string; decision: ActionDecision; text: string | null },
): Promise<void> {
  await db.query(
    'INSERT INTO tool_action_answers (id, chat_id, tool_call_id, user_id, decision, text) VALUES ($1, $2, $3, $4, $5, $6)',
    [answer.id, answer.chatId, answer.toolCallId, answer.userId, answer.decision, answer.text],
  );
}

/** The texts of answers the workflow took, by id (only those of this chat and call count). */
export async function answerTexts(tx: PoolClient, chatId: string, answers: Array<{ toolCallId: string; answerId?: string | undefined }>): Promise<Map<string, string | null>> {
  const ids = answers.map((a) => a.answerId).filter((id): id is string => typeof id === 'string' && isUuid(id));
  if (ids.length === 0) return new Map();
  const { rows } = await tx.query('SELECT id, tool_call_id, text FROM tool_action_answers WHERE chat_id = $1 AND id = ANY($2::uuid[])', [chatId, ids]);
  const byId = new Map(rows.map((r: { id: string; tool_call_id: string; text: string | null }) => [r.id, r]));
  const out = new Map<string, string | null>();
  for (const a of answers) {
    const row = a.answerId ? byId.get(a.answerId) : undefined;
    if (row && row.tool_call_id === a.toolCallId) out.set(a.toolCallId, row.text);
  }
  return out;
}

/**
 * Stores a paused step's actions as pending and marks the chat as awaiting them, if the chat is
 * still in that turn (a late retry after an interrupt settled the turn changes nothing). Returns
 * false when it was not.
 */
export async function insertActions(
  tx: PoolClient, ref: { chatId: string; turn: number; step: number },
  actions: Array<{ toolCallId: string; index: number; kind: ActionKind; tool: string }>,
): Promise<boolean> {
  const { rows } = await tx.query(`SELECT status, turn FROM chats WHERE id = $1 FOR UPDATE`, [ref.chatId]);
  if (rows[0]?.status !== 'running' || rows[0].turn !== ref.turn) return false;
  await tx.query(
    `INSERT INTO tool_actions (chat_id, tool_call_id, turn, step, idx, kind, tool)
     SELECT $1, a.id, $2, $3, a.idx, a.kind, a.tool FROM unnest($4::text[], $5::int[], $6::text[], $7::text[]) AS a(id, idx, kind, tool)
     ON CONFLICT DO NOTHING`,
    [ref.chatId, ref.turn, ref.step, actions.map((a) => a.toolCallId), actions.map((a) => a.index), actions.map((a) => a.kind), actions.map((a) => a.tool)],
  );
  await tx.query('UPDATE chats SET awaiting_action = true, updated_at = now() WHERE id = $1', [ref.chatId]);
  return true;
}

/** The step's actions as they stand (pending ones included), in call order. */
export async function stepActions(tx: PoolClient, ref: { chatId: string; turn: number; step: number }):
  Promise<Array<{ toolCallId: string; index: number; kind: ActionKind; tool: string; state: ActionState }>> {
  const { rows } = await tx.query(
    'SELECT tool_call_id, idx, kind, tool, state FROM tool_actions WHERE chat_id = $1 AND turn = $2 AND step = $3 ORDER BY idx FOR UPDATE',
    [ref.chatId, ref.turn, ref.step],
  );
  return rows.map((r) => ({ toolCallId: r.tool_call_id, index: r.idx, kind: r.kind, tool: r.tool, state: r.state }));
}

export async function settleAction(tx: PoolClient, chatId: string, toolCallId: string, state: ActionState, answerId: string | null): Promise<void> {
  await tx.query(
    `UPDATE tool_actions SET state = $3, answer_id = $4, answered_at = now() WHERE chat_id = $1 AND tool_call_id = $2 AND state = 'pending'`,
    [chatId, toolCallId, state, answerId],
  );
}

export async function clearAwaitingAction(tx: PoolClient, chatId: string): Promise<void> {
  await tx.query('UPDATE chats SET awaiting_action = false, updated_at = now() WHERE id = $1 AND awaiting_action', [chatId]);
}
