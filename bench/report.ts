// The table printed at the end and bench/results.json (shape fixed by the issue; extra fields are
// additions, never renames).
import fs from 'node:fs/promises';
import type { Figure } from './figure.ts';
import { median, round } from './stats.ts';

export interface Machine {
  cores: number;
  node: string;
  temporal: string;
  cpu: string;
  memory_gb: number;
  loadavg_at_start: number[];
}

export interface Results {
  machine: Machine;
  mode: string;
  /** Which Parley ran: the working tree's commit, or the baseline's. */
  parley: string;
  started_at: string;
  duration_s: number;
  setup: Record<string, string>;
  figures: Figure[];
  failures: Array<{ group: string; error: string }>;
  /** With --baseline: the same figures measured earlier in this run on the baseline Parley. */
  baseline?: Half;
  /** With --pairs=N > 1: every pair (the first is `baseline` and this result's own figures). */
  pairs?: Array<{ before: Half; after: Half }>;
}

type Half = Pick<Results, 'parley' | 'duration_s' | 'figures' | 'failures'>;

/** One baseline half and one working-tree half of a --baseline run. */
export interface Pair { before: Half; after: Half }

const fmt = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : v >= 1000 ? v.toFixed(0) : String(v));
/** Relative change from `a` to `b`, as +N% / -N%. */
const change = (a: number, b: number) => (a === 0 || !Number.isFinite(a) || !Number.isFinite(b) ? '-' : `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(0)}%`);

/** A title line, then the rows in columns padded to their widest cell. */
function columns(title: string, head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [title, line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

export function table(results: Results): string {
  const rows = results.figures.map((f) => [
    f.name,
    String(f.chats),
    `${fmt(f.median)} ${f.unit}`,
    fmt(f.p99),
    f.target,
    f.met === null ? '' : f.met ? 'yes' : 'NO',
    f.peer ? `${f.peer.name}: ${fmt(f.peer.median)}` : '',
  ]);
  const m = results.machine;
  return [
    ...columns(
      `Parley bench (${results.mode}) of ${results.parley} - ${m.cores} cores (${m.cpu}), ${m.memory_gb} GB, node ${m.node}, Temporal ${m.temporal}, load at start ${m.loadavg_at_start.join(' ')}`,
      ['figure', 'chats', 'median', 'p99', 'target', 'met', 'peer'], rows),
    ...results.failures.map((f) => `FAILED ${f.group}: ${f.error}`),
  ].join('\n');
}

/** Before → after for every figure both runs have: the record docs/BENCHMARKS.md asks for. */
export function comparisonTable(before: Pick<Results, 'parley' | 'figures'>, after: Pick<Results, 'parley' | 'figures'>): string {
  const old = new Map(before.figures.map((f) => [f.name, f]));
  const rows = after.figures.filter((f) => old.has(f.name)).map((f) => {
    const b = old.get(f.name)!;
    return [f.name, f.unit, fmt(b.median), fmt(f.median), change(b.median, f.median), fmt(b.p99), fmt(f.p99), change(b.p99, f.p99)];
  });
  return columns(`Medians, same run - before: ${before.parley}; after: ${after.parley}`,
    ['figure', 'unit', 'before', 'after', 'change', 'p99 before', 'p99 after', 'change'], rows).join('\n');
}

/** Figures where more is better; for every other figure less is. */
const HIGHER_IS_BETTER = new Set(['turns_per_second']);

/**
 * With several pairs: per figure, the median over pairs of each side's median, each pair's change,
 * and in how many pairs the working tree did better. One pair's change can be drift between its
 * halves; a change that holds in every pair, whichever half ran first, is not.
 */
export function pairedComparisonTable(pairs: readonly Pair[]): string {
  const names = pairs[0]!.after.figures.map((f) => f.name);
  const rows = names.flatMap((name) => {
    const both = pairs.flatMap((p) => {
      const b = p.before.figures.find((f) => f.name === name);
      const a = p.after.figures.find((f) => f.name === name);
      return a && b ? [{ b: b.median, a: a.median, unit: a.unit }] : [];
    });
    if (!both.length) return [];
    const before = median(both.map((x) => x.b));
    const after = median(both.map((x) => x.a));
    const better = both.filter((x) => (HIGHER_IS_BETTER.has(name) ? x.a > x.b : x.a < x.b)).length;
    return [[name, both[0]!.unit, fmt(round(before)), fmt(round(after)), change(before, after),
      both.map((x) => change(x.b, x.a)).join(' '), `${better}/${both.length}`]];
  });
  return columns(
    `Medians over ${pairs.length} pairs, halves alternating (pair 1 baseline first) - before: ${pairs[0]!.before.parley}; after: ${pairs[0]!.after.parley}`,
    ['figure', 'unit', 'before', 'after', 'change', 'each pair', 'after better'], rows).join('\n');
}

export async function writeResults(file: string, results: Results): Promise<void> {
  await fs.writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
}
