// Sizes of each mode. `full` is the benchmark; `quick` runs every figure small (< 2 min);
// `ci` is a smoke run that only proves the harness still works (< 60 s; figures not comparable).
import { parseVariant, variantProcess } from './variant.ts';

export type Mode = 'full' | 'quick' | 'ci';

/** The concurrency levels of the scaling figures, as named in results.json. */
export const LEVELS = [1, 10, 50, 200] as const;
export type Level = (typeof LEVELS)[number];

export interface Options {
  mode: Mode;
  /** Chats actually run for a nominal level (ci caps them). */
  chatsAt: (level: Level) => number;
  overhead: {
    /** LLM steps per turn (steps - 1 call a tool). */
    steps: number;
    /** Paired Temporal/plain turns at one chat. */
    pairs: number;
    /** Levels above 1 run `rounds` rounds of concurrent paired turns. */
    levels: Level[];
    rounds: number;
  };
  tokens: { levels: Level[]; perReply: number; delayMs: number; runs: (level: Level) => number; staggerMs: (chats: number) => number };
  peer: { level: Level; runs: number };
  ttft: { runs: number };
  interrupt: { runs: number; streamMs: number };
  history: { steps: number; runs: number };
  throughput: { chats: number; seconds: number; warmupSeconds: number };
  /** Figures to run (default all). */
  only: Set<string> | null;
  /** PostgreSQL durability: production settings (fsync on) unless --no-fsync. */
  fsync: boolean;
  /** CPU-profile the API and worker processes (--profile). */
  profile: boolean;
  /** --temporal=host:port: use this Temporal server instead of starting a dev server (e.g. to try server settings). */
  temporalAddress: string | null;
  /** --worker-variant=...: run bench/variant-worker.ts with these proposed changes instead of `parley worker`. */
  workerVariant: string | null;
  /** --baseline=<git rev>: measure that version of Parley too, in this run, and compare. */
  baseline: string | null;
  /**
   * --pairs=N (with --baseline): measure baseline and working tree N times each, alternating which
   * goes first, so drift over the run falls on both sides alike.
   */
  pairs: number;
}

export const FIGURE_GROUPS = ['overhead', 'tokens', 'peer', 'ttft', 'interrupt', 'history', 'throughput'] as const;

export function parseOptions(argv: string[]): Options {
  const flags = new Set(argv.filter((a) => a.startsWith('--') && !a.includes('=')));
  const valued = new Map(argv.filter((a) => a.includes('=')).map((a) => {
    const at = a.indexOf('=');
    return [a.slice(0, at).replace(/^--/, ''), a.slice(at + 1)] as const;
  }));
  const unknown = [...flags].filter((f) => !['--quick', '--ci', '--no-fsync', '--profile', '--help'].includes(f));
  const unknownValued = [...valued.keys()].filter((k) => !['only', 'temporal', 'worker-variant', 'baseline', 'pairs'].includes(k));
  if (flags.has('--help') || unknown.length || unknownValued.length) {
    const problem = unknown.length || unknownValued.length ? `unknown option ${[...unknown, ...unknownValued].join(' ')}\n` : '';
    throw new Error(`${problem}Usage: npm run bench [-- --quick | --ci] [--only=${FIGURE_GROUPS.join(',')}] [--no-fsync] [--profile] [--temporal=host:port] [--worker-variant=a,b=N | --baseline=<git rev> [--pairs=N]]`);
  }
  const mode: Mode = flags.has('--ci') ? 'ci' : flags.has('--quick') ? 'quick' : 'full';
  const only = valued.get('only') ? new Set(valued.get('only')!.split(',')) : null;
  for (const g of only ?? []) {
    if (!(FIGURE_GROUPS as readonly string[]).includes(g)) throw new Error(`--only: unknown figure group ${g} (groups: ${FIGURE_GROUPS.join(', ')})`);
  }
  const fsync = !flags.has('--no-fsync');
  if (valued.get('worker-variant')) variantProcess(parseVariant(valued.get('worker-variant')!)); // fail before starting anything
  // A variant worker runs the working tree's code: it would not measure the baseline.
  if (valued.get('worker-variant') && valued.get('baseline')) throw new Error('--worker-variant and --baseline cannot be combined');
  const pairs = valued.has('pairs') ? Number(valued.get('pairs')) : 1;
  if (!Number.isInteger(pairs) || pairs < 1 || pairs > 10) throw new Error(`--pairs must be a whole number from 1 to 10 (got ${valued.get('pairs')})`);
  if (pairs > 1 && !valued.get('baseline')) throw new Error('--pairs needs --baseline: it repeats the baseline/working-tree pair');
  const base = {
    mode, only, fsync, profile: flags.has('--profile'), temporalAddress: valued.get('temporal') ?? null,
    workerVariant: valued.get('worker-variant') ?? null, baseline: valued.get('baseline') || null, pairs,
  };
  const stagger = (chats: number) => Math.min(1_000, chats * 5);
  switch (mode) {
    case 'full':
      return {
        ...base,
        chatsAt: (level) => level,
        overhead: { steps: 10, pairs: 30, levels: [1, 10, 50, 200], rounds: 3 },
        // 10 s replies: a level's starts take a few seconds at 200 chats, and its figure counts only the
        // tokens sent while all its chats stream (see figures/tokens.ts).
        tokens: { levels: [1, 10, 50, 200], perReply: 500, delayMs: 20, runs: (l) => (l === 1 ? 5 : l === 10 ? 3 : 2), staggerMs: stagger },
        peer: { level: 50, runs: 2 },
        ttft: { runs: 50 },
        interrupt: { runs: 30, streamMs: 300 },
        history: { steps: 10, runs: 3 },
        throughput: { chats: 100, seconds: 20, warmupSeconds: 3 },
      };
    case 'quick':
      return {
        ...base,
        chatsAt: (level) => level,
        overhead: { steps: 5, pairs: 6, levels: [1, 10], rounds: 1 },
        tokens: { levels: [1, 10, 50, 200], perReply: 40, delayMs: 20, runs: (l) => (l === 1 ? 3 : 1), staggerMs: stagger },
        peer: { level: 50, runs: 1 },
        ttft: { runs: 10 },
        interrupt: { runs: 5, streamMs: 200 },
        history: { steps: 3, runs: 1 },
        throughput: { chats: 30, seconds: 5, warmupSeconds: 1 },
      };
    case 'ci':
      return {
        ...base,
        chatsAt: (level) => Math.min(level, 5),
        overhead: { steps: 3, pairs: 2, levels: [1, 10], rounds: 1 },
        tokens: { levels: [1, 50, 200], perReply: 10, delayMs: 20, runs: () => 1, staggerMs: stagger },
        peer: { level: 50, runs: 1 },
        ttft: { runs: 3 },
        interrupt: { runs: 2, streamMs: 150 },
        history: { steps: 2, runs: 1 },
        throughput: { chats: 5, seconds: 2, warmupSeconds: 1 },
      };
  }
}
