import { round, summarize, type Summary } from './stats.ts';

/** One row of the report and of results.json. */
export interface Figure {
  name: string;
  unit: string;
  median: number;
  p99: number;
  p95: number;
  /** Samples behind median/p99 (tokens, turns, runs... see `of`). */
  n: number;
  /** What one sample is. */
  of: string;
  /** Concurrent chats the figure ran at (ci mode runs fewer than the name says). */
  chats: number;
  target: string;
  /** null: informational, no target to meet. */
  met: boolean | null;
  peer?: { name: string; median: number };
  /** Breakdowns and context (all numbers in `unit` unless named otherwise). */
  detail?: Record<string, unknown>;
}

export interface FigureInput {
  name: string;
  unit: string;
  of: string;
  chats: number;
  samples: readonly number[];
  target?: string;
  check?: (s: Summary) => boolean;
  peer?: { name: string; median: number };
  detail?: Record<string, unknown>;
}

export function figure(input: FigureInput): Figure {
  const s = summarize(input.samples);
  return {
    name: input.name,
    unit: input.unit,
    median: round(s.median),
    p99: round(s.p99),
    p95: round(s.p95),
    n: s.n,
    of: input.of,
    chats: input.chats,
    target: input.target ?? '-',
    met: input.check && s.n > 0 ? input.check(s) : null,
    ...(input.peer ? { peer: { name: input.peer.name, median: round(input.peer.median) } } : {}),
    ...(input.detail ? { detail: input.detail } : {}),
  };
}

/** Median/p99 of a breakdown component, rounded, for `detail`. */
export function brief(values: readonly number[]): { median: number; p99: number } {
  const s = summarize(values);
  return { median: round(s.median), p99: round(s.p99) };
}
