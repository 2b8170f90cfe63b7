// `npm run bench [-- --quick | --ci] [--only=group,...] [--no-fsync] [--baseline=<rev> [--pairs=N]]`: starts a
// whole Parley (see stack.ts), measures every figure (see figures/), prints one table and writes
// bench/results.json. Comparisons (Temporal vs plain loop, Parley vs Workflow Streams, and with
// --baseline an earlier Parley against this one) run side by side in this run.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findTemporalCli } from '../src/dev/temporal.ts';
import type { Figure } from './figure.ts';
import { historyFigures } from './figures/history.ts';
import { interruptFigure } from './figures/interrupt.ts';
import { overheadFigures } from './figures/overhead.ts';
import { peerFigure, peerRun, type PeerRun } from './figures/peer.ts';
import { throughputFigure } from './figures/throughput.ts';
import { tokenFigures, tokenMedian, tokenRuns, type TokenRun } from './figures/tokens.ts';
import { ttftFigures } from './figures/ttft.ts';
import { FIGURE_GROUPS, parseOptions, type Options } from './options.ts';
import { formatProfiles, summarizeProfiles } from './profile.ts';
import { comparisonTable, pairedComparisonTable, table, writeResults, type Results } from './report.ts';
import { exportBaseline, type ParleyTree } from './baseline.ts';
import { startStack, type Stack } from './stack.ts';
import { execFileSync } from 'node:child_process';

const here = path.dirname(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const started = Date.now();
  const log = (msg: string) => console.error(`[bench +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
  const loadavg = os.loadavg().map((l) => Math.round(l * 100) / 100);
  if (loadavg[0]! > 0.5) log(`warning: load average ${loadavg[0]} before start; other work on this machine skews the figures`);

  const repoRoot = path.resolve(here, '..');
  const current: ParleyTree = { root: repoRoot, label: workingTreeLabel(repoRoot) };
  const baselineTree = opts.baseline ? await exportBaseline(repoRoot, opts.baseline) : null;
  const pairs: Array<{ before: Results; after: Results }> = [];
  let results: Results;
  try {
    if (!baselineTree) {
      results = await measure(opts, log, current, loadavg, started);
    } else {
      // The peer does not depend on Parley's version: measured once, in the first working-tree half.
      const groups = FIGURE_GROUPS.filter((g) => g !== 'peer' && (!opts.only || opts.only.has(g)));
      const comparable = { ...opts, only: new Set<string>(groups), profile: false };
      for (let i = 0; i < opts.pairs; i++) {
        const half = async (tree: ParleyTree, halfOpts: Options) => {
          log(`${tree === current ? 'working tree' : 'baseline'}${opts.pairs > 1 ? ` (pair ${i + 1} of ${opts.pairs})` : ''}: ${tree.label}`);
          return measure(halfOpts, log, tree, loadavg, started);
        };
        const treeOpts = i === 0 ? opts : comparable;
        // Alternate which half goes first, so drift over a long run falls on both sides alike.
        if (i % 2 === 0) {
          const before = await half(baselineTree, comparable);
          pairs.push({ before, after: await half(current, treeOpts) });
        } else {
          const after = await half(current, treeOpts);
          pairs.push({ before: await half(baselineTree, comparable), after });
        }
      }
      results = pairs[0]!.after;
      const brief = (r: Results) => ({ parley: r.parley, duration_s: r.duration_s, figures: r.figures, failures: r.failures });
      results.baseline = brief(pairs[0]!.before);
      if (pairs.length > 1) results.pairs = pairs.map((p) => ({ before: brief(p.before), after: brief(p.after) }));
    }
  } finally {
    await baselineTree?.remove();
  }
  results.duration_s = Math.round((Date.now() - started) / 1000);
  await writeResults(path.join(here, 'results.json'), results);
  console.log(table(results));
  if (pairs.length === 1) console.log(`\n${comparisonTable(pairs[0]!.before, pairs[0]!.after)}`);
  if (pairs.length > 1) console.log(`\n${pairedComparisonTable(pairs)}`);
  console.log(`\nwrote ${path.relative(process.cwd(), path.join(here, 'results.json'))} (${results.duration_s} s)`);
  if (results.failures.length || pairs.some((p) => p.before.failures.length || p.after.failures.length)) process.exitCode = 1;
}

/** One whole measurement: a fresh stack running `parley`, every wanted figure, the stack stopped. */
async function measure(opts: Options, log: (msg: string) => void, parley: ParleyTree, loadavg: number[], started: number): Promise<Results> {
  const began = Date.now();
  const stack = await startStack(opts, log, parley);
  // Ctrl-C must not leave PostgreSQL, Temporal and Parley's processes running.
  let stopping = false;
  const abort = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    stack.close().finally(() => process.exit(130));
  };
  const onSigint = () => abort('SIGINT');
  const onSigterm = () => abort('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  const figures: Figure[] = [];
  const failures: Results['failures'] = [];
  const want = (group: string) => !opts.only || opts.only.has(group);
  const attempt = async <T>(group: string, fn: () => Promise<T>): Promise<T | null> => {
    if (!want(group)) return null;
    try {
      return await fn();
    } catch (err) {
      log(`${group} failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      failures.push({ group, error: err instanceof Error ? err.message : String(err) });
      return null;
    }
  };
  let results: Results | undefined;
  try {
    const overhead = await attempt('overhead', () => overheadFigures(stack));
    const tokens: TokenRun[] | null = await attempt('tokens', () => tokenRuns(stack));
    const peer: PeerRun | null = await attempt('peer', () => peerRun(stack));
    const ttft = await attempt('ttft', () => ttftFigures(stack));
    const interrupt = await attempt('interrupt', () => interruptFigure(stack));
    const history = await attempt('history', () => historyFigures(stack));
    const throughput = await attempt('throughput', () => throughputFigure(stack));

    const parleyC50 = tokens ? tokenMedian(tokens, 50) : null;
    const peerFig = peer ? peerFigure(peer, parleyC50, tokens ? tokenMedian(tokens, 1) : null) : null;
    const all: Array<Figure | null> = [
      ...(overhead?.filter((f) => f.name === 'step_overhead_ms') ?? []),
      ...(tokens ? tokenFigures(tokens, peerFig ? { median: peerFig.median } : null, Math.max(...opts.tokens.levels)) : []),
      peerFig, ...(ttft ?? []), interrupt, ...(history ?? []), throughput,
      // Scaling rows last: the overhead at more chats (token latency per level is above).
      ...(overhead?.filter((f) => f.name !== 'step_overhead_ms') ?? []),
    ];
    figures.push(...all.filter((f): f is Figure => f !== null));

    results = {
      machine: {
        cores: os.cpus().length,
        node: process.version,
        temporal: `server ${stack.temporalVersion} (${temporalCliVersion()})`,
        cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
        memory_gb: Math.round(os.totalmem() / 2 ** 30),
        loadavg_at_start: loadavg,
      },
      mode: opts.mode,
      parley: parley.label,
      started_at: new Date(started).toISOString(),
      duration_s: Math.round((Date.now() - began) / 1000),
      setup: setupOf(opts, stack),
      figures,
      failures,
    };
  } finally {
    if (failures.length) {
      for (const child of [stack.workerProc, stack.apiProc]) log(`${child.name} output (last lines):\n${child.output().split('\n').slice(-30).join('\n')}`);
    }
    log('stopping');
    await stack.close();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
  if (stack.profileDir) {
    const roles = {
      [stack.apiProc.pid]: { name: 'api', skipMs: stack.apiProc.startupMs },
      [stack.workerProc.pid]: { name: 'worker', skipMs: stack.workerProc.startupMs },
    };
    console.log(`\nCPU profiles in ${stack.profileDir} (open in Chrome DevTools):\n`);
    console.log(formatProfiles(await summarizeProfiles(stack.profileDir, roles)));
  }
  return results;
}

