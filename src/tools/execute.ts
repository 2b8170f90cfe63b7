import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { abortError, ToolError } from './errors.ts';
import { OutputCollector } from './output.ts';
import { SandboxUnavailableError, type SandboxedCommand } from './sandbox.ts';
import { defineTool } from './tool.ts';

/** Between SIGTERM and SIGKILL to the command's process group, on timeout or abort. */
export const KILL_GRACE_MS = 1000;
/**
 * After the shell has exited (and its group was killed), how long the output pipes may stay open.
 * Only a process that left the group (setsid, daemonising tools) can hold them that long.
 */
const DRAIN_MS = 500;

export const executeTool = defineTool({
  name: 'execute',
  description:
    'Run a shell command with /bin/sh -c in the workspace directory (a sandbox: only the workspace is writable, ' +
    'and the network may be off) and return its exit code and output ' +
    '(stdout and stderr interleaved in arrival order; long output keeps its beginning and end with ' +
    '"[output truncated: N bytes omitted]" in between). Non-interactive: stdin is empty, there is no ' +
    'terminal, CI=true. A non-zero exit code is reported, not treated as a failure. The command and ' +
    'every process it started are killed on timeout, and background processes still running when the ' +
    'command exits are killed too, so do not start long-lived servers.',
  fields: {
    command: { type: 'string', required: true, description: 'Shell command line, e.g. "npm test 2>&1 | tail -50".' },
    timeout_ms: { type: 'integer', minimum: 1, description: 'Timeout in milliseconds. Default 10000; there is an upper limit (600000 by default).' },
  },
  async run(args, ctx) {
    const { signal, limits } = ctx;
    if (signal.aborted) throw abortError(signal);
    if (args.command.trim() === '') throw new ToolError('command must not be empty.');
    const notes: string[] = [];
    let timeoutMs = args.timeout_ms ?? limits.executeTimeoutMs;
    if (timeoutMs > limits.executeMaxTimeoutMs) {
      notes.push(`timeout_ms ${timeoutMs} exceeds the maximum of ${limits.executeMaxTimeoutMs} ms; used ${limits.executeMaxTimeoutMs} ms.`);
      timeoutMs = limits.executeMaxTimeoutMs;
    }
    let command: SandboxedCommand;
    try {
      command = await ctx.sandbox.command(ctx.workspaceDir, args.command);
    } catch (err) {
      if (err instanceof SandboxUnavailableError) throw new ToolError(err.message);
      throw err;
    }
    const output = new OutputCollector(limits.outputCapBytes);
    const end = await runInProcessGroup(command, timeoutMs, output, signal);
    if (end.timedOut) {
      notes.push(`The command timed out after ${timeoutMs} ms and was killed with all its child processes.` +
        (timeoutMs < limits.executeMaxTimeoutMs ? ` If it needs longer, pass a larger timeout_ms (at most ${limits.executeMaxTimeoutMs}).` : ''));
    }
    if (end.leftoversKilled) notes.push('Background processes still running when the command exited were killed.');
    const result = {
      exit_code: end.code,
      ...(end.signal !== null ? { signal: end.signal } : {}),
      ...(end.timedOut ? { timed_out: true } : {}),
      output: output.text(),
      ...(notes.length > 0 ? { note: notes.join(' ') } : {}),
    };
    return { result, isError: end.timedOut };
  },
});

interface ProcessEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  leftoversKilled: boolean;
}

/**
 * Spawns the command (the sandbox's first process, or the shell itself without one) as the leader of
 * a new session and process group (detached: setsid), so that the whole tree it starts can be
 * signalled at once through the negative pid, and so that it has no controlling terminal to prompt
 * on. In the sandbox, killing its first process also ends its PID namespace with everything in it,
 * also processes that left the group. Rejects with an AbortError as soon as `abortSignal` fires;
 * the group is still terminated (SIGTERM, then SIGKILL after KILL_GRACE_MS) in the background.
 */
function runInProcessGroup(
  command: SandboxedCommand, timeoutMs: number, output: OutputCollector, abortSignal: AbortSignal,
): Promise<ProcessEnd> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(command.file, command.args, {
        cwd: command.cwd, env: command.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
        ...(command.uid !== undefined ? { uid: command.uid, gid: command.gid } : {}),
      });
    } catch (err) {
      reject(spawnFailure(err));
      return;
    }
    const pid = child.pid;
    let settled = false;
    let timedOut = false;
    let leftoversKilled = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let escalation: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;

    const terminate = (): void => {
      if (pid === undefined || escalation !== undefined) return;
      signalGroup(pid, 'SIGTERM');
      escalation = setTimeout(() => signalGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
    };
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(drainTimer);
      abortSignal.removeEventListener('abort', onAbort);
      fn();
    };
    const succeed = (): void => {
      if (exited === undefined) return;
      const { code, signal } = exited;
      settle(() => resolve({ code, signal, timedOut, leftoversKilled }));
    };
    const onAbort = (): void => {
      terminate();
      settle(() => reject(abortError(abortSignal)));
    };

    const timeoutTimer = setTimeout(() => {
      timedOut = true;
      terminate();
    }, timeoutMs);
    abortSignal.addEventListener('abort', onAbort, { once: true });

    const collect = (chunk: Buffer): void => output.push(chunk);
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);

    child.on('error', (err) => {
      terminate();
      settle(() => reject(spawnFailure(err)));
    });
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      clearTimeout(timeoutTimer);
      // Background jobs left behind would leak and keep the pipes open. Once a termination is
      // under way, its grace period is left to run instead.
      if (pid !== undefined && escalation === undefined) leftoversKilled = signalGroup(pid, 'SIGKILL');
      drainTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        succeed();
      }, escalation === undefined ? DRAIN_MS : KILL_GRACE_MS + DRAIN_MS);
    });
    child.on('close', () => {
      // Everyone holding the pipes is gone; skip the pending SIGKILL if the group is empty too.
      if (pid !== undefined && escalation !== undefined && !signalGroup(pid, 0)) clearTimeout(escalation);
      succeed();
    });
  });
}

/** Sends `signal` to every process in the group; false when none is left. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is empty
  }
}

function spawnFailure(err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new ToolError('Could not start the command: the workspace directory or /bin/sh does not exist.');
  return new ToolError(`Could not start the command: ${err instanceof Error ? err.message : String(err)}`);
}
