// Tool approval and questions: a step whose calls need a person pauses (status requires_action)
// until each is answered through POST /chats/:id/tool-calls/:toolCallId. The workflow holds the
// wait and takes the answers (its answerToolCall update, src/workflows/chat.ts awaitActions); these
// functions are the PostgreSQL side of both ends of the pause and the API's way in.
import { randomUUID } from 'node:crypto';
import {
  answerTexts, findAction, insertActions, insertAnswer, markAnswered, settleAction, stepActions, clearAwaitingAction, type ActionState,
} from '../db/actions.ts';
import { requireChat } from '../db/chats.ts';
import { storableText } from '../db/json.ts';
import { withTransaction } from '../db/pool.ts';
import { insertToolResult } from '../db/turns.ts';
import { badRequest, conflict, DomainError } from '../shared/errors.ts';
import type { MessagePart, ToolCallPart } from '../shared/types.ts';
import type {
  ActionDecision, BeginActionsInput, BeginActionsResult, EndActionsInput, EndActionsResult,
} from '../workflows/contract.ts';
import type { ChatDeps } from './service.ts';

export const DENIED_RESULT = 'The user denied this tool call.';
export const deniedResult = (reason: string | null): string =>
  reason ? `The user denied this tool call: ${reason}` : DENIED_RESULT;
export const noAnswerResult = (timeoutMs: number): string =>
  `No answer in time: the user did not answer within ${describeDuration(timeoutMs)}, so the tool did not run.`;

function describeDuration(ms: number): string {
  const units: Array<[number, string]> = [[86_400_000, 'day'], [3_600_000, 'hour'], [60_000, 'minute'], [1_000, 'second']];
  for (const [size, name] of units) {
    if (ms >= size) {
      const n = Math.round(ms / size);
      return `${n} ${name}${n === 1 ? '' : 's'}`;
    }
  }
  return `${ms} ms`;
}

async function stepCalls(tx: Parameters<typeof insertActions>[0], ref: { chatId: string; turn: number; step: number }): Promise<ToolCallPart[]> {
  const { rows } = await tx.query(
    `SELECT parts FROM messages WHERE chat_id = $1 AND turn = $2 AND step = $3 AND idx = 0 AND role = 'assistant'`,
    [ref.chatId, ref.turn, ref.step],
  );
  return ((rows[0]?.parts ?? []) as MessagePart[]).filter((p): p is ToolCallPart => p.type === 'tool_call');
}

/** Worker side, as the pause begins: the actions become visible, and clients are told. */
export async function beginActions(deps: Pick<ChatDeps, 'pool' | 'events' | 'config'>, input: BeginActionsInput): Promise<BeginActionsResult> {
  await withTransaction(deps.pool, async (tx) => {
    const calls = await stepCalls(tx, input);
    const actions = input.actions.flatMap((a) => {
      const index = calls.findIndex((c) => c.toolCallId === a.toolCallId);
      return index < 0 ? [] : [{ ...a, index, tool: calls[index]!.name, args: calls[index]!.args }];
    });
    // A retry of a committed attempt finds its rows there already; the chat's events went out with it.
    const fresh = (await stepActions(tx, input)).length === 0;
    if (!(await insertActions(tx, input, actions)) || !fresh) return;
    await deps.events.append(input.chatId, [
      { type: 'status', data: { status: 'requires_action' } },
      {
        type: 'action_required',
        data: {
          turn: input.turn, step: input.step,
          actions: actions.map((a) => ({ toolCallId: a.toolCallId, kind: a.kind, tool: a.tool, args: a.args })),
        },
      },
    ], tx);
  });
  return { timeoutMs: deps.config.actionTimeoutMs };
}

/**
 * Worker side, as the pause ends: each asked call gets its state, and every call that will not run
 * its result (a denial with its reason, an answer, or "no answer in time"). Idempotent: a retry
 * finds the actions settled and answers as the first attempt did.
 */
