import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ErrorInfo } from '../shared/types.ts';
import { MAX_COMPACTIONS_PER_TURN, isContextLengthFailure, shouldCompact } from './compaction.ts';
import {
  ACTION_ANSWERED, ACTION_MISMATCH, ACTION_NOT_PENDING, answerToolCallUpdate,
  agentSettledSignal, CHAT_WORKFLOW_TYPE, chatWorkflowId, interruptSignal, RETRY, SPAWN_AGENT_TOOL, stateQuery, SUMMARY_MAX_ATTEMPTS, WAIT_AGENT_TOOL,
  wakeSignal, WRONG_DEPLOYMENT,
  type ActionKind, type AnswerToolCallInput, type AdvanceChatInput, type AdvanceChatResult, type ChatActivities, type ChatLocalActivities, type ChatWorkflowInput,
  type ChatWorkflowState, type LlmStepResult, type SpawnedAgent, type StepRef, type StepToolCall, type ToolCallRef, type ToolCallResult,
  type TurnOutcome, type TurnSettings,
} from './contract.ts';

/**
 * Not a Temporal failure on purpose: thrown out of the workflow function, it fails the workflow task
 * (retried) instead of the workflow (see `local` in chatWorkflow).
 */
class DeploymentMismatch extends Error {
  override name = 'DeploymentMismatch';
}

// Defined in the contract, re-exported for the worker's workflow bundle and the tests.
export { agentSettledSignal, answerToolCallUpdate, interruptSignal, stateQuery, wakeSignal };

// One retry layer: Temporal's (RETRY in the contract).
const retry = RETRY;

// A short, idempotent PostgreSQL transaction (keyed on the run id): as a local activity it runs in
// the workflow task that needs it, saving an activity dispatch and a workflow task at both ends of
// every turn.
const { advanceChat: advanceChatActivity } = proxyLocalActivities<ChatLocalActivities>({
  startToCloseTimeout: '30s',
  retry,
});

// Titles are best effort: a small retry budget, and a failure never reaches the chat.
const { generateTitle } = proxyActivities<ChatActivities>({
  startToCloseTimeout: '1m',
  retry: { ...retry, maximumAttempts: 3 },
});

const { broadcastInterrupt } = proxyLocalActivities<ChatLocalActivities>({
  startToCloseTimeout: '5s',
  retry: { ...retry, maximumAttempts: 3 },
});

// The short PostgreSQL reads and writes around the durable waits: wait_agent's, and a step paused
// for a person's answers.
const { beginAgentWait, endAgentWait, beginActions, endActions } = proxyLocalActivities<ChatLocalActivities>({
  startToCloseTimeout: '30s',
  retry,
});

function compactionActivities(settings: TurnSettings) {
  return proxyActivities<ChatActivities>({
    // The summary call has its own timeout (PARLEY_SUMMARY_TIMEOUT_MS) inside the activity.
    startToCloseTimeout: '10m',
    scheduleToCloseTimeout: settings.llmStepTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { ...retry, maximumAttempts: SUMMARY_MAX_ATTEMPTS },
  });
}

function stepActivities(settings: TurnSettings) {
  return proxyActivities<ChatActivities>({
    // Each attempt may stream for minutes; heartbeats detect a dead worker long before that.
    startToCloseTimeout: '10m',
    scheduleToCloseTimeout: settings.llmStepTimeoutMs,
    heartbeatTimeout: '20s',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry,
  });
}

// Fast workspace tools (the step result marks them `local`) run in the workflow task that scheduled
// them: no activity dispatch, and their results arrive without a workflow task of their own.
function localToolActivities(settings: TurnSettings) {
  return proxyLocalActivities<ChatActivities>({
    startToCloseTimeout: '1m',
    scheduleToCloseTimeout: settings.llmStepTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry,
  });
}

/**
 * One execution per busy period of a chat (workflow id `chat-<chatId>`): drains the chat's queued
 * messages turn by turn, waits up to PARLEY_RUN_IDLE_MS for another, then completes. A turn is a
 * step loop: LLM step → tools → next step.
 */
