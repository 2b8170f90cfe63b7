import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, WorkflowIdConflictPolicy } from '@temporalio/common';
import {
  ACTION_ANSWERED, ACTION_MISMATCH, ACTION_NOT_PENDING, answerToolCallUpdate, CHAT_WORKFLOW_TYPE, chatWorkflowId, interruptSignal,
  wakeSignal, type AnswerToolCallInput, type ChatWorkflowInput, type InterruptInput,
} from '../workflows/contract.ts';

/** What the workflow said to an answer: taken, or refused by the update's validator (and why). */
export type AnswerOutcome = 'accepted' | 'not_pending' | 'answered' | 'mismatch';

/**
 * How long an answer waits for the workflow to take it. The update needs a worker: with none
 * running it would wait for one, and a person should hear "try again" instead of nothing.
 */
const ANSWER_DEADLINE_MS = 20_000;

/** How the API (and CLI) drive chat workflows. Kept small so route handlers don't touch Temporal APIs. */
export interface ChatWorkflows {
  /** Starts the chat's workflow, or tells the running one there is work queued in PostgreSQL. */
  wake(chat: { id: string; ownerId: string; model?: string | null }): Promise<void>;
  /**
   * Sends the `interrupt` signal for the chat's turn `turn` (a run that has moved on to a later turn
   * ignores it); false when no workflow is running for the chat.
   */
  interrupt(chatId: string, turn: number, reason?: string): Promise<boolean>;
  /** Cancels the chat's workflow (used when deleting a chat); false when none is running. */
  cancel(chatId: string): Promise<boolean>;
  /** Whether a run of the chat's workflow is open (the reconciler's question). */
  isRunning(chatId: string): Promise<boolean>;
  /** Hands a person's answer to the paused step (the answerToolCall update). Throws when Temporal or every worker is unreachable. */
  answerToolCall(chatId: string, answer: AnswerToolCallInput): Promise<AnswerOutcome>;
}

/**
 * `deployment`: this database's identity (src/db/reconcile.ts deploymentId), carried in the input of
 * every workflow this API starts so that a worker of another Parley polling the same task queue
 * refuses the chat instead of settling it (see advanceChat).
 */
export function createChatWorkflows(client: Client, taskQueue: string, deployment: string): ChatWorkflows {
  return {
    async wake(chat) {
      const input: ChatWorkflowInput = { chatId: chat.id, deployment };
      await client.workflow.signalWithStart(CHAT_WORKFLOW_TYPE, {
        workflowId: chatWorkflowId(chat.id),
        taskQueue,
        args: [input],
        signal: wakeSignal,
        signalArgs: [],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        typedSearchAttributes: undefined,
        searchAttributes: {
          ParleyChatId: [chat.id],
          ParleyUserId: [chat.ownerId],
          ...(chat.model ? { ParleyModel: [chat.model] } : {}),
        },
      });
    },
    async interrupt(chatId, turn, reason) {
      try {
        const input: InterruptInput = reason ? { reason, turn } : { turn };
        await client.workflow.getHandle(chatWorkflowId(chatId)).signal(interruptSignal, input);
        return true;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
    async isRunning(chatId) {
      try {
        const d = await client.workflow.getHandle(chatWorkflowId(chatId)).describe();
        return d.status.name === 'RUNNING';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
    async answerToolCall(chatId, answer) {
      try {
        await client.withDeadline(Date.now() + ANSWER_DEADLINE_MS, () =>
          client.workflow.getHandle(chatWorkflowId(chatId)).executeUpdate(answerToolCallUpdate, { args: [answer] }));
        return 'accepted';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return 'not_pending';
        const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
        if (cause instanceof ApplicationFailure) {
          if (cause.type === ACTION_NOT_PENDING) return 'not_pending';
          if (cause.type === ACTION_ANSWERED) return 'answered';
          if (cause.type === ACTION_MISMATCH) return 'mismatch';
        }
        throw err;
      }
    },
    async cancel(chatId) {
      try {
        await client.workflow.getHandle(chatWorkflowId(chatId)).cancel();
        return true;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
  };
}
