// The chat use-cases behind the API: create, send, interrupt, compact, delete. Each commits its
// decision, data and events in one PostgreSQL transaction under the chat row lock (the lock the
// workflow's advanceChat takes too), and only then wakes the chat's workflow: PostgreSQL is the
// source of truth, and a lost wake is repaired by the next one (or by the reconciler). The states:
//   pending  = a user message at turn `chats.turn` waits for the workflow
//   running  = the workflow runs turn `chats.turn`
//   waiting / error = idle.
// A message sent to an idle chat starts a turn; one sent to a busy chat is queued.
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import {
  beginPendingTurn, callOffPendingTurn, chatModelName, defaultTitle, deleteChatRow, insertChat, lockChat,
  markCompactionRequested, requireChat,
} from '../db/chats.ts';
import { subAgentTree } from '../db/agents.ts';
import type { IdempotencyClaim } from '../db/idempotency.ts';
import { storableText } from '../db/json.ts';
import { checkContent, insertUserMessage } from '../db/messages.ts';
import { resolveModel } from '../db/models.ts';
import { withTransaction, type Pool } from '../db/pool.ts';
import { enqueue } from '../db/queue.ts';
import { isUuid, type Chat } from '../db/rows.ts';
import type { EventLog } from '../events/event-log.ts';
import { conflict, DomainError, notFound, type ErrorDetails } from '../shared/errors.ts';
import type { ToolPolicy } from '../shared/resources.ts';
import type { Message, QueuedMessage } from '../shared/types.ts';
import type { ChatWorkflows } from '../temporal/chat-workflows.ts';
import { notifyInterrupt } from '../events/channels.ts';
import { checkIdempotency, remember } from './idempotency.ts';

/** What the use-cases work with: PostgreSQL, the event log, the chat workflows, and the config (default models). */
export interface ChatDeps {
  pool: Pool;
  events: EventLog;
  workflows: ChatWorkflows;
  config: Config;
}

/**
 * Calls Temporal, turning any failure into a 503 that names what was saved (`details`). Used after
 * commit: the data is stored either way, and the reconciler (src/chats/reconciler.ts) starts the
 * chat's workflow within seconds of Temporal coming back.
 */
export async function temporalCall<T>(what: string, fn: () => Promise<T>, details: ErrorDetails = {}): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new DomainError('unavailable', 'temporal_unavailable',
      `${what}: Temporal is unavailable (${detail}). It starts by itself once Temporal is reachable again.`,
      { details, retryAfterSeconds: 5, cause: err });
  }
}

/** Creates a chat with its first user message; its first turn starts right away. */
export async function createChat(
  deps: ChatDeps, owner: { id: string },
  input: { content: string; modelId?: string | undefined; title?: string | undefined; toolPolicy?: ToolPolicy | null | undefined },
  idempotency?: IdempotencyClaim,
): Promise<{ chat: Chat; message: Message }> {
  const content = checkContent(input.content);
  const outcome = await withTransaction(deps.pool, async (tx) => {
    const prior = await checkIdempotency<{ chat: Chat; message: Message }>(tx, idempotency);
    if (prior.replayed) return { result: prior.response, chatId: prior.chatId, modelName: await chatModelName(tx, prior.chatId) };
    const chatId = randomUUID();
    const title = storableText(input.title?.trim() || defaultTitle(content));
    const model = await resolveModel(tx, input.modelId, deps.config);
    // No title given: the workflow generates one after the first message.
    await insertChat(tx, {
      id: chatId, ownerId: owner.id, title, modelId: model.id, titleAuto: !input.title?.trim(), toolPolicy: input.toolPolicy ?? null,
    });
    const message = await insertUserMessage(tx, chatId, 1, content);
    await deps.events.append(chatId, [{ type: 'status', data: { status: 'pending' } }, { type: 'message', data: message }], tx);
    const result = { chat: await requireChat(tx, owner.id, chatId), message };
    await remember(tx, idempotency, 201, result, chatId);
    return { result, chatId, modelName: model.model as string | null | undefined };
  });
  // A replay wakes the chat again: the first attempt may have answered 503 before its wake got
  // through. A replayed chat that was deleted since (no model name row) is left alone.
  if (outcome.modelName !== undefined) {
    await temporalCall(`chat ${outcome.chatId} was saved but its turn could not start`, () =>
      deps.workflows.wake({ id: outcome.chatId, ownerId: owner.id, model: outcome.modelName ?? null }),
    { chatId: outcome.chatId, messageId: outcome.result.message.id });
  }
  return outcome.result;
}

export type SendBehavior = 'queue' | 'interrupt';
export type SubmitResult =
  | { queued: false; message: Message }
  | { queued: true; queuedMessage: QueuedMessage };

/**
 * Sends a user message: starts a turn when the chat is idle, else queues it (`interrupt`: first in
 * the queue, and the running turn is interrupted so it comes next).
 */
