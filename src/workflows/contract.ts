// The contract of the chat workflow, in one place: what its callers (the API, the reconciler, the
// CLI, operators with `temporal workflow signal`) send it, and what it and its activities exchange.
// Imported by the workflow, the activities and the Temporal client alike; it holds names, types and
// constants only, so workflow code may import it. Everything here crosses Temporal's history, so it
// carries ids and small metadata only: message content, tool arguments and results stay in PostgreSQL.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ChatStatus, ErrorInfo } from '../shared/types.ts';

// ---- The workflow and its messages ----

/** The workflow type (the exported function in chat.ts has this name). */
export const CHAT_WORKFLOW_TYPE = 'chatWorkflow';


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
  status: 'starting' | 'running' | 'requires_action' | 'waiting' | 'error' | 'completed';
  turn: number;
  step: number;
  queueLength: number;
  lastContextTokens: number | null;
  lastError: string | null;
}

/** Interrupts the running turn. */
export const interruptSignal = defineSignal<[InterruptInput?]>('interrupt');
/** Sent by the API after it queued a message in PostgreSQL (the queue's source of truth). */
export const wakeSignal = defineSignal('wake');
export const stateQuery = defineQuery<ChatWorkflowState>('state');

/**
 * Sent by a sub-agent's workflow to its parent's (`chat-<parentChatId>`, whichever run is open) each
 * time the sub-agent settles a turn or finds itself idle: a parent in `wait_agent` learns it here,
 * never by polling PostgreSQL. Parents not waiting just note it.
 */
export interface AgentSettledInput {
  chatId: string;
  /** The sub-agent's turn that settled (or its current turn, when it went idle without one). */
  turn: number;
}
export const agentSettledSignal = defineSignal<[AgentSettledInput]>('agentSettled');

/**
 * A person's answer to one pending action of a paused step (status requires_action): approve or deny
 * a call the tool policy asks about, or answer an ask_user_question. Only ids cross history: a
 * denial's reason or a question's answer is stored in PostgreSQL first (tool_action_answers) and
 * named by `answerId`. `temporal workflow update execute --name answerToolCall --input
 * '{"toolCallId": "…", "decision": "approve"}'` works too.
 */
export interface AnswerToolCallInput {
  toolCallId: string;
  decision: ActionDecision;
  /** The stored reason (deny, optional) or answer (required for `answer`). */
  answerId?: string;
}
export type ActionKind = 'approval' | 'question';
export type ActionDecision = 'approve' | 'deny' | 'answer';
/**
 * Rejected by the update's validator (ApplicationFailure types): the call does not wait for an
 * answer (never did, or the wait ended), it has its answer already, or the answer does not fit
 * its kind (a decision for a question, an answer for an approval).
 */
export const ACTION_NOT_PENDING = 'action_not_pending';
export const ACTION_ANSWERED = 'action_answered';
export const ACTION_MISMATCH = 'action_mismatch';
export const answerToolCallUpdate = defineUpdate<void, [AnswerToolCallInput]>('answerToolCall');

// ---- Tools the workflow takes part in ----

/**
 * Tool names the workflow itself acts on (every other tool is opaque to it). `spawn_agent` runs as a
 * tool activity that creates the child chat; the workflow then starts the child's first run as a child
 * workflow. `wait_agent` is a durable wait in the workflow between two short local activities.
 * These names never occur in histories recorded before sub-agents existed, so no `patched()` marker
 * guards them: an old history cannot take the new paths on replay.
 */
export const SPAWN_AGENT_TOOL = 'spawn_agent';
export const WAIT_AGENT_TOOL = 'wait_agent';

// ---- Retries: Temporal's, the one retry layer ----

/**
 * Steps, tools and summaries: 1 s, x2, capped at 60 s; a Retry-After from the provider overrides
 * the delay through the failure's nextRetryDelay. Non-retryable failures are typed by the activities.
 */
export const RETRY = { initialInterval: 1_000, backoffCoefficient: 2, maximumInterval: 60_000 } as const;
/** Attempts of one summary call (retryable provider errors). */
export const SUMMARY_MAX_ATTEMPTS = 3;

// ---- Activities ----

export type TurnOutcome = 'completed' | 'interrupted' | 'failed' | 'cancelled' | 'max_steps';

export interface AdvanceChatInput {
  chatId: string;
  /** The turn that just ended, settled in the same transaction that begins the next one. */
  finished?: { turn: number; outcome: TurnOutcome; error?: ErrorInfo };
  /** False when the workflow is ending (cancelled): settle only. */
  startNext: boolean;
  /** The workflow's deployment (ChatWorkflowInput.deployment): checked before anything is read. */
  deployment?: string;
}

/**
 * ApplicationFailure type of an activity meeting a chat of another deployment: non-retryable from
 * advanceChat and local activities (the workflow then fails its task, see chat.ts), retryable from
 * regular activities (Temporal dispatches the retry to any worker of the queue).
 */
export const WRONG_DEPLOYMENT = 'wrong_deployment';

/** Every activity input names the workflow's deployment (ChatWorkflowInput.deployment), when it has one. */
export interface Deployed {
  deployment?: string;
}

