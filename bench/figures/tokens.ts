// Token latency provider → SSE client: the fake stamps each delta with its send time and with how
// many replies it was streaming then; each chat's stream times the chunk that carries it.
// Coalescing merges deltas of ~20 ms into one event, so every stamp inside a merged text counts on
// its own. A level's figure is the tokens sent while all its chats were streaming: the starts are
// spread over a second and a turn start costs far more than a token, so the level's first and last
// seconds measure how fast turns start (turns_per_second, post_to_first_token_ms), not the token
// path at that concurrency. The whole level's tokens stay in the detail, and are the figure when
// the replies are too short for all chats to stream at once (--quick, --ci). Also: worker and API
// memory and per-process CPU while the biggest level streams.
import { nowMs, sleep } from '../clock.ts';
import { stampsIn } from '../directive.ts';
import { brief, figure, type Figure } from '../figure.ts';
import type { Level } from '../options.ts';
import { cpuByRole, cpuPercent, sampleRss } from '../procs.ts';
import type { BenchChat, Stack } from '../stack.ts';
import { median, summarize } from '../stats.ts';

export interface TokenRun {
  level: Level;
  chats: number;
  /** The figure's tokens: see `countedTokens`. */
  latencies: number[];
  /** Which tokens `latencies` holds. */
  window: string;
  /** Every token of the level, the ramp up and down included. */
  all: number[];
  /** POST → first delta on the stream, per turn: time to first token under this load. */
  firstToken: number[];
  expected: number;
  received: number;
  /** Most replies the provider streamed at once: the level's chats really streamed together only if this is close to `chats`. */
  peakStreams: number;
  cpu: Record<string, number>;
  rss?: Record<string, number[]>;
}

/** Streams one stamped reply in each chat (starts spread over `staggerMs`); collects per-token latency. */
async function streamOnce(stack: Stack, chats: BenchChat[], into: { all: number[]; steady: number[] }, firstToken: number[]): Promise<number> {
  const { tokens: t } = stack.opts;
  const offset = stack.fake.offsetMs;
  let received = 0;
  const firstAt = new Map<BenchChat, number>();
  for (const chat of chats) {
    chat.stream.tap = (e) => {
      if (e.event !== 'message_part') return;
      const stamps = stampsIn(e.data);
      if (stamps.length && !firstAt.has(chat)) firstAt.set(chat, e.at);
      for (const s of stamps) {
        const latency = e.at - (s.t - offset);
        into.all.push(latency);
        if (s.open >= chats.length) into.steady.push(latency);
        received++;
      }
    };
  }
  const stagger = t.staggerMs(chats.length);
  try {
    await Promise.all(chats.map(async (chat, i) => {
      await sleep((stagger * i) / chats.length);
      const r = await stack.turn(chat, { tokens: t.perReply, delay: t.delayMs, stamp: true });
      if (r.status !== 'waiting') throw new Error(`streaming turn of chat ${chat.id} ended in ${r.status}`);
      firstToken.push((firstAt.get(chat) ?? Number.NaN) - r.t0);
    }));
    await Promise.all(chats.map((c) => stack.settled(c.id)));
  } finally {
    for (const chat of chats) chat.stream.tap = null;
  }
  return received;
}

/**
 * The tokens a level's figure counts: those sent while all `chats` replies streamed, when there are
 * enough of them (ten per chat); otherwise (the short replies of --quick and --ci) the whole level's.
 */
export function countedTokens(latencies: { all: number[]; steady: number[] }, chats: number): { latencies: number[]; of: string } {
  return latencies.steady.length >= 10 * chats
    ? { latencies: latencies.steady, of: `${latencies.steady.length} tokens sent while all ${chats} chats streamed` }
    : { latencies: latencies.all, of: `whole level: too few tokens (${latencies.steady.length}) sent while all ${chats} chats streamed` };
}

