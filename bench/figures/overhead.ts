// Orchestration overhead per LLM step: the same N-step tool turn through Temporal (the real
// workflow on the worker process) and through the plain in-process loop (plain-loop.ts), paired
// and alternated so drift hits both alike. Both start the same way (the API's send-message
// transaction, called directly) and end the same way (the `status: waiting` event on the chat's
// SSE stream), so what differs is only Temporal: signalWithStart, workflow tasks, activity
// dispatch, the worker being another process. A third side, the floor (bench/floor), runs the same
// shape of workflow with no-op activities: what Temporal itself costs per step on this machine.
import { createChatWorkflows, type ChatWorkflows } from '../../src/temporal/chat-workflows.ts';
import { submitUserMessage } from '../../src/chats/service.ts';
import { nowMs, within } from '../clock.ts';
import { directiveMessage } from '../directive.ts';
import { brief, figure, type Figure } from '../figure.ts';
import type { Level } from '../options.ts';
import { runTiming, type RunTiming } from '../history-timing.ts';
import { cpuByRole, type Role } from '../procs.ts';
import { runPlainTurns } from '../plain-loop.ts';
import type { BenchChat, Stack } from '../stack.ts';
import { median } from '../stats.ts';

const noWake: ChatWorkflows = {
  wake: async () => {}, interrupt: async () => false, cancel: async () => false, isRunning: async () => false, answerToolCall: async () => 'not_pending',
};

export async function overheadFigures(stack: Stack): Promise<Figure[]> {
  const { opts, services, config, activityDeps } = stack;
  const steps = opts.overhead.steps;
  const content = directiveMessage({ tools: steps - 1, tokens: 1 });
  const temporalWorkflows = createChatWorkflows(stack.temporal, config.taskQueue, activityDeps.deploymentId);
  const maxChats = Math.max(...opts.overhead.levels.map(opts.chatsAt));
  const floorRun = stack.floor!;
  stack.log(`overhead: ${maxChats} chats, ${steps}-step tool turns, Temporal vs plain loop`);
  const chats = await stack.chats(maxChats);

  const submit = (chat: BenchChat, workflows: ChatWorkflows) =>
    submitUserMessage({ pool: services.pool, events: services.events, workflows, config }, { id: chat.ownerId }, chat.id, { content });

  async function timed(chat: BenchChat, run: () => Promise<void>): Promise<number> {
    const done = chat.stream.nextStatus('waiting', 'error');
    const t0 = nowMs();
    await run();
    const e = await within(done, 120_000, `turn of chat ${chat.id}`);
    if (chat.stream.status !== 'waiting') throw new Error(`overhead turn of chat ${chat.id} ended in ${chat.stream.status}`);
    return e.at - t0;
  }
  // Where the time went: each Temporal run's history and the plain loop's activity times.
  let explain = false;
  const temporalRuns: RunTiming[] = [];
  const plainRuns: Array<Record<string, number>> = [];

  async function temporalTurn(chat: BenchChat): Promise<number> {
    const after = explain ? await stack.lastEventId(chat.id) : 0;
    const ms = await timed(chat, async () => { await submit(chat, temporalWorkflows); });
    // The plain loop's turn that follows must not overlap the workflow task that ends this one.
    await stack.settled(chat.id);
    if (explain) temporalRuns.push(await runTiming(stack.temporal, chat.id, after));
    return ms;
  }
  const plainTurn = (chat: BenchChat) => timed(chat, async () => {
    await submit(chat, noWake);
    const timings: Record<string, number> = {};
    await runPlainTurns(activityDeps, chat.id, timings);
    if (explain) plainRuns.push(timings);
  });

  /** CPU seconds per process role spent by each side, summed over a level's rounds. */
  const cpu = { temporal: {} as Record<string, number>, plain: {} as Record<string, number>, floor: {} as Record<string, number> };
  const measured = async <T>(side: 'temporal' | 'plain' | 'floor', fn: () => Promise<T>): Promise<T> => {
    const before = cpuByRole();
    const result = await fn();
    const after = cpuByRole();
    for (const role of Object.keys(after) as Role[]) cpu[side][role] = (cpu[side][role] ?? 0) + after[role] - before[role];
    return result;
  };

  /**
   * One round at `k` chats: all Temporal turns at once, then all plain ones (or the reverse), then
   * k floor workflows.
   */
  async function round(k: number, temporalFirst: boolean) {
    const group = chats.slice(0, k);
    const temporal = () => measured('temporal', () => Promise.all(group.map(temporalTurn)));
    const plain = () => measured('plain', () => Promise.all(group.map(plainTurn)));
    const floor = () => measured('floor', () => Promise.all(group.map((_, slot) => floorRun.turn(slot, steps))));
    if (temporalFirst) {
      const t = await temporal();
      return { t, p: await plain(), f: await floor() };
    }
    const p = await plain();
    return { t: await temporal(), p, f: await floor() };
  }

  // Warm-up: connections, JIT, the worker's workflow cache.
  await round(1, true);
  await round(1, false);

  const figures: Figure[] = [];
  for (const level of opts.overhead.levels) {
    const k = opts.chatsAt(level);
    const pairs = level === 1 ? opts.overhead.pairs : opts.overhead.rounds;
    const overhead: number[] = [];
    const temporalPerStep: number[] = [];
    const plainPerStep: number[] = [];
    const floorPerStep: number[] = [];
    const aboveFloor: number[] = [];
    explain = true;
    temporalRuns.length = 0;
    plainRuns.length = 0;
    cpu.temporal = {};
    cpu.plain = {};
    cpu.floor = {};
    for (let r = 0; r < pairs; r++) {
      const { t, p, f } = await round(k, r % 2 === 0);
      for (let i = 0; i < k; i++) {
        overhead.push((t[i]! - p[i]!) / steps);
        temporalPerStep.push(t[i]! / steps);
        plainPerStep.push(p[i]! / steps);
        floorPerStep.push(f[i]! / steps);
        aboveFloor.push((t[i]! - p[i]! - f[i]!) / steps);
      }
    }
    const cpuSteps = pairs * k * steps;
    stack.log(`  c${level}: overhead ${median(overhead).toFixed(2)} ms/step (Temporal ${median(temporalPerStep).toFixed(2)}, plain ${median(plainPerStep).toFixed(2)}, `
      + `Temporal floor ${median(floorPerStep).toFixed(2)}) ${JSON.stringify(explainRuns(temporalRuns, plainRuns, steps))}`
      + ` cpu ms/step temporal ${JSON.stringify(cpuPerStep(cpu.temporal, cpuSteps))} plain ${JSON.stringify(cpuPerStep(cpu.plain, cpuSteps))}`
      + ` floor ${JSON.stringify(cpuPerStep(cpu.floor, cpuSteps))}`);
    figures.push(figure({
      name: level === 1 ? 'step_overhead_ms' : `step_overhead_ms_c${level as Level}`,
      unit: 'ms/step',
      of: `paired turns x chats (${steps} LLM steps, ${steps - 1} with a tool call)`,
      chats: k,
      samples: overhead,
      ...(level === 1 ? { target: '<= 5 median', check: (s) => s.median <= 5 } : { target: 'flat vs c1' }),
      peer: { name: 'plain in-process loop, ms/step', median: median(plainPerStep) },
      detail: {
        temporal_ms_per_step: brief(temporalPerStep),
        plain_ms_per_step: brief(plainPerStep),
        // No-op activities in Parley's workflow shape: Temporal's own cost per step here, and what
        // the overhead has above it (Parley's activities running slower in the worker than in the
        // plain loop, and its workflow code).
        temporal_floor_ms_per_step: brief(floorPerStep),
        overhead_above_floor_ms_per_step: brief(aboveFloor),
        where_the_time_went_ms_per_step: explainRuns(temporalRuns, plainRuns, steps),
        cpu_ms_per_step: { temporal: cpuPerStep(cpu.temporal, cpuSteps), plain: cpuPerStep(cpu.plain, cpuSteps), floor: cpuPerStep(cpu.floor, cpuSteps) },
      },
    }));
  }
  return figures;
}

