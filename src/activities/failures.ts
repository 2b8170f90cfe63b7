import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { EventLog } from '../events/types.ts';
import type { ClassifiedError } from '../providers/types.ts';
import type { ErrorInfo } from '../shared/types.ts';

// Mirrors the workflow's retry policy, to tell clients when the next attempt starts.
const INITIAL_MS = 1_000;
const COEFFICIENT = 2;
const MAX_MS = 60_000;

export function retryDelayMs(attempt: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  return Math.min(INITIAL_MS * COEFFICIENT ** (attempt - 1), MAX_MS);
}

export function errorInfo(e: ClassifiedError): ErrorInfo {
  return {
    message: e.message,
    kind: e.kind,
    retryable: e.retryable,
    ...(e.provider ? { provider: e.provider } : {}),
    ...(e.statusCode ? { statusCode: e.statusCode } : {}),
  };
}

/** A typed failure: Temporal retries it unless non-retryable; the workflow reads ErrorInfo from details. */
export function toApplicationFailure(e: ClassifiedError): ApplicationFailure {
  return ApplicationFailure.create({
    message: e.message,
    type: e.kind,
    nonRetryable: !e.retryable,
    details: [errorInfo(e)],
    ...(e.retryable && e.retryAfterMs !== undefined ? { nextRetryDelay: e.retryAfterMs } : {}),
  });
}

/** Worker shutdown mid-step: fail this attempt retryably so another worker takes the step over. */
export function workerShutdownFailure(): ApplicationFailure {
  return ApplicationFailure.create({
    message: 'The worker shut down during this step; another worker retries it.',
    type: 'worker_shutdown',
    nonRetryable: false,
    details: [{ message: 'worker shut down', kind: 'worker_shutdown', retryable: true } satisfies ErrorInfo],
  });
}

/**
 * Tells the chat's clients that this attempt failed and when the next starts, unless the step's
 * schedule-to-close budget ends first (then the failure ends the turn instead).
 */
export async function announceRetry(events: EventLog, chatId: string, failure: ApplicationFailure): Promise<void> {
  const { info } = Context.current();
  const nextDelay = failure.nextRetryDelay;
  const delayMs = retryDelayMs(info.attempt, typeof nextDelay === 'number' ? nextDelay : undefined);
  const retryAt = Date.now() + delayMs;
  const deadline = info.scheduleToCloseTimeoutMs ? info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs : Infinity;
  if (retryAt >= deadline) return;
  const error = (failure.details?.[0] as ErrorInfo | undefined) ?? { message: failure.message, kind: failure.type ?? 'error', retryable: true };
  await events.append(chatId, [{
    type: 'retry',
    data: { attempt: info.attempt + 1, delayMs, error, retryingAt: new Date(retryAt).toISOString() },
  }]).catch((err) => log.warn('could not announce retry', { chatId, error: String(err) }));
}