export async function submitUserMessage(
  deps: ChatDeps, owner: { id: string }, chatId: string,
  input: { content: string; behavior?: SendBehavior | undefined },
  idempotency?: IdempotencyClaim,
): Promise<SubmitResult> {
  const content = checkContent(input.content);
  if (!isUuid(chatId)) throw notFound('chat');
  const outcome = await withTransaction(deps.pool, async (tx): Promise<{ result: SubmitResult; modelName: string | null; replayed: boolean }> => {
    const prior = await checkIdempotency<SubmitResult>(tx, idempotency);
    // The chat must still be there and the caller's (requireChat answers 404 otherwise).
    if (prior.replayed) return { result: prior.response, modelName: (await lockChat(tx, owner.id, chatId)).model_name, replayed: true };
    const chat = await lockChat(tx, owner.id, chatId);
    let result: SubmitResult;
    let modelName = chat.model_name;
    if (chat.status === 'waiting' || chat.status === 'error') {
      // Checked before storing anything, so a message that can't run is refused rather than stuck.
      const model = await resolveModel(tx, chat.model_id, deps.config);
      modelName = model.model;
      const turn = chat.turn + 1;
      const message = await insertUserMessage(tx, chatId, turn, content);
      await beginPendingTurn(tx, chatId, turn);
      await deps.events.append(chatId, [{ type: 'status', data: { status: 'pending' } }, { type: 'message', data: message }], tx);
      result = { queued: false, message };
    } else {
      const { queued, queue } = await enqueue(tx, chatId, content, input.behavior === 'interrupt');
      await deps.events.append(chatId, [{ type: 'queue_update', data: { queue } }], tx);
      result = { queued: true, queuedMessage: queued };
    }
    await remember(tx, idempotency, 202, result, chatId);
    return { result, modelName, replayed: false };
  });
  const saved = outcome.result.queued ? { queuedMessageId: outcome.result.queuedMessage.id } : { messageId: outcome.result.message.id };
  // Also when busy: harmless for a running workflow, and restarts one that was lost.
  await temporalCall(`the message was saved in chat ${chatId} but the chat workflow could not be reached`, () =>
    deps.workflows.wake({ id: chatId, ownerId: owner.id, model: outcome.modelName }), { chatId, ...saved });
  // A replay does not interrupt again: the first request did, or its turn has moved on.
  if (outcome.result.queued && input.behavior === 'interrupt' && !outcome.replayed) await interruptChat(deps, owner, chatId, 'new message');
  return outcome.result;
}

/**
 * Interrupts the chat's turn; false when there was none. A turn whose message the workflow has not
 * picked up yet (status pending) is called off here, under the row lock the workflow takes to begin
 * it, so an early Ctrl-C is never lost; a running turn gets the workflow's `interrupt` signal.
 */
export async function interruptChat(deps: ChatDeps, owner: { id: string }, chatId: string, reason?: string): Promise<boolean> {
  if (!isUuid(chatId)) throw notFound('chat');
  const { status, turn } = await withTransaction(deps.pool, async (tx) => {
    const chat = await lockChat(tx, owner.id, chatId);
    if (chat.status === 'pending') {
      // The user message stays; queued messages behind it still run.
      await callOffPendingTurn(tx, chatId);
      await deps.events.append(chatId, [{ type: 'status', data: { status: 'waiting', lastError: null } }], tx);
    }
    return chat;
  });
  if (status === 'pending') return true;
  if (status !== 'running') return false;
  return interruptRunningTurn(deps, chatId, turn, reason, 'could not interrupt the chat');
}

/**
 * The `interrupt` signal (the durable path: the workflow cancels the turn), then a NOTIFY straight to
 * the worker running the turn's step. The workflow sends that NOTIFY too, but only once it sees the
 * signal, and a workflow task held by a running local activity (a fast tool) delays signals until
 * it ends. False when no workflow runs for the chat.
 */
export async function interruptRunningTurn(deps: ChatDeps, chatId: string, turn: number, reason: string | undefined, failure: string): Promise<boolean> {
  const running = await temporalCall(failure, () => deps.workflows.interrupt(chatId, turn, reason));
  // Best effort: the signal was delivered, and the workflow sends the same NOTIFY once it sees it.
  if (running) await notifyInterrupt(deps.pool, chatId, turn).catch(() => {});
  return running;
}

/**
 * Asks the workflow to compact an idle chat's context now (its summary and marker stream like any
 * compaction). Busy chats answer 409: a running turn compacts by itself when it needs to.
 */
export async function requestCompaction(deps: ChatDeps, owner: { id: string }, chatId: string): Promise<void> {
  if (!isUuid(chatId)) throw notFound('chat');
  const modelName = await withTransaction(deps.pool, async (tx) => {
    const chat = await lockChat(tx, owner.id, chatId);
    if (chat.status !== 'waiting' && chat.status !== 'error') {
      throw conflict(`the chat is ${chat.status}: compact it once the running turn is done`);
    }
    const model = await resolveModel(tx, chat.model_id, deps.config);
    await markCompactionRequested(tx, chatId);
    return model.model;
  });
  await temporalCall('the compaction was requested but could not start', () =>
    deps.workflows.wake({ id: chatId, ownerId: owner.id, model: modelName }));
}

/**
 * Cancels the chat's workflow, then deletes the chat (the workflow's cleanup tolerates a missing
 * chat). Its sub-agents go first, the deepest first, the same way: a sub-agent never outlives its parent.
 */
export async function deleteChat(deps: Pick<ChatDeps, 'pool' | 'workflows'>, ownerId: string, chatId: string): Promise<void> {
  await requireChat(deps.pool, ownerId, chatId);
  for (const agent of await subAgentTree(deps.pool, chatId)) {
    await temporalCall('could not stop a sub-agent\'s workflow', () => deps.workflows.cancel(agent.id));
    await deleteChatRow(deps.pool, ownerId, agent.id);
  }
  await temporalCall('could not stop the chat workflow', () => deps.workflows.cancel(chatId));
  if (!(await deleteChatRow(deps.pool, ownerId, chatId))) throw notFound('chat');
}