/** Median per step of each part of a turn, Temporal (from history) next to the plain loop. */
function explainRuns(temporal: RunTiming[], plain: Array<Record<string, number>>, steps: number): Record<string, number> {
  const per = (values: number[]) => Math.round((median(values) / steps) * 100) / 100;
  const types = new Set([...temporal.flatMap((t) => Object.keys(t.activityMs)), ...plain.flatMap((p) => Object.keys(p))]);
  const out: Record<string, number> = {
    temporal_workflow_task_queue: per(temporal.map((t) => t.workflowTaskQueueMs)),
    temporal_workflow_task_processing: per(temporal.map((t) => t.workflowTaskProcessingMs)),
    temporal_workflow_tasks_per_step: Math.round((median(temporal.map((t) => t.workflowTasks)) / steps) * 100) / 100,
    temporal_history_first_to_last_event: per(temporal.map((t) => t.totalMs)),
  };
  for (const type of [...types].sort()) {
    out[`temporal_activity_${type}`] = per(temporal.map((t) => t.activityMs[type] ?? 0));
    out[`plain_activity_${type}`] = per(plain.map((p) => p[type] ?? 0));
  }
  return out;
}

/** CPU ms per LLM step of each process role (roles that used none left out). */
function cpuPerStep(seconds: Record<string, number>, stepCount: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [role, sec] of Object.entries(seconds)) {
    const ms = Math.round(((sec * 1000) / stepCount) * 10) / 10;
    if (ms > 0 || role === 'foreign') out[role] = ms;
  }
  return out;
}
