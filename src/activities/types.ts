// Inputs and outputs of Parley's activities. Everything here crosses Temporal's history, so it
// carries ids and small metadata only: message content, tool arguments and results stay in PostgreSQL.
import type { ChatStatus, ErrorInfo } from '../shared/types.ts';

export type TurnOutcome = 'completed' | 'interrupted' | 'failed' | 'cancelled' | 'max_steps';

export interface AdvanceChatInput {
  chatId: string;
  /** The turn that just ended, settled in the same transaction that begins the next one. */
  finished?: { turn: number; outcome: TurnOutcome; error?: ErrorInfo };
  /** False when the workflow is ending (cancelled): settle only. */
  startNext: boolean;
}

export interface TurnSettings {
  maxSteps: number;
  /** Bounds all attempts of one LLM step (schedule-to-close). */
  llmStepTimeoutMs: number;
}

export interface AdvanceChatResult {
  /** The turn to run now, or null when the chat is idle (or gone). */
  turn: number | null;
  status: ChatStatus | 'deleted';
  queueLength: number;
  settings: TurnSettings;
}

export interface StepRef { chatId: string; turn: number; step: number }

export interface LlmStepResult {
  messageId: string;
  /** Ids and names only; arguments are in the stored assistant message. */
  toolCalls: Array<{ toolCallId: string; name: string }>;
  finishReason: string;
  /** Input + cache read + cache write tokens of this step: what the context window holds. */
  contextTokens: number;
  /** True when an interrupt stopped the stream; the partial message is stored. */
  interrupted: boolean;
}

export interface ToolCallRef extends StepRef { index: number; toolCallId: string }

export interface ToolCallResult {
  isError: boolean;
  interrupted: boolean;
  /** True when the result was already recorded by an earlier attempt and the tool did not run again. */
  replayed: boolean;
}

export interface BroadcastInterruptInput { chatId: string; turn: number }

/** The activity surface the workflow proxies (implemented in ./index.ts). */
export interface ChatActivities {
  advanceChat(input: AdvanceChatInput): Promise<AdvanceChatResult>;
  llmStep(input: StepRef): Promise<LlmStepResult>;
  runToolCall(input: ToolCallRef): Promise<ToolCallResult>;
}

export interface ChatLocalActivities {
  broadcastInterrupt(input: BroadcastInterruptInput): Promise<void>;
}
