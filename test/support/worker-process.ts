import { spawn, type ChildProcess } from 'node:child_process';
import type { Stack } from './stack.ts';

/** A real `parley worker` process on the stack's database and task queue, as a deployment runs it. */
export async function startWorkerProcess(stack: Stack, env: Record<string, string> = {}): Promise<{ proc: ChildProcess; output: () => string }> {
  const c = stack.config;
  const proc = spawn(process.execPath, ['src/cli.ts', 'worker'], {
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
  while (!out.includes('polling task queue')) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`worker did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, output: () => out };
}
