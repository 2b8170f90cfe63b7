// The compaction loop's rules, kept pure so the workflow stays deterministic and they stay testable.
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { TurnSettings } from './contract.ts';

/** A turn compacts at most this often: a context that does not shrink must not loop forever. */
export const MAX_COMPACTIONS_PER_TURN = 3;

/** True when the step's context (input + cache read + cache write) reached the model's threshold. */
export function shouldCompact(contextTokens: number, s: Pick<TurnSettings, 'contextLimit' | 'compactionThresholdPercent'>): boolean {
  if (s.compactionThresholdPercent >= 100 || s.contextLimit <= 0) return false;
  return (contextTokens / s.contextLimit) * 100 >= s.compactionThresholdPercent;
}

export function isContextLengthFailure(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && cause.type === 'context_length';
}
