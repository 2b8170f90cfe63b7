import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { RetryPolicy } from '@temporalio/common';
import { RETRY } from '../workflows/contract.ts';
import type { EventLog } from '../events/event-log.ts';
import type { ClassifiedError } from '../providers/index.ts';
import type { ErrorInfo } from '../shared/types.ts';

/**
 * When Temporal starts the next attempt, to tell clients: the provider's Retry-After when it sent
 * one, else the activity's own retry policy (as the workflow set it, RETRY in the contract).
 */
export function retryDelayMs(attempt: number, retryAfterMs?: number, policy: RetryPolicy | undefined = RETRY): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  // An activity's info carries the intervals in milliseconds.
  const ms = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);
  const initial = ms(policy.initialInterval, RETRY.initialInterval);
  const max = ms(policy.maximumInterval, RETRY.maximumInterval);
  return Math.min(initial * (policy.backoffCoefficient ?? RETRY.backoffCoefficient) ** (attempt - 1), max);
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
  const delayMs = retryDelayMs(info.attempt, typeof nextDelay === 'number' ? nextDelay : undefined, info.retryPolicy);
  const retryAt = Date.now() + delayMs;
  const deadline = info.scheduleToCloseTimeoutMs ? info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs : Infinity;
  if (retryAt >= deadline) return;
  const error = (failure.details?.[0] as ErrorInfo | undefined) ?? { message: failure.message, kind: failure.type ?? 'error', retryable: true };
  await events.append(chatId, [{
    type: 'retry',
    data: { attempt: info.attempt + 1, delayMs, error, retryingAt: new Date(retryAt).toISOString() },
  }]).catch((err) => log.warn('could not announce retry', { chatId, error: String(err) }));
}
