// Turn throughput: many chats, each sending its next message as soon as its turn ended, against
// one worker and a zero-latency provider (one-token answers). Counted per one-second window after
// a warm-up; CPU per process over the same window says where the bottleneck is. Then the same
// closed loops through Temporal's floor (bench/floor: no-op activities in the same workflow shape),
// for as long: the turns/s Temporal itself allows on this machine, next to Parley's.
import os from 'node:os';
import { nowMs, sleep } from '../clock.ts';
import { brief, figure, type Figure } from '../figure.ts';
import { cpuByRole, cpuPercent, type Role } from '../procs.ts';
import type { Stack } from '../stack.ts';
import { median } from '../stats.ts';

export async function throughputFigure(stack: Stack): Promise<Figure> {
  const { opts } = stack;
  const { chats: n, seconds, warmupSeconds } = opts.throughput;
  stack.log(`throughput: ${n} chats in closed loops for ${warmupSeconds}+${seconds} s`);
  const chats = await stack.sharedChats(n);
  let errors = 0;
  const parley = await closedLoops(n, warmupSeconds, seconds, async (i) => {
    const r = await stack.turn(chats[i]!, { tokens: 1 });
    if (r.status !== 'waiting') errors++;
    return r.tEnd - r.t0;
  });
  const { perSecond, inWindow, cpu } = parley;
  const total = perSecond.reduce((a, b) => a + b, 0);
  const floor = stack.floor;
  const floorRun = floor ? await closedLoops(n, warmupSeconds, seconds, (i) => floor.turn(i, 1)) : null;
  const floorMean = floorRun ? floorRun.perSecond.reduce((a, b) => a + b, 0) / seconds : null;
  const cores = os.cpus().length;
  const busiest = (Object.entries(cpu) as Array<[Role, number]>).filter(([r]) => r !== 'other' && r !== 'foreign').sort((a, b) => b[1] - a[1]);
  const used = Object.values(cpu).reduce((a, b) => a + b, 0) - cpu.foreign - cpu.other;
  const bottleneck = used + Math.max(0, cpu.foreign) >= cores * 100 * 0.85
    ? `CPU-bound: ${used}% of ${cores * 100}% used by Parley's processes (+${cpu.foreign}% by other work on the machine); top ${busiest.slice(0, 3).map(([r, p]) => `${r} ${p}%`).join(', ')}`
    : `not CPU-bound (${used}% of ${cores * 100}% by Parley's processes, +${cpu.foreign}% other work): latency-bound; top ${busiest.slice(0, 3).map(([r, p]) => `${r} ${p}%`).join(', ')}`;
  stack.log(`  ${(total / seconds).toFixed(1)} turns/s, turn latency p50 ${brief(inWindow).median} ms; ${bottleneck}`
    + (floorRun ? `; Temporal floor ${floorMean!.toFixed(1)} turns/s, cpu ${JSON.stringify(floorRun.cpu)}` : ''));
  return figure({
    name: 'turns_per_second',
    unit: 'turns/s',
    of: 'one-second windows',
    chats: n,
    samples: perSecond,
    target: '>= 50 median',
    check: (s) => s.median >= 50,
    ...(floorRun ? { peer: { name: 'Temporal floor (no-op activities, same workflow shape), turns/s', median: median(floorRun.perSecond) } } : {}),
    detail: {
      mean_turns_per_second: Math.round((total / seconds) * 10) / 10,
      turn_latency_ms: brief(inWindow),
      errors,
      cpu_percent_by_process: cpu,
      bottleneck,
      ...(floorRun ? {
        temporal_floor: {
          mean_turns_per_second: Math.round(floorMean! * 10) / 10,
          turn_latency_ms: brief(floorRun.inWindow),
          cpu_percent_by_process: floorRun.cpu,
        },
      } : {}),
    },
  });
}

/**
 * `n` closed loops of `turn` (each starts its next turn when the last ended) for a warm-up and then
 * a measured window: turns ended per second of the window, their latencies, CPU per process.
 */
async function closedLoops(n: number, warmupSeconds: number, seconds: number, turn: (loop: number) => Promise<number>) {
  const ends: number[] = [];
  const latencies: Array<{ at: number; ms: number }> = [];
  let stop = false;
  const windowStart = nowMs() + warmupSeconds * 1000;
  const windowEnd = windowStart + seconds * 1000;
  const loops = Array.from({ length: n }, async (_, i) => {
    while (!stop) {
      const ms = await turn(i);
      const at = nowMs();
      ends.push(at);
      latencies.push({ at, ms });
    }
  });
  await sleep(windowStart - nowMs());
  const cpu0 = cpuByRole();
  await sleep(windowEnd - nowMs());
  const cpu = cpuPercent(cpu0, cpuByRole(), seconds);
  stop = true;
  await Promise.all(loops);
  const perSecond = Array.from({ length: seconds }, (_, i) =>
    ends.filter((t) => t >= windowStart + i * 1000 && t < windowStart + (i + 1) * 1000).length);
  const inWindow = latencies.filter((l) => l.at >= windowStart && l.at < windowEnd).map((l) => l.ms);
  return { perSecond, inWindow, cpu };
}
