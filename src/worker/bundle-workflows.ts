// The workflow bundle (webpack, 1–3 s). Webpack's heap is never given back to the OS: a worker that
// bundled in its own process would keep 100–150 MB it never uses again (a worker thread keeps it too).
// So the worker either loads a bundle built ahead of time (`parley bundle-workflows`,
// PARLEY_WORKFLOW_BUNDLE) or runs this module as a short-lived child process.
import { fork } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type Logger, type WorkflowBundle } from '@temporalio/worker';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Bundles in this process; tests bundle once per run and share the result across their workers. */
export async function bundleWorkflows(from = workflowsPath): Promise<WorkflowBundle> {
  const report: string[] = [];
  const noop = () => {};
  // Webpack's own report (which module, which line) goes to the logger, not into the error.
  const logger: Logger = { trace: noop, debug: noop, info: noop, warn: noop, log: noop, error: (message) => { report.push(message); } };
  try {
    const { code } = await bundleWorkflowCode({ workflowsPath: from, logger });
    return { code };
  } catch (err) {
    const details = report.length ? `\n${report.join('\n')}` : '';
    throw new Error(`Bundling the workflow code (${from}) failed: ${(err as Error).message}${details}`, { cause: err });
  }
}

type ChildReply = { code: string } | { error: string };

/**
 * Bundles in a child process, so webpack's memory leaves with it. Resolves once the child has
 * exited; webpack errors and crashes of the child reject with what the child reported.
 */
export function bundleWorkflowsInChild(from = workflowsPath): Promise<WorkflowBundle> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [from], {
      // A debugged worker's --inspect(-brk) would make the child wait for a debugger of its own.
      execArgv: process.execArgv.filter((arg) => !arg.startsWith('--inspect')),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let reply: ChildReply | undefined;
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-8_000); });
    child.on('message', (m) => { reply = m as ChildReply; });
    child.on('error', reject);
    // 'close', not 'exit': only then have the IPC channel and stderr been read to the end.
    child.on('close', (code, signal) => {
      if (reply && 'code' in reply) resolve({ code: reply.code });
      else if (reply) reject(new Error(reply.error));
      else reject(new Error(`The workflow bundler process (${from}) ended with ${signal ?? `exit code ${code}`} and no bundle${stderr ? `:\n${stderr.trim()}` : ''}`));
    });
  });
}

/** `parley bundle-workflows <file>`. */
export async function writeWorkflowBundle(file: string): Promise<void> {
  const { code } = await bundleWorkflows();
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await fs.writeFile(file, code);
}

if (import.meta.main) {
  // The worker is gone (stopped or crashed while starting): nobody wants the bundle.
  process.on('disconnect', () => process.exit(1));
  const send = (reply: ChildReply) => process.send!(reply, () => process.exit(0));
  bundleWorkflows(process.argv[2]).then(({ code }) => send({ code }), (err: unknown) => send({ error: (err as Error).message }));
}
