import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  AdvanceChatResult,
  ChatActivities,
  ChatLocalActivities,
  LlmStepResult,
  TurnOutcome,
  TurnSettings,
} from '../activities/types.ts';
import type { ErrorInfo } from '../shared/types.ts';
import { afterStep, type StepContext } from './compaction.ts';
import type { ChatWorkflowInput, ChatWorkflowState, InterruptInput } from './types.ts';

export const interruptSignal = defineSignal<[InterruptInput?]>('interrupt');
/** Sent by the API after it queued a message in PostgreSQL (the queue's source of truth). */
export const wakeSignal = defineSignal('wake');
export const stateQuery = defineQuery<ChatWorkflowState>('state');

// One retry layer: Temporal's. 1 s, ×2, capped at 60 s; a Retry-After from the provider overrides
// the delay through the failure's nextRetryDelay. Non-retryable failures are typed by the activities.
const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '60s' } as const;

const { advanceChat } = proxyActivities<ChatActivities>({
  startToCloseTimeout: '30s',
  retry,
});

const { broadcastInterrupt } = proxyLocalActivities<ChatLocalActivities>({
  startToCloseTimeout: '5s',
  retry: { ...retry, maximumAttempts: 3 },
});

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

/**
 * One execution per busy period of a chat (workflow id `chat-<chatId>`): drains the chat's queued
 * messages turn by turn, then completes. A turn is a step loop: LLM step → tools → next step.
 */
export async function chatWorkflow(input: ChatWorkflowInput): Promise<void> {
  const state: ChatWorkflowState = {
    status: 'starting', turn: 0, step: 0, queueLength: 0, lastContextTokens: null, lastError: null,
  };
  let wakeSeq = 0;
  let turnScope: CancellationScope | undefined;
  let interruptedTurn: number | undefined;
  let broadcasts: Promise<unknown>[] = [];

  setHandler(stateQuery, () => ({ ...state }));
  setHandler(wakeSignal, () => { wakeSeq++; });
  setHandler(interruptSignal, () => {
    if (!turnScope || interruptedTurn === state.turn) return;
    interruptedTurn = state.turn;
    turnScope.cancel();
    // Temporal delivers the cancellation to a running activity only on its next heartbeat; this
    // second path reaches the worker running the step at once (PostgreSQL NOTIFY).
    broadcasts.push(
      CancellationScope.nonCancellable(() => broadcastInterrupt({ chatId: input.chatId, turn: state.turn })).catch(() => {}),
    );
  });

  const apply = (r: AdvanceChatResult) => {
    state.queueLength = r.queueLength;
    state.status = r.turn !== null ? 'running' : r.status === 'error' ? 'error' : 'waiting';
  };

  let next: AdvanceChatResult | null = null;
  if (input.carryTurn !== undefined) {
    // Continued as new between turns: the previous run already began this turn in PostgreSQL.
    next = { turn: input.carryTurn, status: 'running', queueLength: 0, settings: input.carrySettings! };
  }

  for (;;) {
    if (!next) {
      const seen = wakeSeq;
      next = await advanceChat({ chatId: input.chatId, startNext: true });
      apply(next);
      if (next.turn === null) {
        // A wake that arrived while we looked means a message may have been queued after our read.
        if (seen !== wakeSeq) { next = null; continue; }
        break;
      }
    }
    const turn = next.turn!;
    const settings = next.settings;
    const { outcome, error } = await runTurn(turn, settings);
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
    if (next.turn === null) {
      if (seen !== wakeSeq) { next = null; continue; }
      break;
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof chatWorkflow>({ chatId: input.chatId, carryTurn: next.turn, carrySettings: next.settings });
    }
  }
  state.status = state.status === 'error' ? 'error' : 'completed';
  await condition(allHandlersFinished);

  async function runTurn(turn: number, settings: TurnSettings): Promise<{ outcome: TurnOutcome; error?: ErrorInfo }> {
    state.turn = turn;
    state.step = 0;
    state.status = 'running';
    const acts = stepActivities(settings);
    const scope = new CancellationScope();
    turnScope = scope;
    try {
      return await scope.run(async () => {
        for (let step = 1; step <= settings.maxSteps; step++) {
          state.step = step;
          const ref = { chatId: input.chatId, turn, step };
          const result: LlmStepResult = await acts.llmStep(ref);
          state.lastContextTokens = result.contextTokens;
          if (result.interrupted) return { outcome: 'interrupted' };
          if (result.toolCalls.length > 0) {
            // Independent calls run in parallel; results are stored by call index, so order is kept.
            const results = await Promise.all(result.toolCalls.map((call, index) =>
              acts.runToolCall({ ...ref, index, toolCallId: call.toolCallId })));
            if (results.some((r) => r.interrupted)) return { outcome: 'interrupted' };
          }
          const ctx: StepContext = { chatId: input.chatId, turn, step, contextTokens: result.contextTokens, final: result.toolCalls.length === 0 };
          await afterStep(ctx);
          if (ctx.final) return { outcome: 'completed' };
        }
        return {
          outcome: 'max_steps',
          error: { kind: 'max_steps', retryable: false, message: `The agent stopped after ${settings.maxSteps} steps without a final answer (maxSteps).` },
        };
      });
    } catch (err) {
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
