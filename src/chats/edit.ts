// Editing a user message: the transcript from that message on is replaced by a new turn that starts
// with the edited content. It keeps the chat status invariant of db/chats.ts: the rewrite happens
// only while no turn runs, in one transaction under the chat row lock (the lock advanceChat takes),
// so the workflow either settled before it or begins the new turn after it.
import { setTimeout as sleep } from 'node:timers/promises';
import { conflict, notFound } from '../api/errors.ts';
import type { Message } from '../shared/types.ts';
import { interruptRunningTurn, temporalCall, type ChatDeps } from './chats.ts';
import { checkContent, insertUserMessage } from './messages.ts';
import { recomputeCompression } from './compaction.ts';
import { resolveModel } from './models.ts';
import { withTransaction, type PoolClient } from './pool.ts';
import { isUuid } from './rows.ts';

export interface EditOptions {
  /** How long to wait for an interrupted turn to settle before answering 409. */
  busyWaitMs: number;
  pollMs: number;
}

export const DEFAULT_EDIT_OPTIONS: EditOptions = { busyWaitMs: 15_000, pollMs: 100 };

type Attempt =
  | { done: true; message: Message; modelName: string }
  | { done: false; turn: number; modelName: string | null };

async function lockEditable(tx: PoolClient, ownerId: string, chatId: string, messageId: string) {
  const { rows } = await tx.query(
    'SELECT status, turn, model_id FROM chats WHERE id = $1 AND owner_id = $2 FOR UPDATE',
    [chatId, ownerId],
  );
  const chat = rows[0] as { status: string; turn: number; model_id: string | null } | undefined;
  if (!chat) throw notFound('chat');
  const msg = isUuid(messageId)
    ? (await tx.query('SELECT turn, step, idx, role FROM messages WHERE id = $1 AND chat_id = $2', [messageId, chatId])).rows[0] as
        { turn: number; step: number; idx: number; role: string } | undefined
    : undefined;
  if (!msg) throw notFound('message');
  if (msg.role !== 'user') throw conflict('only user messages can be edited');
  return { chat, msg };
}

async function modelNameOf(tx: PoolClient, modelId: string | null): Promise<string | null> {
  if (!modelId) return null;
  return ((await tx.query('SELECT model FROM models WHERE id = $1', [modelId])).rows[0]?.model as string | undefined) ?? null;
}

/** One try: rewrites the transcript if no turn runs; otherwise clears the queue and reports the running turn. */
async function attempt(deps: ChatDeps, ownerId: string, chatId: string, messageId: string, content: string): Promise<Attempt> {
  return withTransaction(deps.pool, async (tx): Promise<Attempt> => {
    const { chat, msg } = await lockEditable(tx, ownerId, chatId, messageId);
    if (chat.status === 'running') {
      // Emptied before the interrupt: otherwise the workflow would start the next queued message as
      // soon as the interrupted turn settles, and the chat would stay busy.
      const cleared = await tx.query('DELETE FROM queued_messages WHERE chat_id = $1', [chatId]);
      if (cleared.rowCount) await deps.events.append(chatId, [{ type: 'queue_update', data: { queue: [] } }], tx);
      return { done: false, turn: chat.turn, modelName: await modelNameOf(tx, chat.model_id) };
    }
    // Idle, or pending (its turn not begun: advanceChat will begin whatever turn is pending after this
    // commit). Checked before changing anything, like a new message: one that can't run is refused.
    const model = await resolveModel(tx, chat.model_id, deps.config);
    await tx.query(
      'DELETE FROM messages WHERE chat_id = $1 AND (turn, step, idx) >= ($2, $3, $4)',
      [chatId, msg.turn, msg.step, msg.idx],
    );
    await tx.query('DELETE FROM queued_messages WHERE chat_id = $1', [chatId]);
    // A summary after the edited message is gone: what it had compressed comes back.
    await recomputeCompression(tx, chatId);
    // Deltas whose message is gone would be replayed to fresh clients as "still streaming".
    await tx.query(
      `DELETE FROM chat_events e WHERE e.chat_id = $1 AND e.type = 'message_part' AND e.message_id IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = e.message_id)`,
      [chatId],
    );
    // A new turn number rather than the edited one: message ids derive from (turn, step, idx), and an
    // id must never name two different messages (clients and the event log know the old ones).
    const turn = chat.turn + 1;
    const message = await insertUserMessage(tx, chatId, turn, content);
    await tx.query(
      `UPDATE chats SET turn = $2, status = 'pending', last_error = null, context_tokens = null, updated_at = now() WHERE id = $1`,
      [chatId, turn],
    );
    await deps.events.append(chatId, [
      { type: 'queue_update', data: { queue: [] } },
      { type: 'status', data: { status: 'pending' } },
      { type: 'message', data: message },
    ], tx);
    return { done: true, message, modelName: model.model };
  });
}

/**
 * Replaces a user message and everything after it with a new turn starting from `content`, and
 * empties the queue. A running turn is interrupted first and waited for (at most `busyWaitMs`).
 */
export async function editUserMessage(
  deps: ChatDeps, owner: { id: string }, chatId: string, messageId: string, input: { content: string },
  options: EditOptions = DEFAULT_EDIT_OPTIONS,
): Promise<Message> {
  const content = checkContent(input.content);
  if (!isUuid(chatId)) throw notFound('chat');
  const deadline = Date.now() + options.busyWaitMs;
  let interruptedTurn: number | null = null;
  for (;;) {
    const result = await attempt(deps, owner.id, chatId, messageId, content);
    if (result.done) {
      await temporalCall('the edit was saved but its turn could not start', () =>
        deps.workflows.wake({ id: chatId, ownerId: owner.id, model: result.modelName }));
      return result.message;
    }
    if (Date.now() >= deadline) throw conflict('the chat is still busy; try again');
    // Each turn that runs meanwhile (e.g. one sent after this edit began) is interrupted once.
    if (result.turn !== interruptedTurn) {
      interruptedTurn = result.turn;
      const running = await interruptRunningTurn(deps, chatId, result.turn, 'message edited', 'could not interrupt the running turn');
      // 'running' with no workflow: a lost run. A new one settles that turn (advanceChat's repair).
      if (!running) {
        await temporalCall('could not restart the chat workflow', () =>
          deps.workflows.wake({ id: chatId, ownerId: owner.id, model: result.modelName }));
      }
    }
    await waitWhileRunning(deps, chatId, result.turn, deadline, options.pollMs);
  }
}

async function waitWhileRunning(deps: ChatDeps, chatId: string, turn: number, deadline: number, pollMs: number): Promise<void> {
  while (Date.now() < deadline) {
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
    const { rows } = await deps.pool.query('SELECT status, turn FROM chats WHERE id = $1', [chatId]);
    const row = rows[0] as { status: string; turn: number } | undefined;
    if (!row || row.status !== 'running' || row.turn !== turn) return;
  }
}
