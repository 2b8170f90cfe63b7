import { spawn, type ChildProcess } from 'node:child_process';
import { ADMIN_TOKEN, type Stack } from './stack.ts';

export interface ParleyProcess { proc: ChildProcess; output: () => string }

/** A real `parley <command>` process on the stack's database and task queue, as a deployment runs it. */
async function startParleyProcess(stack: Stack, command: 'worker' | 'api', ready: RegExp, env: Record<string, string>): Promise<ParleyProcess> {
  const c = stack.config;
  const proc = spawn(process.execPath, ['src/cli.ts', command], {
    env: {
      ...process.env,
      DATABASE_URL: c.databaseUrl, TEMPORAL_ADDRESS: c.temporalAddress, PARLEY_TASK_QUEUE: c.taskQueue,
      PARLEY_SECRET_KEY: c.secretKey, PARLEY_WORKSPACES_DIR: c.workspacesDir, PARLEY_SHUTDOWN_GRACE_MS: '0',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (b) => { out += b; });
  proc.stderr!.on('data', (b) => { out += b; });
  const deadline = Date.now() + 60_000;
  while (!ready.test(out)) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`parley ${command} did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, output: () => out };
}

export function startWorkerProcess(stack: Stack, env: Record<string, string> = {}): Promise<ParleyProcess> {
  return startParleyProcess(stack, 'worker', /polling task queue/, env);
}

/** A real `parley api` process beside the stack's own API, with the same admin token; `url` is its base. */
export async function startApiProcess(stack: Stack, env: Record<string, string> = {}): Promise<ParleyProcess & { url: string }> {
  const p = await startParleyProcess(stack, 'api', /API listening on \S+/, {
    PARLEY_ADMIN_TOKEN: ADMIN_TOKEN, HOST: '127.0.0.1', PORT: '0', ...env,
  });
  return { ...p, url: /API listening on (\S+)/.exec(p.output())![1]! };
}

/** Kills the process with `signal` and waits until it has exited. */
export async function killProcess(p: ParleyProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  const exited = new Promise((r) => p.proc.once('exit', r));
  p.proc.kill(signal);
  await exited;
}
