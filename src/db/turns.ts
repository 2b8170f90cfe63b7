// The workflow's side of the transcript: beginning and settling turns, loading prompts, storing
// assistant messages and tool results. Every write is idempotent per (turn, step, idx) so a
// retried activity never leaves two copies of anything.
import type { AdvanceChatInput, AdvanceChatResult, TurnSettings } from '../workflows/contract.ts';
import type { EventLog } from '../events/event-log.ts';
import type { PromptMessage } from '../providers/index.ts';
import type {
  ChatStatus, ErrorInfo, Message, MessagePart, NewChatEvent, ToolCallPart, Usage,
} from '../shared/types.ts';
import { uuidFromKey } from '../shared/ids.ts';
import { withTransaction, type Pool, type PoolClient } from './pool.ts';
import { toJsonb } from './json.ts';
import { listQueue } from './queue.ts';
import { MESSAGE_COLUMNS, toMessage } from './rows.ts';

export const INTERRUPTED_RESULT = 'Interrupted before it produced a result.';
/** The result of a call that waited for a person when its turn ended. */
export const INTERRUPTED_ACTION_RESULT = {
  approval: 'Interrupted before it was approved: the tool did not run.',
  question: 'Interrupted before the user answered.',
} as const;

/** Stable id of a turn's step message, so every attempt of a step streams under the same id. */
export function stepMessageId(chatId: string, turn: number, step: number, idx: number): string {
  return uuidFromKey(`${chatId}/${turn}/${step}/${idx}`);
}

/**
 * Writes an error tool result for every tool call (of `turn`, or of the whole chat) that has none,
 * so the next prompt is valid for every provider (each tool call must be answered).
 */
export async function closeDanglingToolCalls(tx: PoolClient, chatId: string, turn?: number): Promise<Message[]> {
  // Calls that still waited for a person say so (and their actions end).
  const waited = new Map((await tx.query(
    `UPDATE tool_actions SET state = 'interrupted', answered_at = now()
     WHERE chat_id = $1 AND state = 'pending' AND ($2::int IS NULL OR turn = $2) RETURNING tool_call_id, kind`,
    [chatId, turn ?? null],
  )).rows.map((r: { tool_call_id: string; kind: 'approval' | 'question' }) => [r.tool_call_id, r.kind]));
  const { rows } = await tx.query(
    `SELECT m.turn, m.step, m.parts FROM messages m
     WHERE m.chat_id = $1 AND ($2::int IS NULL OR m.turn = $2) AND m.role = 'assistant' AND m.idx = 0
       AND m.parts @> '[{"type": "tool_call"}]'
     ORDER BY m.turn, m.step`,
    [chatId, turn ?? null],
  );
  const closed: Message[] = [];
  for (const row of rows as Array<{ turn: number; step: number; parts: MessagePart[] }>) {
    const calls = row.parts.filter((p): p is ToolCallPart => p.type === 'tool_call');
    for (const [index, call] of calls.entries()) {
      const kind = waited.get(call.toolCallId);
      const result = kind ? INTERRUPTED_ACTION_RESULT[kind] : INTERRUPTED_RESULT;
      const part: MessagePart = { type: 'tool_result', toolCallId: call.toolCallId, name: call.name, result, isError: true };
      const res = await tx.query(
        `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, tool_call_id)
         VALUES ($1, $2, $3, $4, $5, 'tool', $6, $7)
         ON CONFLICT DO NOTHING RETURNING ${MESSAGE_COLUMNS}`,
        [stepMessageId(chatId, row.turn, row.step, index + 1), chatId, row.turn, row.step, index + 1, toJsonb([part]), call.toolCallId],
      );
      if (res.rows[0]) closed.push(toMessage(res.rows[0]));
    }
  }
  return closed;
}

/**
 * Settles the turn that ended (if any) and begins the next piece of work, in one transaction under
 * the chat's row lock, the same lock the API takes to queue a message: a message is either seen
 * here or queued after this commit (and then the API's wake signal restarts the loop).
 * Next, in order: a turn whose user message is waiting (status pending), a manual compaction, the
 * head of the queue.
 */