/** The commit the working tree is on, and whether it has uncommitted changes. */
function workingTreeLabel(repoRoot: string): string {
  try {
    const sha = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return `working tree at ${sha}${dirty ? ' + uncommitted changes' : ''}`;
  } catch {
    return 'working tree (not a git checkout)';
  }
}

function temporalCliVersion(): string {
  try {
    return execFileSync(findTemporalCli(), ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'temporal CLI version unknown';
  }
}

function setupOf(opts: Options, stack: Stack): Record<string, string> {
  return {
    processes: 'API and worker: separate child processes (node src/cli.ts api|worker); fake provider: child process; '
      + 'plain loop, SSE clients, Workflow Streams subscribers and Temporal floor clients: the bench process; '
      + 'Workflow Streams worker and Temporal floor worker: child processes',
    postgres: `embedded PostgreSQL, ${opts.fsync ? 'production durability (fsync on, synchronous_commit on)' : 'fsync off (--no-fsync)'}`,
    temporal: 'temporal server start-dev (in-memory SQLite), one namespace',
    provider: `fake OpenAI Chat Completions server (bench/fake-llm.ts), clock offset ${stack.fake.offsetMs.toFixed(3)} ms ± ${(stack.fake.calibrationRttMs / 2).toFixed(3)} ms`,
    coalescing: `PARLEY_EVENT_COALESCE_MS=${stack.config.eventCoalesceMs}`,
    worker: opts.workerVariant ? `bench/variant-worker.ts with ${opts.workerVariant} (a proposed change, not Parley as shipped)` : 'node src/cli.ts worker (as shipped)',
    tokens: `${opts.tokens.perReply} tokens per reply, one every ${opts.tokens.delayMs} ms (${Math.round(1000 / opts.tokens.delayMs)} tokens/s per chat)`,
    overhead: `${opts.overhead.steps}-step turns (${opts.overhead.steps - 1} write_file tool calls)`,
  };
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exit(1);
});