export interface TurnSettings {
  maxSteps: number;
  /** Bounds all attempts of one LLM step (schedule-to-close). */
  llmStepTimeoutMs: number;
  /** The chat model's context window, in tokens (0 when unknown: no compaction). */
  contextLimit: number;
  /** Compact when a step's context reaches this share of the window; 100 disables compaction. */
  compactionThresholdPercent: number;
}

export interface AdvanceChatResult {
  /** The turn to run now, or null when the chat is idle (or gone). */
  turn: number | null;
  status: ChatStatus | 'deleted';
  queueLength: number;
  settings: TurnSettings;
  /** The turn that began is the chat's first with an automatic title: generate one in the background. */
  generateTitle: boolean;
  /** A manual compaction to run now (instead of a turn); the chat is `running` meanwhile. */
  compact: { turn: number; afterStep: number } | null;
  /**
   * When idle: how long the run waits for another message before it completes (the worker's
   * PARLEY_RUN_IDLE_MS). Absent in histories recorded before it existed: complete at once.
   */
  idleMs?: number;
  /**
   * Set when the chat is a sub-agent that just settled a turn or is idle: the workflow tells its
   * parent (agentSettledSignal). Absent in histories recorded before sub-agents existed.
   */
  notifyParent?: { parentChatId: string; turn: number };
}

export interface StepRef extends Deployed { chatId: string; turn: number; step: number }

export interface StepToolCall {
  toolCallId: string;
  name: string;
  /** Run as a local activity (a fast workspace tool). Absent in histories recorded before it existed. */
  local?: boolean;
  /**
   * The call waits for a person before the step's calls run (the tool policy asks, or it is an
   * ask_user_question). Absent in histories recorded before approvals existed: they never pause.
   */
  ask?: ActionKind;
}

export interface LlmStepResult {
  messageId: string;
  /** Ids and names only; arguments are in the stored assistant message. */
  toolCalls: StepToolCall[];
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
  /** spawn_agent created this child chat: the workflow starts its first run as a child workflow. */
  spawned?: SpawnedAgent;
}

export interface SpawnedAgent {
  chatId: string;
  /** For the child run's search attributes, as the API's wake sets them. */
  ownerId: string;
  model: string | null;
}

/** The durable part of `wait_agent`: what to wait for, once the call's arguments were checked. */
export interface AgentWait {
  childChatId: string;
  /** Wait until the child signals that this turn (or a later one) settled. */
  turn: number;
  timeoutMs: number;
}

/** `result`: the call is answered already (bad arguments, or the child is idle); else wait, then endAgentWait. */
export type BeginAgentWaitResult = { result: ToolCallResult; wait?: undefined } | { wait: AgentWait; result?: undefined };

export interface EndAgentWaitInput extends ToolCallRef {
  wait: AgentWait;
  /** The timeout passed before the child's turn settled. */
  timedOut: boolean;
}

/** A paused step's calls that wait for a person. */
export interface BeginActionsInput extends StepRef {
  actions: Array<{ toolCallId: string; kind: ActionKind }>;
}
export interface BeginActionsResult {
  /** How long the pause lasts at most (PARLEY_ACTION_TIMEOUT_MS, read when it began). */
  timeoutMs: number;
}

export interface EndActionsInput extends StepRef {
  /** Each pending call and the answer the workflow took; an answer left out timed out. */
  answers: Array<{ toolCallId: string; decision?: ActionDecision; answerId?: string }>;
}
export interface EndActionsResult {
  /** The approved calls: they run now. Every other asked call has its result stored already. */
  approved: string[];
}

export interface BroadcastInterruptInput { chatId: string; turn: number }

export type CompactionReason = 'threshold' | 'context_length' | 'manual';

export interface CompactInput extends Deployed {
  chatId: string;
  turn: number;
  /** The summary is stored after this step's messages (0: right after the turn's user message). */
  afterStep: number;
  reason: CompactionReason;
  contextTokens: number;
  contextLimit: number;
  thresholdPercent: number;
}

export interface CompactResult {
  /** False when the summary failed or came back empty (reported to clients; the chat stays usable). */
  compacted: boolean;
}

/** The activity surface the workflow proxies (implemented in ./index.ts). */
export interface ChatActivities {
  llmStep(input: StepRef): Promise<LlmStepResult>;
  runToolCall(input: ToolCallRef): Promise<ToolCallResult>;
  compactContext(input: CompactInput): Promise<CompactResult>;
  generateTitle(input: { chatId: string } & Deployed): Promise<void>;
}

export interface ChatLocalActivities {
  advanceChat(input: AdvanceChatInput): Promise<AdvanceChatResult>;
  broadcastInterrupt(input: BroadcastInterruptInput): Promise<void>;
  /** wait_agent, before the wait: checks the call, answers at once when the child is idle. */
  beginAgentWait(input: ToolCallRef): Promise<BeginAgentWaitResult>;
  /** wait_agent, after the wait: records the child's status and report (or the timeout) as the result. */
  endAgentWait(input: EndAgentWaitInput): Promise<ToolCallResult>;
  /** A step pauses for a person: stores the pending actions, shows requires_action, sends action_required. */
  beginActions(input: BeginActionsInput): Promise<BeginActionsResult>;
  /** The pause ended (all answered, or timed out): stores the results of denied, answered and unanswered calls. */
  endActions(input: EndActionsInput): Promise<EndActionsResult>;
}