export async function advanceChat(
  pool: Pool, events: EventLog, input: AdvanceChatInput, runId: string, base: Pick<TurnSettings, 'maxSteps' | 'llmStepTimeoutMs'>,
): Promise<AdvanceChatResult> {
  return withTransaction(pool, async (tx) => {
    const { rows } = await tx.query(
      `SELECT c.status, c.turn, c.active_run_id, c.title_auto, c.compact_requested, m.context_limit, m.compaction_threshold_percent,
         c.parent_chat_id, c.agent_depth
       FROM chats c LEFT JOIN models m ON m.id = COALESCE(c.model_id, (SELECT id FROM models WHERE is_default LIMIT 1))
       WHERE c.id = $1 FOR UPDATE OF c`,
      [input.chatId],
    );
    const chat = rows[0] as {
      status: ChatStatus; turn: number; active_run_id: string | null; title_auto: boolean; compact_requested: boolean;
      context_limit: number | null; compaction_threshold_percent: number | null;
      parent_chat_id: string | null; agent_depth: number;
    } | undefined;
    const settings: TurnSettings = {
      ...base,
      contextLimit: chat?.context_limit ?? 0,
      compactionThresholdPercent: chat?.compaction_threshold_percent ?? 100,
    };
    const idle = { generateTitle: false, compact: null };
    if (!chat) return { turn: null, status: 'deleted', queueLength: 0, settings, ...idle };
    const queueLength = async () =>
      Number((await tx.query('SELECT count(*) AS n FROM queued_messages WHERE chat_id = $1', [input.chatId])).rows[0].n);
    const compactAt = async (turn: number) => {
      const r = await tx.query('SELECT coalesce(max(step), 0) AS s FROM messages WHERE chat_id = $1 AND turn = $2', [input.chatId, turn]);
      return { turn, afterStep: Number(r.rows[0].s) };
    };

    // A retry of an attempt that already committed: answer as it did.
    if (chat.status === 'running' && chat.active_run_id === runId && (!input.finished || input.finished.turn < chat.turn)) {
      return chat.compact_requested
        ? { turn: null, status: chat.status, queueLength: await queueLength(), settings, generateTitle: false, compact: await compactAt(chat.turn) }
        : { turn: chat.turn, status: chat.status, queueLength: await queueLength(), settings, generateTitle: false, compact: null };
    }

    const out: NewChatEvent[] = [];
    let status = chat.status;
    let turn = chat.turn;
    let lastError: ErrorInfo | null | undefined; // undefined: unchanged

    const { finished } = input;
    // The turn this call settles, if any (what a sub-agent's parent waits for).
    let settled: number | undefined;
    if (finished && finished.turn === turn && status === 'running') {
      settled = turn;
      for (const m of await closeDanglingToolCalls(tx, input.chatId, turn)) out.push({ type: 'message', data: m });
      if (finished.error) out.push({ type: 'error', data: finished.error });
      status = finished.outcome === 'failed' ? 'error' : 'waiting';
      lastError = finished.outcome === 'failed' ? finished.error ?? null : null;
    } else if (!finished && status === 'running') {
      // Another run left this turn unsettled (terminated, or its history lost): close it honestly.
      settled = turn;
      for (const m of await closeDanglingToolCalls(tx, input.chatId, turn)) out.push({ type: 'message', data: m });
      lastError = {
        kind: 'turn_lost', retryable: false,
        message: 'The previous turn stopped before it finished (its workflow was terminated). Send a message to continue.',
      };
      out.push({ type: 'error', data: lastError });
      status = 'error';
    }

    let began: 'turn' | 'compact' | null = null;
    let generateTitle = false;
    if (input.startNext) {
      if (status === 'pending') {
        began = 'turn';
      } else if (chat.compact_requested) {
        began = 'compact';
      } else {
        const head = await tx.query(
          'DELETE FROM queued_messages WHERE id = (SELECT id FROM queued_messages WHERE chat_id = $1 ORDER BY position, created_at, id LIMIT 1) RETURNING content',
          [input.chatId],
        );
        if (head.rows[0]) {
          turn += 1;
          const parts: MessagePart[] = [{ type: 'text', text: head.rows[0].content }];
          const ins = await tx.query(
            `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts) VALUES ($1, $2, $3, 0, 0, 'user', $4)
             RETURNING ${MESSAGE_COLUMNS}`,
            [stepMessageId(input.chatId, turn, 0, 0), input.chatId, turn, toJsonb(parts)],
          );
          out.push({ type: 'message', data: toMessage(ins.rows[0]) });
          out.push({ type: 'queue_update', data: { queue: await listQueue(tx, input.chatId) } });
          began = 'turn';
        }
      }
      if (began) { status = 'running'; lastError = null; }
      // Claimed once: a failed title generation is not retried turn after turn.
      if (began === 'turn' && chat.title_auto) generateTitle = true;
    }

    if (status !== chat.status || lastError !== undefined) {
      out.push({ type: 'status', data: { status, lastError: lastError ?? null } });
    }
    // The queue length rides on this statement (a round trip fewer); it runs after the dequeue above,
    // and the row lock keeps the API from queueing in between.
    const updated = await tx.query(
      `UPDATE chats SET status = $2, turn = $3, active_run_id = $4, awaiting_action = false, updated_at = now(),
         title_auto = title_auto AND NOT $5 ${lastError !== undefined ? ', last_error = $6' : ''} WHERE id = $1
       RETURNING (SELECT count(*) FROM queued_messages WHERE chat_id = $1) AS queued`,
      [input.chatId, status, turn, began ? runId : null, generateTitle,
        ...(lastError !== undefined ? [lastError ? JSON.stringify(lastError) : null] : [])],
    );
    if (out.length) await events.append(input.chatId, out, tx);
    // A sub-agent tells its parent when a turn settled, or when it is idle (a pending turn called
    // off never ran, yet a parent may be waiting for it).
    const told = settled ?? (began === null ? turn : undefined);
    return {
      turn: began === 'turn' ? turn : null,
      status,
      queueLength: Number(updated.rows[0].queued),
      settings,
      generateTitle,
      compact: began === 'compact' ? await compactAt(turn) : null,
      ...(chat.agent_depth > 0 && chat.parent_chat_id && told !== undefined ? { notifyParent: { parentChatId: chat.parent_chat_id, turn: told } } : {}),
    };
  });
}

