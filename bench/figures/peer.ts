// The same stamped tokens through Temporal Workflow Streams: an activity (peer worker process)
// streams the fake provider's reply through Parley's OpenAI adapter and publishes each delta; a
// subscriber per chat in this process long-polls the workflow with updates. Tuned to its best
// case: batchInterval = Parley's coalescing window (20 ms), pollCooldown 0 (default 100 ms).
import { randomUUID } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { nowMs, sleep, within } from '../clock.ts';
import { directiveMessage, stampsIn } from '../directive.ts';
import { brief, figure, type Figure } from '../figure.ts';
import { cpuByRole, cpuPercent } from '../procs.ts';
import type { Stack } from '../stack.ts';
import { summarize } from '../stats.ts';
import { useOurTemporalPackages } from '../peer/dedupe.ts';
import { END_OF_STREAM, SUBSCRIBER_DONE, TOKENS_TOPIC } from '../peer/protocol.ts';
import { countedTokens } from './tokens.ts';

export interface PeerRun {
  /** The figure's tokens, chosen as for Parley's (tokens.ts `countedTokens`). */
  latencies: number[];
  window: string;
  /** Every token of the level. */
  all: number[];
  /** The same at one chat: the design's own latency, without load. */
  latenciesC1: number[];
  expected: number;
  received: number;
  cpu: Record<string, number>;
  chats: number;
}

export async function peerRun(stack: Stack): Promise<PeerRun> {
  const { opts, temporal, fake } = stack;
  useOurTemporalPackages();
  const { WorkflowStreamClient } = await import('@temporalio/workflow-streams/client');
  const chats = opts.chatsAt(opts.peer.level);
  const directive = directiveMessage({ tokens: opts.tokens.perReply, delay: opts.tokens.delayMs, stamp: true });
  const latencies = { all: [] as number[], steady: [] as number[] };
  let received = 0;

  const one = async (into: { all: number[]; steady: number[] } | null, streaming: number) => {
    const workflowId = `bench-peer-${randomUUID()}`;
    const handle = await temporal.workflow.start('peerStreamWorkflow', { taskQueue: stack.peerTaskQueue, workflowId, args: [{ directive }] });
    const streams = WorkflowStreamClient.create(temporal as never, workflowId);
    for await (const item of streams.subscribe([TOKENS_TOPIC], 0, { pollCooldown: 0 })) {
      const at = nowMs();
      const text = defaultPayloadConverter.fromPayload<string>(item.data);
      if (text === END_OF_STREAM) break;
      if (!into) continue;
      for (const s of stampsIn(text)) {
        const latency = at - (s.t - fake.offsetMs);
        into.all.push(latency);
        if (s.open >= streaming) into.steady.push(latency);
        received++;
      }
    }
    await handle.signal(SUBSCRIBER_DONE);
    await within(handle.result(), 60_000, `peer workflow ${workflowId}`);
  };

  stack.log(`peer: Temporal Workflow Streams at ${chats} chats`);
  await one(null, 1); // warm-up
  const c1 = { all: [] as number[], steady: [] as number[] };
  for (let r = 0; r < opts.peer.runs; r++) await one(c1, 1);
  received = 0;
  const cpu0 = cpuByRole();
  const t0 = nowMs();
  const stagger = opts.tokens.staggerMs(chats);
  for (let r = 0; r < opts.peer.runs; r++) {
    await Promise.all(Array.from({ length: chats }, async (_, i) => {
      await sleep((stagger * i) / chats);
      await one(latencies, chats);
    }));
  }
  const cpu = cpuPercent(cpu0, cpuByRole(), (nowMs() - t0) / 1000);
  const expected = chats * opts.tokens.perReply * opts.peer.runs;
  const w = countedTokens(latencies, chats);
  const s = summarize(w.latencies);
  stack.log(`  c1: p50 ${summarize(c1.all).median.toFixed(1)} ms; c${opts.peer.level}: p50 ${s.median.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms `
    + `(${w.of}; ${received}/${expected} tokens) cpu% ${JSON.stringify(cpu)}`);
  return { latencies: w.latencies, window: w.of, all: latencies.all, latenciesC1: c1.all, expected, received, cpu, chats };
}

export function peerFigure(run: PeerRun, parleyMedian: number | null, parleyC1Median: number | null): Figure {
  const peerMedian = summarize(run.latencies).median;
  const ratio = parleyMedian !== null ? peerMedian / parleyMedian : Number.NaN;
  return figure({
    name: 'workflow_streams_token_latency_ms_c50',
    unit: 'ms',
    of: 'tokens',
    chats: run.chats,
    samples: run.latencies,
    target: 'Parley faster (report ratio)',
    check: (s) => parleyMedian !== null && parleyMedian < s.median,
    ...(parleyMedian !== null ? { peer: { name: 'Parley event log + SSE (token_latency_ms_c50)', median: parleyMedian } } : {}),
    detail: {
      ratio_peer_over_parley_median: Number.isFinite(ratio) ? Math.round(ratio * 100) / 100 : null,
      at_c1: { ...brief(run.latenciesC1), parley_median: parleyC1Median === null ? null : Math.round(parleyC1Median * 100) / 100 },
      tokens_counted: run.window, whole_level: brief(run.all), tokens_received: run.received, tokens_expected: run.expected, cpu_percent_by_process: run.cpu,
      settings: '@temporalio/workflow-streams 1.23.0, batchInterval 20 ms, pollCooldown 0, publisher in an activity, subscriber = WorkflowStreamClient.subscribe',
    },
  });
}
