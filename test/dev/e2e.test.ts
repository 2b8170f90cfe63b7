// `parley dev` as a person runs it (issues 13 and 19): the whole stack from one command in a fresh
// data dir, the admin token shown only on the first run, owner-only secrets, the sandbox mode said,
// a quiet Ctrl-C, a PostgreSQL that dies reported, and a start after `kill -9` that cleans up.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../../src/dev/ports.ts';

let base: string;
let dataDir: string;
let env: Record<string, string>;
const running: ChildProcess[] = [];

beforeAll(async () => {
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'parley-dev-'));
  await fs.chmod(base, 0o755);
  dataDir = path.join(base, '.parley');
  env = {
    PATH: process.env.PATH ?? '',
    HOME: base,
    TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH ?? 'temporal',
    PARLEY_DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    PARLEY_TEMPORAL_PORT: String(await freePort()),
    PARLEY_TEMPORAL_UI_PORT: String(await freePort()),
  };
});

afterAll(async () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  // Whatever a SIGKILLed run left behind is stopped by the next run; the last run is always stopped.
  await fs.rm(base, { recursive: true, force: true });
});

interface Dev {
  child: ChildProcess;
  output: () => string;
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startDev(): Dev {
  const child = spawn(process.execPath, ['bin/parley.js', 'dev'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let out = '';
  const waiters: Array<() => void> = [];
  const collect = (b: Buffer) => { out += b.toString(); for (const w of waiters) w(); };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => { for (const w of waiters) w(); resolve({ code, signal }); }));
  const waitFor = (pattern: RegExp, timeoutMs = 90_000) => new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(out);
      if (m) { clearTimeout(timer); resolve(m[0]); return true; }
      if (child.exitCode !== null || child.signalCode !== null) { clearTimeout(timer); reject(new Error(`parley dev exited; output:\n${out}`)); return true; }
      return false;
    };
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${out}`)), timeoutMs);
    if (!check()) waiters.push(() => { check(); });
  });
  return { child, output: () => out, waitFor, exited };
}

const mode = async (p: string): Promise<number> => (await fs.stat(p)).mode & 0o777;

describe('parley dev', () => {
  let token: string;

  test('first run: everything starts, the admin token is shown once, secrets are owner-only', async () => {
    const dev = startDev();
    await dev.waitFor(/Parley is running\.[\s\S]*PostgreSQL: .*\n/);
    const out = dev.output();
    const shown = /Admin token: +(prl_\S+) +\(new; kept in (.*admin\.token)\)/.exec(out);
    expect(shown, out).not.toBeNull();
    token = shown![1]!;
    expect((await fs.readFile(path.join(dataDir, 'admin.token'), 'utf8')).trim()).toBe(token);
    expect(out).toMatch(/execute: sandboxed with bubblewrap/);
    expect(out).not.toContain('parley@127.0.0.1'); // the PostgreSQL URL is shown without its password

    const res = await fetch(`http://127.0.0.1:${env.PORT}/api/v1/chats`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);

    expect((await mode(dataDir)) & 0o066).toBe(0);
    for (const f of ['admin.token', 'secret.key', 'postgres.password', 'temporal.sqlite']) expect(await mode(path.join(dataDir, f)), f).toBe(0o600);

    // Ctrl-C: an ordered shutdown, exit 0, and nothing but the one line about it.
    const before = dev.output().length;
    dev.child.kill('SIGINT');
    expect(await dev.exited).toEqual({ code: 0, signal: null });
    expect(dev.output().slice(before).trim()).toBe('SIGINT: shutting down');
  }, 120_000);

  test('second run: the token is not printed, only where it is; a PostgreSQL that dies stops parley dev', async () => {
    const dev = startDev();
    await dev.waitFor(/Parley is running\.[\s\S]*PostgreSQL: .*\n/);
    expect(dev.output()).toMatch(/Admin token: +in .*admin\.token/);
    expect(dev.output()).not.toContain(token);

    const pid = Number((await fs.readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    const exit = await dev.exited;
    expect(exit.code).toBe(1);
    expect(dev.output()).toMatch(/The embedded PostgreSQL was killed by SIGKILL; Parley cannot run without its database\. Stopping\./);
  }, 120_000);

  test('after kill -9 of parley dev, the next start stops what it left behind and runs', async () => {
    const first = startDev();
    await first.waitFor(/Parley is running\.[\s\S]*PostgreSQL: .*\n/);
    first.child.kill('SIGKILL');
    await first.exited;

    const dev = startDev();
    await dev.waitFor(/Parley is running\.[\s\S]*PostgreSQL: .*\n/);
    expect(dev.output()).toMatch(/embedded PostgreSQL: stopping the server \(pid \d+\) an earlier run left behind/);
    expect(dev.output()).toMatch(/Temporal dev server: stopping the server \(pid \d+\) an earlier run left behind/);
    const res = await fetch(`http://127.0.0.1:${env.PORT}/api/v1/chats`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    dev.child.kill('SIGINT');
    expect((await dev.exited).code).toBe(0);
  }, 180_000);
});
