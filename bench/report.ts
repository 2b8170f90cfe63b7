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
  started_at: string;
  duration_s: number;
  setup: Record<string, string>;
  figures: Figure[];
  failures: Array<{ group: string; error: string }>;
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
    `Parley bench (${results.mode}) - ${m.cores} cores (${m.cpu}), ${m.memory_gb} GB, node ${m.node}, Temporal ${m.temporal}, load at start ${m.loadavg_at_start.join(' ')}`,
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    ...results.failures.map((f) => `FAILED ${f.group}: ${f.error}`),
  ].join('\n');
}

export async function writeResults(file: string, results: Results): Promise<void> {
  await fs.writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
}
