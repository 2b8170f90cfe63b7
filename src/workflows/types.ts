import type { TurnSettings } from '../activities/types.ts';

// Names shared by the workflow, its callers (API, CLI) and operators (`temporal workflow signal`).

export const chatWorkflowId = (chatId: string): string => `chat-${chatId}`;

export interface ChatWorkflowInput {
  chatId: string;
  /**
   * The deployment (database) the chat belongs to; a worker of another deployment refuses the run.
   * Absent in workflows started before it existed.
   */
  deployment?: string;
  /** Set by continue-as-new: a turn the previous run already began and this run must execute. */
  carryTurn?: number;
  carrySettings?: TurnSettings;
}

/** Payload of the `interrupt` signal; optional so `temporal workflow signal --name interrupt` works bare. */
export interface InterruptInput {
  reason?: string;
  /** The turn to interrupt; a signal for an earlier turn is stale and ignored. Absent: the current turn. */
  turn?: number;
}

/** Answer of the `state` query. */
export interface ChatWorkflowState {
  status: 'starting' | 'running' | 'waiting' | 'error' | 'completed';
  turn: number;
  step: number;
  queueLength: number;
  lastContextTokens: number | null;
  lastError: string | null;
}
