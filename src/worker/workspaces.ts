// The workspaces root on a worker's disk: its sweep, and the move out of the data dir.
//
// Deleting a chat happens in the API, which may run on another machine than the workers whose disks
// hold its workspace. So each worker sweeps its own workspaces root: a workspace whose chat no longer
// exists is removed. (A chat's row exists before any of its tools can run, so "no row" means deleted.)
// The sandbox already ended every process a deleted chat's commands started: a call ends its PID
// namespace, and deleting a chat cancels its workflow, which aborts a call in progress.
import { randomUUID } from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Pool } from '../db/pool.ts';
import { existingChatIds } from '../db/workspaces.ts';
import { isUuid } from '../shared/ids.ts';

/** Names the deployment (database) whose chats the root holds: another Parley's workspaces are never swept. */
export const DEPLOYMENT_MARKER = '.parley-deployment';
const BATCH = 500;

export interface SweepOptions {
  pool: Pool;
  root: string;
  deployment: string;
}

/**
 * Removes the workspaces of deleted chats; returns their chat ids. Does nothing (and says why) when
 * the root belongs to another deployment: two Parleys with one workspaces dir and two databases would
 * otherwise delete each other's workspaces.
 */
export async function sweepWorkspaces(opts: SweepOptions): Promise<{ removed: string[]; foreign?: string }> {
  const owner = await claimRoot(opts.root, opts.deployment);
  if (owner !== opts.deployment) return { removed: [], foreign: owner };
  const names = (await readdir(opts.root, { withFileTypes: true }).catch(() => []))
    .filter((e) => e.isDirectory() && isUuid(e.name)).map((e) => e.name);
  const removed: string[] = [];
  for (let i = 0; i < names.length; i += BATCH) {
    const batch = names.slice(i, i + BATCH);
    const alive = await existingChatIds(opts.pool, batch);
    for (const id of batch.filter((n) => !alive.has(n))) {
      await rm(join(opts.root, id), { recursive: true, force: true });
      removed.push(id);
    }
  }
  return { removed };
}

/** The deployment recorded in the root, writing ours if none is. */
async function claimRoot(root: string, deployment: string): Promise<string> {
  const marker = join(root, DEPLOYMENT_MARKER);
  const existing = await readFile(marker, 'utf8').catch(() => undefined);
  if (existing !== undefined) return existing.trim();
  // Written under a temp name, then linked into place: two workers starting at once agree on one.
  const tmp = `${marker}.${randomUUID()}`;
  try {
    await writeFile(tmp, `${deployment}\n`, { mode: 0o600 });
    await link(tmp, marker).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'EEXIST') throw err; });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return deployment; // no root yet: nothing to sweep
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
  return (await readFile(marker, 'utf8')).trim();
}

export interface WorkspaceSweeper {
  stop(): Promise<void>;
}

/** Sweeps at start and every `intervalMs`; errors are reported (once per distinct message) and retried. */
export function startWorkspaceSweep(opts: SweepOptions & { intervalMs: number; log: (line: string) => void }): WorkspaceSweeper {
  let lastProblem: string | undefined;
  let current: Promise<void> | undefined;
  const run = (): void => {
    if (current !== undefined) return; // the previous sweep is still going
    current = sweepWorkspaces(opts).then(({ foreign }) => {
      const problem = foreign === undefined ? undefined
        : `workspace sweep: ${opts.root} belongs to Parley deployment ${foreign}, not ${opts.deployment}; not sweeping it. Give each deployment its own PARLEY_WORKSPACES_DIR.`;
      if (problem !== undefined && problem !== lastProblem) opts.log(problem);
      lastProblem = problem;
    }, (err: unknown) => {
      const problem = `workspace sweep: ${err instanceof Error ? err.message : String(err)}`;
      if (problem !== lastProblem) opts.log(problem);
      lastProblem = problem;
    }).finally(() => { current = undefined; });
  };
  run();
  const timer = setInterval(run, opts.intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await current;
    },
  };
}

/**
 * Workspaces used to live in `<data dir>/workspaces`, where a command could reach the data dir's
 * secrets. Moves them to their own root on the first start after the upgrade; returns a line to log.
 */
export async function adoptLegacyWorkspaces(dataDir: string, root: string): Promise<string | undefined> {
  const legacy = join(dataDir, 'workspaces');
  const [legacyExists, rootExists] = await Promise.all([exists(legacy), exists(root)]);
  if (!legacyExists) return undefined;
  if (rootExists) return `workspaces: ${legacy} is left over from an older Parley and ${root} exists too; move what you need by hand.`;
  try {
    await mkdir(dirname(root), { recursive: true });
    await rename(legacy, root);
    return `workspaces: moved ${legacy} to ${root} (workspaces no longer live in the data dir).`;
  } catch (err) {
    return `workspaces: could not move ${legacy} to ${root} (${(err as Error).message}); move it by hand.`;
  }
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