/** The prompt of a step: every model-visible, uncompressed message in transcript order. */
export async function loadPromptMessages(pool: Pool, chatId: string): Promise<PromptMessage[]> {
  const { rows } = await pool.query(
    `SELECT role, parts FROM messages WHERE chat_id = $1 AND NOT compressed AND visibility <> 'user'
     ORDER BY turn, step, idx`,
    [chatId],
  );
  return rows.map((r) => ({ role: r.role, parts: r.parts }));
}

export interface StoredStep {
  message: Message;
  finishReason: string;
}

/** A step message already completed by an earlier attempt (see messages.finish_reason). */
export async function findCompletedStep(pool: Pool, chatId: string, turn: number, step: number): Promise<StoredStep | null> {
  const { rows } = await pool.query(
    `SELECT ${MESSAGE_COLUMNS}, finish_reason FROM messages
     WHERE chat_id = $1 AND turn = $2 AND step = $3 AND idx = 0 AND finish_reason IS NOT NULL`,
    [chatId, turn, step],
  );
  return rows[0] ? { message: toMessage(rows[0]), finishReason: rows[0].finish_reason } : null;
}

/** Stores (or replaces, on a retried attempt) the assistant message of a step and announces it. */
export async function saveStepMessage(
  pool: Pool, events: EventLog,
  m: { chatId: string; turn: number; step: number; parts: MessagePart[]; modelId: string | null; model: string; usage: Usage; costMicros: number | null; finishReason: string; contextTokens: number },
): Promise<Message> {
  return withTransaction(pool, async (tx) => {
    const id = stepMessageId(m.chatId, m.turn, m.step, 0);
    // One statement (a round trip fewer): the chat's context size is updated alongside.
    const { rows } = await tx.query(
      `WITH chat AS (UPDATE chats SET context_tokens = $11, updated_at = now() WHERE id = $2)
       INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, model_id, model, usage, cost_micros, finish_reason)
       VALUES ($1, $2, $3, $4, 0, 'assistant', $5, $6, $7, $8, $9, $10)
       ON CONFLICT (chat_id, turn, step, idx) DO UPDATE SET parts = EXCLUDED.parts, usage = EXCLUDED.usage,
         cost_micros = EXCLUDED.cost_micros, finish_reason = EXCLUDED.finish_reason, model = EXCLUDED.model
       RETURNING ${MESSAGE_COLUMNS}`,
      [id, m.chatId, m.turn, m.step, toJsonb(m.parts), m.modelId, m.model, JSON.stringify(m.usage), m.costMicros, m.finishReason, m.contextTokens],
    );
    const message = toMessage(rows[0]);
    await events.append(m.chatId, [{ type: 'message', data: message }], tx);
    await events.pruneParts(m.chatId, id, tx);
    return message;
  });
}

