// Editing a user message: the transcript from that message on is replaced by a new turn that starts
// with the edited content (the transaction is src/db/edit.ts). A running turn is interrupted first,
// and the edit waits for it to settle.
import { setTimeout as sleep } from 'node:timers/promises';
import { attemptEdit, chatTurnState } from '../db/edit.ts';
import { checkContent } from '../db/messages.ts';
import { isUuid } from '../db/rows.ts';
import { conflict, notFound } from '../shared/errors.ts';
import type { Message } from '../shared/types.ts';
import { interruptRunningTurn, temporalCall, type ChatDeps } from './service.ts';

export interface EditOptions {
  /** How long to wait for an interrupted turn to settle before answering 409. */
  busyWaitMs: number;
  pollMs: number;
}

export const DEFAULT_EDIT_OPTIONS: EditOptions = { busyWaitMs: 15_000, pollMs: 100 };

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
    const result = await attemptEdit(deps, owner.id, chatId, messageId, content);
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
    const row = await chatTurnState(deps.pool, chatId);
    if (!row || row.status !== 'running' || row.turn !== turn) return;
  }
}