export async function endActions(deps: Pick<ChatDeps, 'pool' | 'events' | 'config'>, input: EndActionsInput): Promise<EndActionsResult> {
  return withTransaction(deps.pool, async (tx) => {
    const actions = await stepActions(tx, input);
    const texts = await answerTexts(tx, input.chatId, input.answers);
    const answers = new Map(input.answers.map((a) => [a.toolCallId, a]));
    for (const action of actions.filter((a) => a.state === 'pending')) {
      const answer = answers.get(action.toolCallId);
      const text = texts.get(action.toolCallId) ?? null;
      const decision = answer?.decision;
      const state: ActionState = decision === 'approve' ? 'approved' : decision === 'deny' ? 'denied' : decision === 'answer' ? 'answered' : 'timed_out';
      action.state = state;
      await settleAction(tx, input.chatId, action.toolCallId, state, answer?.answerId ?? null);
      if (state === 'approved') continue;
      const result = state === 'answered' ? { answer: text ?? '' } : state === 'denied' ? deniedResult(text) : noAnswerResult(deps.config.actionTimeoutMs);
      await insertToolResult(tx, deps.events, {
        chatId: input.chatId, turn: input.turn, step: input.step, index: action.index, attempt: 1,
        part: { type: 'tool_result', toolCallId: action.toolCallId, name: action.tool, result, isError: state !== 'answered' },
      });
    }
    await clearAwaitingAction(tx, input.chatId);
    await deps.events.append(input.chatId, [{ type: 'status', data: { status: 'running' } }], tx);
    return { approved: actions.filter((a) => a.state === 'approved').map((a) => a.toolCallId) };
  });
}

export type AnswerBody = { decision: 'approve' | 'deny'; reason?: string | undefined } | { answer: string };

/**
 * API side: a person answers one pending action. The text is stored first and the workflow's update
 * names it by id; the workflow's validator is the judge of "still pending" (two answers at once: one
 * wins, the other hears 409).
 */
export async function answerToolCall(
  deps: ChatDeps, user: { id: string }, chatId: string, toolCallId: string, body: AnswerBody,
): Promise<{ toolCallId: string; decision: ActionDecision }> {
  await requireChat(deps.pool, user.id, chatId);
  const action = await findAction(deps.pool, chatId, toolCallId);
  if (!action) throw new DomainError('not_found', 'not_found', `tool call ${toolCallId} not found: it does not wait for an answer in this chat`);
  if (action.state !== 'pending') throw conflict(`tool call ${toolCallId} does not wait any more (${action.state})`);
  if (action.answered) throw conflict(`tool call ${toolCallId} has its answer already`);
  let decision: ActionDecision;
  let text: string | null;
  if ('answer' in body) {
    if (action.kind !== 'question') throw badRequest(`tool call ${toolCallId} (${action.tool}) waits for an approval: send {"decision": "approve" | "deny"}`);
    text = storableText(body.answer.trim());
    if (!text) throw badRequest('answer must not be empty');
    decision = 'answer';
  } else {
    if (action.kind !== 'approval') throw badRequest(`tool call ${toolCallId} is a question: send {"answer": "..."}`);
    decision = body.decision;
    text = body.reason?.trim() ? storableText(body.reason.trim()) : null;
  }
  const answerId = randomUUID();
  await insertAnswer(deps.pool, { id: answerId, chatId, toolCallId, userId: user.id, decision, text });
  let outcome;
  try {
    outcome = await deps.workflows.answerToolCall(chatId, { toolCallId, decision, answerId });
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new DomainError('unavailable', 'temporal_unavailable',
      `The answer did not reach the chat's workflow (${detail}); nothing was decided: send it again.`, { retryAfterSeconds: 5, cause: err });
  }
  if (outcome === 'answered') throw conflict(`tool call ${toolCallId} has its answer already`);
  if (outcome === 'not_pending') throw conflict(`tool call ${toolCallId} does not wait any more`);
  if (outcome === 'mismatch') throw badRequest(`tool call ${toolCallId} does not take this kind of answer`);
  await markAnswered(deps.pool, chatId, toolCallId, answerId);
  return { toolCallId, decision };
}
