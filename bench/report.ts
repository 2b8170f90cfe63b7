// The table printed at the end and bench/results.json (shape fixed by the issue; extra fields are
// additions, never renames).
import fs from 'node:fs/promises';
import type { Figure } from './figure.ts';

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
  baseline?: Pick<Results, 'parley' | 'duration_s' | 'figures' | 'failures'>;
}

const fmt = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : v >= 1000 ? v.toFixed(0) : String(v));

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
  const head = ['figure', 'chats', 'median', 'p99', 'target', 'met', 'peer'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const m = results.machine;
  return [
    `Parley bench (${results.mode}) of ${results.parley} - ${m.cores} cores (${m.cpu}), ${m.memory_gb} GB, node ${m.node}, Temporal ${m.temporal}, load at start ${m.loadavg_at_start.join(' ')}`,
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    ...results.failures.map((f) => `FAILED ${f.group}: ${f.error}`),
  ].join('\n');
}

/** Before → after for every figure both runs have: the record docs/BENCHMARKS.md asks for. */
export function comparisonTable(before: Pick<Results, 'parley' | 'figures'>, after: Pick<Results, 'parley' | 'figures'>): string {
  const old = new Map(before.figures.map((f) => [f.name, f]));
  const change = (a: number, b: number) => (a === 0 || !Number.isFinite(a) || !Number.isFinite(b) ? '-' : `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(0)}%`);
  const rows = after.figures.filter((f) => old.has(f.name)).map((f) => {
    const b = old.get(f.name)!;
    return [f.name, f.unit, fmt(b.median), fmt(f.median), change(b.median, f.median), fmt(b.p99), fmt(f.p99), change(b.p99, f.p99)];
  });
  const head = ['figure', 'unit', 'before', 'after', 'change', 'p99 before', 'p99 after', 'change'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [
    `Medians, same run - before: ${before.parley}; after: ${after.parley}`,
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}

export async function writeResults(file: string, results: Results): Promise<void> {
  await fs.writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
}
