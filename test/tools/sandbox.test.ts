// `execute` inside the bubblewrap sandbox, probed as a hostile member would (issue 19): every read
// that worked against the unconfined shell is tried from a command and must fail. Real bwrap, real
// processes; CI installs bubblewrap (.ci/run).
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, defaultSandboxSettings, defaultToolLimits, ensureWorkspace, runTool } from '../../src/tools/index.ts';
import type { Sandbox, SandboxSettings, ToolOutcome } from '../../src/tools/index.ts';

let base: string;
let root: string;
let dataDir: string;
let ws: string;
let other: string;
const sandbox = createSandbox(defaultSandboxSettings);
const SECRET = 'sk-worker-secret-0123456789';

beforeAll(async () => {
  // The sandbox user must be able to pass through the directories above the workspaces (0711).
  base = await realpath(await mkdtemp(join(tmpdir(), 'parley-sandbox-')));
  await chmod(base, 0o711);
  root = join(base, 'workspaces');
  dataDir = join(base, 'data');
  await mkdir(dataDir, { mode: 0o700 });
  await writeFile(join(dataDir, 'admin-token'), 'the-admin-token\n', { mode: 0o600 });
  ws = await ensureWorkspace(root, 'chat-mine', sandbox.owner);
  other = await ensureWorkspace(root, 'chat-theirs', sandbox.owner);
  await runTool('write_file', { path: 'secret.txt', content: 'their secret\n' }, ctx(other));
  process.env.PARLEY_TEST_SECRET = SECRET;
});

afterAll(async () => {
  delete process.env.PARLEY_TEST_SECRET;
  await rm(base, { recursive: true, force: true });
});

function ctx(workspaceDir = ws, box: Sandbox = sandbox, signal = new AbortController().signal) {
  return { workspaceDir, signal, limits: defaultToolLimits, sandbox: box };
}

type ExecResult = { exit_code: number | null; output: string; signal?: string; timed_out?: boolean; note?: string };
async function exec(command: string, box: Sandbox = sandbox, timeoutMs = 10_000): Promise<ExecResult> {
  const out: ToolOutcome = await runTool('execute', { command, timeout_ms: timeoutMs }, ctx(ws, box));
  if (typeof out.result === 'string') throw new Error(`execute failed: ${out.result}`);
  return out.result as ExecResult;
}

const hostProcesses = (pattern: string): string[] =>
  execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(pattern) && !l.includes('ps -eo'));

async function listen(): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.on('error', () => {}); // the sandbox ends with the command, resetting the connection
    socket.end('hello\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0, connections: () => connections };
}

