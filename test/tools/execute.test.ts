// The execute tool, unsandboxed, with real processes: output, limits, timeouts and killing.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTool } from '../../src/tools/index.ts';
import type { ToolLimits, ToolOutcome } from '../../src/tools/index.ts';
import { KILL_GRACE_MS } from '../../src/tools/execute.ts';
import { ctx, errorOf, run, useToolWorkspaces, ws } from '../support/tool-workspace.ts';

useToolWorkspaces();

interface ExecResult { exit_code: number | null; signal?: string; timed_out?: boolean; output: string; note?: string }

async function exec(command: string, limits: Partial<ToolLimits> = {}, timeout_ms?: number): Promise<ToolOutcome & { result: ExecResult }> {
  return await run('execute', { command, ...(timeout_ms !== undefined ? { timeout_ms } : {}) }, limits) as ToolOutcome & { result: ExecResult };
}

/** Alive = exists and is not a zombie (the sandbox's init may not reap orphans). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

const pidsIn = (text: string): number[] => text.trim().split(/\s+/).map(Number);

describe('execute', () => {
  it('runs in the workspace and reports exit code with stdout and stderr', async () => {
    const out = await exec('pwd; echo to-stderr >&2');
    expect(out.isError).toBe(false);
    expect(out.result).toEqual({ exit_code: 0, output: `${ws}\nto-stderr\n` });
  });

  it('reports a non-zero exit code without making it an error', async () => {
    const out = await exec('echo failing; exit 3');
    expect(out.isError).toBe(false);
    expect(out.result).toMatchObject({ exit_code: 3, output: 'failing\n' });
    expect(out.result.timed_out).toBeUndefined();
  });

  it('reports death by signal', async () => {
    const out = await exec('kill -KILL $$');
    expect(out.result).toMatchObject({ exit_code: null, signal: 'SIGKILL' });
  });

  it('refuses an empty command', async () => {
    expect(await errorOf('execute', { command: '  ' })).toMatch(/must not be empty/);
  });

  it('has stdin closed: cat and read return at once', async () => {
    const start = Date.now();
    const out = await exec('cat; read line; echo "read=$?"');
    expect(Date.now() - start).toBeLessThan(2000);
    expect(out.result).toMatchObject({ exit_code: 0, output: 'read=1\n' });
  });

  it('has a non-interactive environment without the worker\'s secrets', async () => {
    process.env.PARLEY_TEST_SECRET = 'sk-do-not-leak';
    try {
      const out = await exec('env; tty; [ -t 0 ] && echo stdin-is-tty; true');
      const env = out.result.output;
      for (const line of ['CI=true', 'TERM=dumb', 'PAGER=cat', 'GIT_TERMINAL_PROMPT=0', `HOME=${ws}`, `PATH=${process.env.PATH}`]) {
        expect(env.split('\n')).toContain(line);
      }
      expect(env).not.toContain('sk-do-not-leak');
      expect(env).toContain('not a tty');
      expect(env).not.toContain('stdin-is-tty');
    } finally {
      delete process.env.PARLEY_TEST_SECRET;
    }
  });

  it('caps output, keeping head and tail, with a note of what was omitted', async () => {
    const full = execFileSync('seq', ['1', '20000'], { encoding: 'utf8' });
    const out = await exec('seq 1 20000', { outputCapBytes: 1000 });
    const text = out.result.output;
    expect(text.startsWith('1\n2\n3\n')).toBe(true);
    expect(text.endsWith('19999\n20000\n')).toBe(true);
    const m = /\n\[output truncated: (\d+) bytes omitted\]\n/.exec(text);
    expect(m).not.toBeNull();
    const kept = text.replace(m![0], '\n');
    expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(1000);
    expect(Number(m![1]) + Buffer.byteLength(kept)).toBe(Buffer.byteLength(full));
    // What is kept is exactly the start and the end of the real output.
    const [head, tail] = text.split(m![0]);
    expect(full.startsWith(`${head}\n`)).toBe(true);
    expect(full.endsWith(tail!)).toBe(true);
  });

  it('does not cap output that fits', async () => {
    const out = await exec('printf "%0500d" 0', { outputCapBytes: 500 });
    expect(out.result.output).toBe('0'.repeat(500));
  });

  it('times out, killing the whole process group, and says so', async () => {
    const start = Date.now();
    const out = await exec('sleep 30 & echo $!; sh -c \'echo $$; exec sleep 30\'', {}, 300);
    const elapsed = Date.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(300 + KILL_GRACE_MS);
    expect(out.isError).toBe(true);
    expect(out.result).toMatchObject({ exit_code: null, signal: 'SIGTERM', timed_out: true });
    expect(out.result.note).toMatch(/timed out after 300 ms/);
    const pids = pidsIn(out.result.output);
    expect(pids).toHaveLength(2);
    expect(await waitFor(() => pids.every((p) => !alive(p)), 1000)).toBe(true);
  });

  it('escalates to SIGKILL for processes that ignore SIGTERM', async () => {
    const start = Date.now();
    const out = await exec('trap "" TERM; sleep 30 & echo $!; wait', {}, 200);
    const elapsed = Date.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(200 + KILL_GRACE_MS - 50);
    expect(elapsed).toBeLessThan(200 + KILL_GRACE_MS + 2000);
    expect(out.result).toMatchObject({ timed_out: true, signal: 'SIGKILL' });
    const [pid] = pidsIn(out.result.output);
    expect(await waitFor(() => !alive(pid!), 1000)).toBe(true);
  });

  it('uses limits.executeTimeoutMs by default and clamps to executeMaxTimeoutMs', async () => {
    const byDefault = await exec('sleep 30', { executeTimeoutMs: 200 });
    expect(byDefault.result.timed_out).toBe(true);
    expect(byDefault.result.note).toMatch(/after 200 ms/);

    const start = Date.now();
    const clamped = await exec('sleep 30', { executeMaxTimeoutMs: 300 }, 60_000);
    expect(Date.now() - start).toBeLessThan(300 + KILL_GRACE_MS);
    expect(clamped.result.timed_out).toBe(true);
    expect(clamped.result.note).toMatch(/timeout_ms 60000 exceeds the maximum of 300 ms; used 300 ms/);
  });

  it('kills background processes left running when the command exits', async () => {
    const start = Date.now();
    const out = await exec('sleep 30 & echo $!');
    expect(Date.now() - start).toBeLessThan(2000);
    expect(out.isError).toBe(false);
    expect(out.result.exit_code).toBe(0);
    expect(out.result.note).toMatch(/Background processes .* were killed/);
    const [pid] = pidsIn(out.result.output);
    expect(await waitFor(() => !alive(pid!), 1000)).toBe(true);
  });

  it('rejects promptly with an AbortError on abort and kills the process group', async () => {
    const ac = new AbortController();
    const pending = runTool('execute', { command: 'echo $$ > pids; sleep 30 & echo $! >> pids; wait', timeout_ms: 60_000 }, ctx({}, ac.signal));
    const pidFile = join(ws, 'pids');
    expect(await waitFor(() => existsSync(pidFile) && /^\d+\n\d+\n$/.test(readFileSync(pidFile, 'utf8')), 5000)).toBe(true);
    const pids = pidsIn(readFileSync(pidFile, 'utf8'));
    expect(pids.every(alive)).toBe(true);

    const start = Date.now();
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - start).toBeLessThan(200);
    expect(await waitFor(() => pids.every((p) => !alive(p)), 1000)).toBe(true);
  });

  it('still kills SIGTERM-ignoring processes after an abort', async () => {
    const ac = new AbortController();
    const pending = runTool('execute', { command: 'trap "" TERM; sleep 30 & echo $! > pid; wait', timeout_ms: 60_000 }, ctx({}, ac.signal));
    const pidFile = join(ws, 'pid');
    expect(await waitFor(() => existsSync(pidFile) && /^\d+\n$/.test(readFileSync(pidFile, 'utf8')), 5000)).toBe(true);
    const [pid] = pidsIn(readFileSync(pidFile, 'utf8'));
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(pid!)).toBe(true); // within the grace period
    expect(await waitFor(() => !alive(pid!), KILL_GRACE_MS + 1000)).toBe(true);
  });
});