export async function tokenRuns(stack: Stack): Promise<TokenRun[]> {
  const { opts } = stack;
  const maxChats = Math.max(...opts.tokens.levels.map(opts.chatsAt));
  stack.log(`tokens: ${maxChats} chats, ${opts.tokens.perReply} tokens per reply every ${opts.tokens.delayMs} ms`);
  const pool = await stack.sharedChats(maxChats);
  await streamOnce(stack, pool.slice(0, 1), { all: [], steady: [] }, []); // warm-up
  const runs: TokenRun[] = [];
  const top = Math.max(...opts.tokens.levels);
  for (const level of opts.tokens.levels) {
    const chats = pool.slice(0, opts.chatsAt(level));
    const latencies = { all: [] as number[], steady: [] as number[] };
    const firstToken: number[] = [];
    let received = 0;
    const rss = level === top ? sampleRss({ worker: stack.workerProc.pid, api: stack.apiProc.pid }) : null;
    const cpu0 = cpuByRole();
    const t0 = nowMs();
    await stack.fake.peakStreams(); // starts the level's count afresh
    for (let r = 0; r < opts.tokens.runs(level); r++) received += await streamOnce(stack, chats, latencies, firstToken);
    const peakStreams = await stack.fake.peakStreams();
    const cpu = cpuPercent(cpu0, cpuByRole(), (nowMs() - t0) / 1000);
    const expected = chats.length * opts.tokens.perReply * opts.tokens.runs(level);
    const w = countedTokens(latencies, chats.length);
    const s = summarize(w.latencies);
    const a = summarize(latencies.all);
    stack.log(`  c${level}: p50 ${s.median.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms (${w.of}); `
      + `whole level p50 ${a.median.toFixed(1)} ms, p99 ${a.p99.toFixed(1)} ms (${received}/${expected} tokens), `
      + `first token p50 ${median(firstToken).toFixed(0)} ms, peak ${peakStreams} provider streams at once; cpu% ${JSON.stringify(cpu)}`);
    runs.push({
      level, chats: chats.length, latencies: w.latencies, window: w.of, all: latencies.all, firstToken, expected, received, peakStreams, cpu,
      ...(rss ? { rss: rss.stop() } : {}),
    });
  }
  return runs;
}

export function tokenFigures(runs: TokenRun[], peer: { median: number } | null, top: number): Figure[] {
  const figures: Figure[] = [];
  for (const run of runs) {
    figures.push(figure({
      name: `token_latency_ms_c${run.level}`,
      unit: 'ms',
      of: 'tokens',
      chats: run.chats,
      samples: run.latencies,
      target: 'p50 <= 30, p99 <= 100 (at c200)',
      check: (s) => s.median <= 30 && s.p99 <= 100,
      ...(peer && run.level === 50 ? { peer: { name: 'Temporal Workflow Streams', median: peer.median } } : {}),
      detail: {
        tokens_counted: run.window, whole_level: brief(run.all),
        tokens_received: run.received, tokens_expected: run.expected, provider_streams_peak: run.peakStreams,
        post_to_first_token_ms: brief(run.firstToken), cpu_percent_by_process: run.cpu,
      },
    }));
  }
  const topRun = runs.find((r) => r.level === top);
  if (topRun?.rss) {
    for (const proc of ['worker', 'api'] as const) {
      const samples = topRun.rss[proc]!;
      figures.push(figure({
        name: `${proc}_rss_mb_c${top}`,
        unit: 'MB',
        of: 'RSS samples every 200 ms while streaming',
        chats: topRun.chats,
        samples,
        target: '<= 400 (p99 ~ peak)',
        check: (s) => s.p99 <= 400,
        detail: { max: Math.round(Math.max(...samples)), first: Math.round(samples[0]!), process: `node src/cli.ts ${proc} (child process, /proc/<pid>/status VmRSS)` },
      }));
    }
  }
  return figures;
}

export const tokenMedian = (runs: TokenRun[], level: Level): number | null => {
  const run = runs.find((r) => r.level === level);
  return run ? median(run.latencies) : null;
};