/** The tool call `toolCallId` of a step's assistant message, and its recorded result if any. */
export async function loadToolCall(pool: Pool, chatId: string, turn: number, step: number, toolCallId: string):
  Promise<{ call: ToolCallPart | null; recorded: { isError: boolean } | null }> {
  const { rows } = await pool.query(
    `SELECT role, parts FROM messages
     WHERE chat_id = $1 AND ((turn = $2 AND step = $3 AND idx = 0) OR tool_call_id = $4)`,
    [chatId, turn, step, toolCallId],
  );
  const assistant = rows.find((r) => r.role === 'assistant')?.parts as MessagePart[] | undefined;
  const call = assistant?.find((p): p is ToolCallPart => p.type === 'tool_call' && p.toolCallId === toolCallId) ?? null;
  const resultPart = (rows.find((r) => r.role === 'tool')?.parts as MessagePart[] | undefined)?.[0];
  return { call, recorded: resultPart?.type === 'tool_result' ? { isError: resultPart.isError } : null };
}

export type ToolResultRecord = { chatId: string; turn: number; step: number; index: number; part: Extract<MessagePart, { type: 'tool_result' }>; attempt: number };

/** Records a tool result once per tool-call id; a second attempt keeps the first result. */
export async function saveToolResult(pool: Pool, events: EventLog, r: ToolResultRecord): Promise<void> {
  await withTransaction(pool, (tx) => insertToolResult(tx, events, r));
}

/** saveToolResult inside the caller's transaction (a result stored with what the tool did). */
export async function insertToolResult(tx: PoolClient, events: EventLog, r: ToolResultRecord): Promise<void> {
  const id = stepMessageId(r.chatId, r.turn, r.step, r.index + 1);
  const { rows } = await tx.query(
    `INSERT INTO messages (id, chat_id, turn, step, idx, role, parts, tool_call_id)
     VALUES ($1, $2, $3, $4, $5, 'tool', $6, $7) ON CONFLICT DO NOTHING RETURNING ${MESSAGE_COLUMNS}`,
    [id, r.chatId, r.turn, r.step, r.index + 1, toJsonb([r.part]), r.part.toolCallId],
  );
  if (!rows[0]) return;
  await events.append(r.chatId, [
    { type: 'message_part', data: { messageId: id, attempt: r.attempt, part: r.part } },
    { type: 'message', data: toMessage(rows[0]) },
  ], tx);
  await events.pruneParts(r.chatId, id, tx);
}
