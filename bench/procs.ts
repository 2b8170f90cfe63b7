// Child processes of the bench and what the bench reads about them from /proc: resident memory
// (VmRSS) and CPU time, per role (api, worker, postgres, temporal, ...).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Last lines of its output, for error messages. */
  output(): string;
  /** Milliseconds from spawn to its ready line. */
  startupMs: number;
  stop(): Promise<void>;
}

/** Spawns `node <args>` and resolves once a line of its stdout matches `ready`. */
export async function spawnNode(name: string, args: string[], env: Record<string, string>, ready: RegExp, timeoutMs = 60_000): Promise<Child> {
  const spawnedAt = Date.now();
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b: Buffer) => { out = (out + b.toString()).slice(-8_000); };
  proc.stderr!.on('data', keep);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    proc.stdout!.on('data', (b: Buffer) => {
      keep(b);
      if (ready.test(out)) { clearTimeout(timer); resolve(); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited with ${code}:\n${out}`)); });
  });
  return childOf(name, proc, () => out, Date.now() - spawnedAt);
}

export function childOf(name: string, proc: ChildProcess, output: () => string, startupMs = 0): Child {
  return {
    name,
    startupMs,
    proc,
    pid: proc.pid!,
    output,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resident set size of a process in MB, from /proc/<pid>/status. */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const TICKS = 100; // USER_HZ on Linux

function statOf(pid: number): { ppid: number; cpuSec: number } | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself contain spaces and parentheses. utime + stime,
    // plus cutime + cstime: exited children (PostgreSQL backends of closed connections) leave their
    // CPU time there when reaped, and would otherwise vanish from the account.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), cpuSec: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICKS };
  } catch {
    return null;
  }
}

/** Every descendant of `root` (inclusive) with its command line. */
function processTree(root: number): Array<{ pid: number; cmd: string; cpuSec: number }> {
  const all = new Map<number, { ppid: number; cpuSec: number }>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const st = statOf(Number(e));
    if (st) all.set(Number(e), st);
  }
  const out: Array<{ pid: number; cmd: string; cpuSec: number }> = [];
  const walk = (pid: number) => {
    const st = all.get(pid);
    if (!st) return;
    let cmd = '';
    try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '); } catch { /* gone */ }
    out.push({ pid, cmd, cpuSec: st.cpuSec });
    for (const [child, s] of all) if (s.ppid === pid) walk(child);
  };
  walk(root);
  return out;
}

export type Role = 'bench' | 'api' | 'worker' | 'peer-worker' | 'floor-worker' | 'fake-llm' | 'postgres' | 'temporal' | 'other' | 'foreign';

/** Which part of Parley a process of the bench tree is, from its command line. */
export function roleOf(cmd: string, benchPid: number, pid: number): Role {
  if (pid === benchPid) return 'bench';
  if (/src\/cli\.ts api$/.test(cmd.trim())) return 'api';
  if (/src\/cli\.ts worker$/.test(cmd.trim()) || /bench\/variant-worker\.ts$/.test(cmd.trim())) return 'worker';
  if (/bench\/peer\/worker\.ts/.test(cmd)) return 'peer-worker';
  if (/bench\/floor\/worker\.ts/.test(cmd)) return 'floor-worker';
  if (/bench\/fake-llm\.ts/.test(cmd)) return 'fake-llm';
  if (/postgres/.test(cmd)) return 'postgres';
  if (/temporal/.test(cmd)) return 'temporal';
  return 'other';
}

/** CPU seconds the whole machine has been busy (all cores), from /proc/stat. */
function machineBusySec(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / TICKS;
}

/**
 * CPU seconds used so far by each role of this process tree; `foreign` is everything else on the
 * machine (other people's work on a shared box skews the figures: the report shows how much).
 */
export function cpuByRole(): Record<Role, number> {
  const totals: Record<Role, number> = { bench: 0, api: 0, worker: 0, 'peer-worker': 0, 'floor-worker': 0, 'fake-llm': 0, postgres: 0, temporal: 0, other: 0, foreign: 0 };
  const machine = machineBusySec();
  let ours = 0;
  for (const p of processTree(process.pid)) {
    totals[roleOf(p.cmd, process.pid, p.pid)] += p.cpuSec;
    ours += p.cpuSec;
  }
  totals.foreign = machine - ours;
  return totals;
}

/** CPU use per role between two `cpuByRole()` readings, in % of one core. */
export function cpuPercent(before: Record<Role, number>, after: Record<Role, number>, seconds: number): Record<Role, number> {
  const out = {} as Record<Role, number>;
  for (const role of Object.keys(after) as Role[]) out[role] = Math.round((100 * (after[role] - before[role])) / seconds);
  return out;
}

/** Samples RSS of the given processes every `everyMs` until stopped. */
export function sampleRss(pids: Record<string, number>, everyMs = 200): { stop(): Record<string, number[]> } {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(pids).map((k) => [k, []]));
  const take = () => { for (const [k, pid] of Object.entries(pids)) samples[k]!.push(rssMb(pid)); };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}