describe('the sandbox', () => {
  it('is available here and says how it runs', async () => {
    expect(await sandbox.unavailable()).toBeUndefined();
    expect(await sandbox.describe()).toMatch(/^execute: sandboxed with bubblewrap .*network off/);
  });

  it('runs the command in the workspace as an unprivileged user, and files land in the workspace', async () => {
    const out = await exec('pwd; id -u; echo made-inside > inside.txt; echo "HOME=$HOME"');
    expect(out.exit_code).toBe(0);
    const [pwd, uid, home] = out.output.trim().split('\n');
    expect(pwd).toBe('/workspace');
    expect(Number(uid)).not.toBe(0);
    expect(home).toBe('HOME=/workspace');
    expect(await readFile(join(ws, 'inside.txt'), 'utf8')).toBe('made-inside\n');
    // The file tools and the commands share the workspace both ways.
    expect((await runTool('read_file', { path: 'inside.txt' }, ctx())).isError).toBe(false);
    await runTool('write_file', { path: 'notes/from-tool.txt', content: 'written by write_file\n' }, ctx());
    expect((await exec('cat notes/from-tool.txt && echo more >> notes/from-tool.txt && echo ok')).output).toBe('written by write_file\nok\n');
    if (process.getuid?.() === 0) {
      const st = await stat(join(ws, 'notes/from-tool.txt'));
      expect(st.uid).toBe(sandbox.owner!.uid);
      expect(st.mode & 0o777).toBe(0o600);
      expect((await stat(ws)).mode & 0o777).toBe(0o700);
      expect((await stat(root)).mode & 0o777).toBe(0o711);
    }
  });

  it("can't see other chats' workspaces, the workspaces root or the data dir", async () => {
    const out = await exec([
      'cat ../chat-theirs/secret.txt', `cat ${other}/secret.txt`, `ls ${root}`, `cat ${dataDir}/admin-token`, `ls ${base}`,
    ].map((c) => `${c} && echo LEAKED`).join('; ') + '; ls ..');
    expect(out.output).not.toContain('LEAKED');
    expect(out.output).not.toContain('their secret');
    expect(out.output).not.toContain('the-admin-token');
    expect(out.output.split('\n')).not.toContain('chat-theirs'); // ".." is the sandbox's own root
    expect(out.output).toContain('workspace');
  });

  it("sees only its own processes in /proc, and none of the worker's environment", async () => {
    const out = await exec(`ls /proc | grep -c '^[0-9]'; cat /proc/1/environ | tr '\\0' '\\n'; cat /proc/${process.pid}/environ && echo LEAKED; ps -e -o pid= | wc -l`);
    const lines = out.output.trim().split('\n');
    expect(Number(lines[0])).toBeLessThan(10); // the sandbox's init, the shell and a few of its own
    expect(out.output).not.toContain(SECRET);
    expect(out.output).not.toContain('LEAKED');
    expect(out.output).toContain('PATH=/usr/local/sbin');
  });

  it('reaches no service on the host loopback; with PARLEY_EXECUTE_NETWORK=host it does', async () => {
    const { server, port, connections } = await listen();
    try {
      const probe = `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && echo CONNECTED' 2>&1; true`;
      expect((await exec(probe)).output).not.toContain('CONNECTED');
      expect(connections()).toBe(0);
      const shared = createSandbox({ ...defaultSandboxSettings, network: 'host' });
      expect((await exec(probe, shared)).output).toContain('CONNECTED');
      expect(connections()).toBe(1);
    } finally {
      server.close();
    }
  });

  it('writes nowhere but the workspace and its own /tmp', async () => {
    const out = await exec('for f in /usr/x /etc/x /x /bin/x /workspace/../x; do (echo > $f) 2>/dev/null && echo "WROTE $f"; done; echo > /tmp/ok && echo tmp-ok');
    expect(out.output).toBe('tmp-ok\n');
  });

  it('ends everything a command started when it exits: setsid and nohup do not escape', async () => {
    const marker = `parley-escape-${process.pid}`;
    const out = await exec(`setsid sleep 123 & nohup setsid sh -c 'while true; do sleep 1; done # ${marker}' >/dev/null 2>&1 & echo started`);
    expect(out.output).toContain('started');
    await new Promise((r) => setTimeout(r, 300));
    expect(hostProcesses('sleep 123')).toEqual([]);
    expect(hostProcesses(marker)).toEqual([]);
  });

  it('ends everything on timeout and on abort too', async () => {
    const marker = `parley-timeout-${process.pid}`;
    const out = await exec(`setsid sh -c 'sleep 300 # ${marker}' & sleep 30`, sandbox, 300);
    expect(out.timed_out).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(hostProcesses(marker)).toEqual([]);

    const abortMarker = `parley-abort-${process.pid}`;
    const ac = new AbortController();
    const pending = runTool('execute', { command: `setsid sh -c 'sleep 300 # ${abortMarker}' & sleep 30`, timeout_ms: 60_000 }, ctx(ws, sandbox, ac.signal));
    for (let i = 0; i < 50 && hostProcesses(abortMarker).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(hostProcesses(abortMarker)).not.toEqual([]);
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await new Promise((r) => setTimeout(r, 500));
    expect(hostProcesses(abortMarker)).toEqual([]);
  });

  it('enforces its limits: file size, memory, processes, CPU', async () => {
    const limits: SandboxSettings['limits'] = { memoryMb: 256, maxProcesses: 64, maxFileMb: 1, cpuSeconds: 7 };
    const tight = createSandbox({ ...defaultSandboxSettings, limits });
    const out = await exec('ulimit -v; ulimit -p; ulimit -f; ulimit -t; head -c 2000000 /dev/zero > big; echo "write=$?"; wc -c < big', tight);
    const [as, nproc, fsize, cpu, write, size] = out.output.trim().split('\n').filter((l) => !l.includes('File size limit'));
    expect(Number(as)).toBe(256 * 1024);
    expect(Number(nproc)).toBe(64);
    expect(Number(fsize) * 512).toBe(1024 * 1024); // dash counts 512-byte blocks
    expect(Number(cpu)).toBe(7);
    expect(write).not.toBe('write=0');
    expect(Number(size)).toBeLessThanOrEqual(1024 * 1024);
    // Memory: a process that tries to hold 512 MB under a 256 MB limit fails instead.
    const big = await exec("python3 -c 'x = bytearray(512 * 1024 * 1024); print(\"ALLOCATED\")' 2>&1; true", tight);
    expect(big.output).not.toContain('ALLOCATED');
    expect(big.output).toMatch(/MemoryError/);
  });

  it('without bubblewrap, execute is refused with a message saying what to do', async () => {
    const missing = createSandbox({ ...defaultSandboxSettings, bwrapPath: join(base, 'no-such-bwrap') });
    expect(await missing.describe()).toMatch(/^execute: DISABLED/);
    const out = await runTool('execute', { command: 'echo should-not-run' }, ctx(ws, missing));
    expect(out.isError).toBe(true);
    expect(out.result).toMatch(/execute tool is unavailable on this server: .*bubblewrap could not start.*install bubblewrap.*PARLEY_EXECUTE_SANDBOX=none/s);
    const absent = createSandbox({ ...defaultSandboxSettings, bwrapPath: undefined });
    const savedPath = process.env.PATH;
    process.env.PATH = join(base, 'empty-bin');
    try {
      expect((await runTool('execute', { command: 'true' }, ctx(ws, absent))).result).toMatch(/bubblewrap \(bwrap\) is not installed on the worker/);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('a workspace the sandbox user cannot reach gets a clear error, not a bare EACCES', async () => {
    if (sandbox.owner === undefined) return; // only a root worker switches users
    const closed = join(base, 'closed');
    await mkdir(closed, { mode: 0o700 });
    const hidden = await ensureWorkspace(join(closed, 'workspaces'), 'chat-x', sandbox.owner);
    const out = await runTool('execute', { command: 'true' }, ctx(hidden));
    expect(out.isError).toBe(true);
    expect(out.result).toMatch(new RegExp(`cannot reach the workspace: ${closed} is not searchable for it \\(mode 700\\).*PARLEY_WORKSPACES_DIR`));
  });

  it('PARLEY_EXECUTE_SANDBOX=none says loudly that it is unconfined', async () => {
    expect(await createSandbox({ ...defaultSandboxSettings, mode: 'none' }).describe()).toMatch(/NOT sandboxed/);
  });
});

it('a sandbox that found no bwrap on PATH uses it once it is there (no restart needed)', async () => {
  const { execFileSync: run } = await import('node:child_process');
  const real = run('sh', ['-c', 'command -v bwrap'], { encoding: 'utf8' }).trim();
  const late = createSandbox({ ...defaultSandboxSettings, bwrapPath: undefined });
  const savedPath = process.env.PATH;
  process.env.PATH = join(base, 'no-bwrap-here');
  try {
    expect(await late.unavailable()).toMatch(/bubblewrap \(bwrap\) is not installed/);
  } finally {
    process.env.PATH = savedPath;
  }
  expect(process.env.PATH?.split(':')).toContain(real.slice(0, real.lastIndexOf('/')));
  expect(await late.unavailable()).toBeUndefined();
  const out = await runTool('execute', { command: 'echo late' }, ctx(ws, late));
  expect(out.result).toMatchObject({ exit_code: 0, output: 'late\n' });
});
