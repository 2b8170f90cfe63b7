// Turn throughput: many chats, each sending its next message as soon as its turn ended, against
// one worker and a zero-latency provider (one-token answers). Counted per one-second window after
// a warm-up; CPU per process over the same window says where the bottleneck is.
import os from 'node:os';
import { nowMs, sleep } from '../clock.ts';
import { brief, figure, type Figure } from '../figure.ts';
import { cpuByRole, cpuPercent, type Role } from '../procs.ts';
import type { Stack } from '../stack.ts';

export async function throughputFigure(stack: Stack): Promise<Figure> {
  const { opts } = stack;
  const { chats: n, seconds, warmupSeconds } = opts.throughput;
  stack.log(`throughput: ${n} chats in closed loops for ${warmupSeconds}+${seconds} s`);
  const chats = await stack.sharedChats(n);
  const ends: number[] = [];
  const latencies: Array<{ at: number; ms: number }> = [];
  let errors = 0;
  let stop = false;
  const start = nowMs();
  const windowStart = start + warmupSeconds * 1000;
  const windowEnd = windowStart + seconds * 1000;
  const loops = chats.map(async (chat) => {
    while (!stop) {
      const r = await stack.turn(chat, { tokens: 1 });
      if (r.status !== 'waiting') errors++;
      ends.push(r.tEnd);
      latencies.push({ at: r.tEnd, ms: r.tEnd - r.t0 });
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
  const total = perSecond.reduce((a, b) => a + b, 0);
  const cores = os.cpus().length;
  const busiest = (Object.entries(cpu) as Array<[Role, number]>).filter(([r]) => r !== 'other' && r !== 'foreign').sort((a, b) => b[1] - a[1]);
  const used = Object.values(cpu).reduce((a, b) => a + b, 0) - cpu.foreign - cpu.other;
  const bottleneck = used + Math.max(0, cpu.foreign) >= cores * 100 * 0.85
    ? `CPU-bound: ${used}% of ${cores * 100}% used by Parley's processes (+${cpu.foreign}% by other work on the machine); top ${busiest.slice(0, 3).map(([r, p]) => `${r} ${p}%`).join(', ')}`
    : `not CPU-bound (${used}% of ${cores * 100}% by Parley's processes, +${cpu.foreign}% other work): latency-bound; top ${busiest.slice(0, 3).map(([r, p]) => `${r} ${p}%`).join(', ')}`;
  stack.log(`  ${(total / seconds).toFixed(1)} turns/s, turn latency p50 ${brief(inWindow).median} ms; ${bottleneck}`);
  return figure({
    name: 'turns_per_second',
    unit: 'turns/s',
    of: 'one-second windows',
    chats: n,
    samples: perSecond,
    target: '>= 50 median',
    check: (s) => s.median >= 50,
    detail: {
      mean_turns_per_second: Math.round((total / seconds) * 10) / 10,
      turn_latency_ms: brief(inWindow),
      errors,
      cpu_percent_by_process: cpu,
      bottleneck,
    },
  });
}