export async function chatWorkflow(input: ChatWorkflowInput): Promise<void> {
  const state: ChatWorkflowState = {
    status: 'starting', turn: 0, step: 0, queueLength: 0, lastContextTokens: null, lastError: null,
  };
  let wakeSeq = 0;
  let turnScope: CancellationScope | undefined;
  let broadcasts: Promise<unknown>[] = [];
  // Work that must finish before the run ends (titles, signals to a parent), but never holds up a turn.
  const background: Promise<unknown>[] = [];
  // Sub-agents' latest settled turns, as their agentSettled signals said (see waitAgent).
  const settledAgents = new Map<string, number>();
  // The paused step's calls that wait for a person, and the answers taken so far (see awaitActions).
  let pendingActions: Map<string, { kind: ActionKind; answer?: AnswerToolCallInput }> | undefined;

  setHandler(stateQuery, () => ({ ...state }));
  setHandler(wakeSignal, () => { wakeSeq++; });
  setHandler(agentSettledSignal, ({ chatId, turn }) => {
    if (turn > (settledAgents.get(chatId) ?? 0)) settledAgents.set(chatId, turn);
  });
  // An answer is checked here, before it is accepted: the API learns at once that a call does not
  // wait (404) or has its answer (409), and a rejected update leaves no trace in history.
  setHandler(answerToolCallUpdate, (answer) => {
    const pending = pendingActions?.get(answer.toolCallId);
    if (pending) pending.answer = answer;
  }, {
    validator: (answer) => {
      const id = typeof answer?.toolCallId === 'string' ? answer.toolCallId : '';
      const pending = pendingActions?.get(id);
      if (!pending) throw ApplicationFailure.nonRetryable(`Tool call ${JSON.stringify(id)} does not wait for an answer.`, ACTION_NOT_PENDING);
      if (pending.answer) throw ApplicationFailure.nonRetryable(`Tool call ${id} has its answer already.`, ACTION_ANSWERED);
      const fits = pending.kind === 'question'
        ? answer.decision === 'answer' && typeof answer.answerId === 'string'
        : answer.decision === 'approve' || answer.decision === 'deny';
      if (!fits) {
        throw ApplicationFailure.nonRetryable(pending.kind === 'question'
          ? `Tool call ${id} is a question: answer it (decision "answer" with a stored answerId).`
          : `Tool call ${id} waits for an approval: decision "approve" or "deny".`, ACTION_MISMATCH);
      }
    },
  });
  setHandler(interruptSignal, (request) => {
    if (!turnScope || turnScope.consideredCancelled) return;
    // A signal for a turn that already ended must not stop the next one.
    if (request?.turn !== undefined && request.turn !== state.turn) return;
    turnScope.cancel();
    // Temporal delivers the cancellation to a running activity only on its next heartbeat; this
    // second path reaches the worker running the step at once (PostgreSQL NOTIFY).
    broadcasts.push(
      CancellationScope.nonCancellable(() => broadcastInterrupt({ chatId: input.chatId, turn: state.turn })).catch(() => {}),
    );
  });

  // Every activity input names the run's deployment. A worker of another deployment refuses it. A
  // regular activity's refusal is retried by Temporal on any worker of the queue; a local activity
  // (which runs inside the workflow task) must not settle or end this workflow, so its refusal fails
  // the workflow task instead (a plain Error does): Temporal retries the task, and sooner or later a
  // worker of the right deployment takes it over.
  const deployed = <T extends object>(args: T): T => (input.deployment !== undefined ? { ...args, deployment: input.deployment } : args);
  const local = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      // A local activity's failure reaches the workflow as the ApplicationFailure itself (a regular
      // activity's would be wrapped in an ActivityFailure): look at both.
      const failure = err instanceof ActivityFailure ? err.cause : err;
      if (failure instanceof ApplicationFailure && failure.type === WRONG_DEPLOYMENT) {
        throw new DeploymentMismatch(failure.message, { cause: err });
      }
      throw err;
    }
  };
  const advanceChat = async (args: AdvanceChatInput): Promise<AdvanceChatResult> => {
    const r = await local(() => advanceChatActivity(deployed(args)));
    // A sub-agent tells its parent each time a turn settles; a parent whose run is closed (not
    // waiting) has nothing to hear, so a failed signal is fine. Sent in the background: it must go
    // out before this run ends, but never delays the next turn.
    if (r.notifyParent) {
      background.push(getExternalWorkflowHandle(chatWorkflowId(r.notifyParent.parentChatId))
        .signal(agentSettledSignal, { chatId: input.chatId, turn: r.notifyParent.turn })
        .catch(() => undefined));
    }
    return r;
  };

  const apply = (r: AdvanceChatResult) => {
    state.queueLength = r.queueLength;
    state.status = r.turn !== null || r.compact ? 'running' : r.status === 'error' ? 'error' : 'waiting';
  };

  let next: AdvanceChatResult | null = null;
  if (input.carryTurn !== undefined) {
    // Continued as new between turns: the previous run already began this turn in PostgreSQL.
    next = { turn: input.carryTurn, status: 'running', queueLength: 0, settings: input.carrySettings!, generateTitle: false, compact: null };
  }

  for (;;) {
    if (!next) {
      const seen = wakeSeq;
      next = await advanceChat({ chatId: input.chatId, startNext: true });
      apply(next);
      if (next.turn === null && !next.compact) {
        // A wake that arrived while we looked means a message may have been queued after our read.
        if (await wokeWhileIdle(next, seen)) { next = null; continue; }
        break;
      }
    }
    let turn: number;
    let result: { outcome: TurnOutcome; error?: ErrorInfo };
    if (next.compact) {
      // A manual compaction (POST /chats/:id/compact) runs as a turn of its own kind.
      turn = next.compact.turn;
      result = await runManualCompaction(next.compact.turn, next.compact.afterStep, next.settings);
    } else {
      turn = next.turn!;
      if (next.generateTitle) background.push(generateTitle(deployed({ chatId: input.chatId })).catch(() => undefined));
      result = await runTurn(turn, next.settings);
    }
    const { outcome, error } = result;
    await Promise.all(broadcasts);
    broadcasts = [];
    turnScope = undefined;
    if (error) state.lastError = error.message;

    if (outcome === 'cancelled') {
      await CancellationScope.nonCancellable(() =>
        advanceChat({ chatId: input.chatId, finished: { turn, outcome, error }, startNext: false }));
      throw new CancelledFailure('chat workflow cancelled');
    }
    const seen = wakeSeq;
    next = await advanceChat({ chatId: input.chatId, finished: { turn, outcome, error }, startNext: true });
    apply(next);
    if (next.turn === null && !next.compact) {
      if (await wokeWhileIdle(next, seen)) { next = null; continue; }
      break;
    }
    if (workflowInfo().continueAsNewSuggested && next.turn !== null) {
      await Promise.all(background);
      await condition(allHandlersFinished);
      await continueAsNew<typeof chatWorkflow>({
        chatId: input.chatId, carryTurn: next.turn, carrySettings: next.settings,
        ...(input.deployment !== undefined ? { deployment: input.deployment } : {}),
      });
    }
  }
  await Promise.all(background);
  state.status = state.status === 'error' ? 'error' : 'completed';
  await condition(allHandlersFinished);

  /**
   * The chat is idle: true when a wake came after `seen` (while advanceChat looked, within the run's
   * idle window, or while a title still being generated kept the run open). Waiting keeps the run,
   * cached on its worker, for a follow-up; a run the server asks to continue as new does not wait
   * (the next message starts a fresh one).
   */
  async function wokeWhileIdle(idle: AdvanceChatResult, seen: number): Promise<boolean> {
    if (seen !== wakeSeq) return true;
    if (idle.idleMs && !workflowInfo().continueAsNewSuggested) await condition(() => wakeSeq !== seen, idle.idleMs);
    await Promise.all(background);
    return wakeSeq !== seen;
  }

  /**
   * The first run of a sub-agent spawn_agent created: a child workflow of this run, so the Temporal UI
   * shows the tree. ABANDON both ways: the child outlives this turn and this run, and interrupting
   * this turn does not cancel the child (the interrupt reaches it as an interrupt, see
   * broadcastInterrupt). A child the reconciler started first is already running, which is fine.
   */
  async function startAgent(agent: SpawnedAgent): Promise<void> {
    try {
      await startChild(CHAT_WORKFLOW_TYPE, {
        workflowId: chatWorkflowId(agent.chatId),
        args: [{ chatId: agent.chatId, ...(input.deployment !== undefined ? { deployment: input.deployment } : {}) }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        cancellationType: ChildWorkflowCancellationType.ABANDON,
        searchAttributes: {
          ParleyChatId: [agent.chatId],
          ParleyUserId: [agent.ownerId],
          ...(agent.model ? { ParleyModel: [agent.model] } : {}),
        },
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  /**
   * wait_agent: a durable wait for the sub-agent's agentSettled signal, bounded by the call's
   * timeout. No activity holds a slot and nothing polls while it waits; an interrupt of this turn
   * cancels the wait like any step.
   */
  async function waitAgent(ref: ToolCallRef): Promise<ToolCallResult> {
    const begun = await local(() => beginAgentWait(ref));
    if (begun.result) return begun.result;
    const { wait } = begun;
    const settled = await condition(() => (settledAgents.get(wait.childChatId) ?? 0) >= wait.turn, wait.timeoutMs);
    return local(() => endAgentWait({ ...ref, wait, timedOut: !settled }));
  }

  /**
   * A step whose calls include some that wait for a person pauses before running any of them, for
   * as long as PARLEY_ACTION_TIMEOUT_MS: a durable wait, free while it lasts, that survives restarts
   * (the answers are updates in history). Returns the calls to run now: those that needed no answer
   * and the approved ones. An interrupt cancels the wait like any step; the turn's settling gives the
   * pending calls their "interrupted" results.
   */
  async function awaitActions(ref: StepRef, calls: StepToolCall[]): Promise<StepToolCall[]> {
    const asked = calls.filter((c) => c.ask);
    // Open before beginActions commits: an answer sent the moment the API can see the action is
    // accepted, not refused.
    const pending = new Map(asked.map((c) => [c.toolCallId, { kind: c.ask! } as { kind: ActionKind; answer?: AnswerToolCallInput }]));
    pendingActions = pending;
    state.status = 'requires_action';
    try {
      const { timeoutMs } = await local(() => beginActions({ ...ref, actions: asked.map((c) => ({ toolCallId: c.toolCallId, kind: c.ask! })) }));
      await condition(() => [...pending.values()].every((a) => a.answer), timeoutMs);
    } finally {
      // Closed before the results are stored: a late answer is refused, never accepted and lost.
      pendingActions = undefined;
      state.status = 'running';
    }
    const answers = [...pending.entries()].map(([toolCallId, a]) => ({
      toolCallId,
      ...(a.answer ? { decision: a.answer.decision, ...(a.answer.answerId !== undefined ? { answerId: a.answer.answerId } : {}) } : {}),
    }));
    const { approved } = await local(() => endActions({ ...ref, answers }));
    return calls.filter((c) => !c.ask || approved.includes(c.toolCallId));
  }

  async function runManualCompaction(turn: number, afterStep: number, settings: TurnSettings): Promise<{ outcome: TurnOutcome; error?: ErrorInfo }> {
    state.turn = turn;
    state.status = 'running';
    const scope = new CancellationScope();
    turnScope = scope;
    try {
      await scope.run(() => compactionActivities(settings).compactContext(deployed({
        chatId: input.chatId, turn, afterStep, reason: 'manual' as const, contextTokens: state.lastContextTokens ?? 0,
        contextLimit: settings.contextLimit, thresholdPercent: settings.compactionThresholdPercent,
      })));
      return { outcome: 'completed' };
    } catch (err) {
      if (err instanceof DeploymentMismatch) throw err;
      if (isCancellation(err)) return { outcome: CancellationScope.current().consideredCancelled ? 'cancelled' : 'interrupted' };
      return { outcome: 'failed', error: toErrorInfo(err) };
    }
  }

  async function runTurn(turn: number, settings: TurnSettings): Promise<{ outcome: TurnOutcome; error?: ErrorInfo }> {
    state.turn = turn;
    state.step = 0;
    state.status = 'running';
    const acts = stepActivities(settings);
    const localTools = localToolActivities(settings);
    const runToolCall = async (call: StepToolCall, ref: ToolCallRef): Promise<ToolCallResult> => {
      if (call.name === WAIT_AGENT_TOOL) return waitAgent(ref);
      const r = await (call.local ? local(() => localTools.runToolCall(ref)) : acts.runToolCall(ref));
      if (call.name === SPAWN_AGENT_TOOL && r.spawned) await startAgent(r.spawned);
      return r;
    };
    const scope = new CancellationScope();
    turnScope = scope;
    try {
      return await scope.run(async () => {
        const { compactContext } = compactionActivities(settings);
        let compactions = 0;
        const compact = async (afterStep: number, reason: 'threshold' | 'context_length', contextTokens: number) => {
          compactions++;
          const r = await compactContext(deployed({
            chatId: input.chatId, turn, afterStep, reason, contextTokens,
            contextLimit: settings.contextLimit, thresholdPercent: settings.compactionThresholdPercent,
          }));
          return r.compacted;
        };
        let retriedAfterCompaction = false;
        for (let step = 1; step <= settings.maxSteps; step++) {
          state.step = step;
          const ref = deployed({ chatId: input.chatId, turn, step });
          let result: LlmStepResult;
          try {
            result = await acts.llmStep(ref);
          } catch (err) {
            // The provider refused the prompt as too long: compact once, then retry the step.
            if (isContextLengthFailure(err) && !retriedAfterCompaction && compactions < MAX_COMPACTIONS_PER_TURN &&
                await compact(step - 1, 'context_length', state.lastContextTokens ?? 0)) {
              retriedAfterCompaction = true;
              step--;
              continue;
            }
            throw err;
          }
          retriedAfterCompaction = false;
          state.lastContextTokens = result.contextTokens;
          if (result.interrupted) return { outcome: 'interrupted' };
          if (result.toolCalls.length > 0) {
            const toRun = result.toolCalls.some((c) => c.ask) ? await awaitActions(ref, result.toolCalls) : result.toolCalls;
            // Independent calls run in parallel; results are stored by call index, so order is kept.
            const results = await Promise.all(toRun.map((call) => {
              const index = result.toolCalls.indexOf(call);
              return runToolCall(call, { ...ref, index, toolCallId: call.toolCallId });
            }));
            if (results.some((r) => r.interrupted)) return { outcome: 'interrupted' };
          }
          const final = result.toolCalls.length === 0;
          if (compactions < MAX_COMPACTIONS_PER_TURN && shouldCompact(result.contextTokens, settings)) {
            // Compacting after the final answer re-enters the loop: the agent continues from its summary.
            if (await compact(step, 'threshold', result.contextTokens)) continue;
          }
          if (final) return { outcome: 'completed' };
        }
        return {
          outcome: 'max_steps',
          error: { kind: 'max_steps', retryable: false, message: `The agent stopped after ${settings.maxSteps} steps without a final answer (maxSteps).` },
        };
      });
    } catch (err) {
      if (err instanceof DeploymentMismatch) throw err;
      if (isCancellation(err)) {
        // A workflow cancel cancels the root scope; an interrupt cancels only this turn's scope.
        if (CancellationScope.current().consideredCancelled) return { outcome: 'cancelled' };
        return { outcome: 'interrupted' };
      }
      return { outcome: 'failed', error: toErrorInfo(err) };
    }
  }
}

function toErrorInfo(err: unknown): ErrorInfo {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    const detail = cause.details?.[0] as Partial<ErrorInfo> | undefined;
    return {
      message: detail?.message ?? cause.message,
      kind: detail?.kind ?? cause.type ?? 'error',
      retryable: false,
      ...(detail?.provider ? { provider: detail.provider } : {}),
      ...(detail?.statusCode ? { statusCode: detail.statusCode } : {}),
    };
  }
  if (cause instanceof Error) {
    const kind = cause.name === 'TimeoutFailure' ? 'timeout' : 'error';
    return { message: cause.message, kind, retryable: false };
  }
  return { message: String(cause), kind: 'error', retryable: false };
}
