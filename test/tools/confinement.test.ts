// The file tools against a workspace that changes under them: a process swapping a directory for a
// symlink that leads outside, and hard links to files outside. Real directories, a real process.
import { spawn } from 'node:child_process';
import { chmod, link, lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSandbox, defaultSandboxSettings, defaultToolLimits, ensureWorkspace, runTool } from '../../src/tools/index.ts';
import type { ToolOutcome } from '../../src/tools/index.ts';

let base: string;
let ws: string;
let outside: string; // what a swapped-in symlink points at: tools must never read or change it
let n = 0;

const OUTSIDE_FILES: Record<string, string> = {
  'marker': 'OUTSIDE marker\n',
  'edit.txt': 'OUTSIDE token\n',
  'outside-only.txt': 'OUTSIDE only\n',
};

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'parley-confine-')));
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

beforeEach(async () => {
  ws = await ensureWorkspace(join(base, 'workspaces'), `chat-${++n}`);
  outside = join(base, `outside-${n}`);
  await mkdir(outside);
  for (const [name, content] of Object.entries(OUTSIDE_FILES)) await writeFile(join(outside, name), content);
});

const unsandboxed = createSandbox({ ...defaultSandboxSettings, mode: 'none' });

const run = (name: string, args: unknown): Promise<ToolOutcome> =>
  runTool(name, args, { workspaceDir: ws, signal: new AbortController().signal, limits: defaultToolLimits, sandbox: unsandboxed });

/** Every file under `dir` (symlinks not followed), as relative path → content. */
async function snapshot(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix + d.name;
    if (d.isDirectory()) Object.assign(out, await snapshot(join(dir, d.name), `${rel}/`));
    else if (d.isFile()) out[rel] = await readFile(join(dir, d.name), 'utf8');
    else out[rel] = `<${d.isSymbolicLink() ? 'symlink' : 'other'}>`;
  }
  return out;
}

/**
 * A separate process that keeps swapping `<ws>/<name>` between what it is (a directory or a file)
 * and a symlink to `target`, with renames, until a stop file appears or its own deadline passes. A
 * tool call may create a fresh entry in the moment it is missing; the swapper removes such an
 * intruder so the swapping goes on.
 */
function startSwapper(name: string, target: string, deadlineMs: number): { stop: () => Promise<number> } {
  const script = `
    const fs = require('node:fs');
    const [d, target, stopFile, deadline] = process.argv.slice(1);
    const real = d + '.real', link = d + '.link';
    fs.symlinkSync(target, link);
    const tryDo = (f) => { try { f(); } catch {} };
    let swaps = 0;
    const end = Date.now() + Number(deadline);
    while (Date.now() < end && !fs.existsSync(stopFile)) {
      tryDo(() => fs.renameSync(d, real));
      tryDo(() => fs.renameSync(link, d));
      swaps++;
      tryDo(() => fs.renameSync(d, link));
      if (fs.existsSync(real)) {
        tryDo(() => { if (!fs.lstatSync(d).isSymbolicLink()) fs.rmSync(d, { recursive: true, force: true }); });
        tryDo(() => fs.renameSync(real, d));
      }
      if (!fs.existsSync(link)) tryDo(() => fs.symlinkSync(target, link));
    }
    process.stdout.write(String(swaps));
  `;
  const stopFile = join(base, `stop-${n}`);
  const child = spawn(process.execPath, ['-e', script, join(ws, name), target, stopFile, String(deadlineMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    stop: async () => {
      await writeFile(stopFile, '');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
      return Number(out || '0');
    },
  };
}

describe('a directory swapped for a symlink to outside while tools run', () => {
  it('never reads, lists or writes outside the workspace', async () => {
    await mkdir(join(ws, 'd'));
    await writeFile(join(ws, 'd/marker'), 'inside marker\n');
    await writeFile(join(ws, 'd/edit.txt'), 'inside token\n');
    const swapper = startSwapper('d', outside, 30_000);
    const results: { call: string; out: ToolOutcome }[] = [];
    try {
      // Give the swapper a moment to start swapping before the calls begin.
      await new Promise((r) => setTimeout(r, 300));
      const ROUNDS = 8;
      const PER_KIND = 12;
      for (let round = 0; round < ROUNDS; round++) {
        const calls: [string, unknown][] = [];
        for (let i = 0; i < PER_KIND; i++) {
          calls.push(['read_file', { path: 'd/marker' }]);
          calls.push(['list_files', { path: 'd' }]);
          calls.push(['write_file', { path: 'd/x', content: 'written\n' }]);
          calls.push(['write_file', { path: `d/sub${i}/y`, content: 'written\n' }]);
          calls.push(i % 2 === 0
            ? ['edit_file', { path: 'd/edit.txt', old_text: 'token', new_text: 'TOKEN' }]
            : ['edit_file', { path: 'd/edit.txt', old_text: 'TOKEN', new_text: 'token' }]);
        }
        const outs = await Promise.all(calls.map(async ([tool, args]) => ({ call: `${tool} ${JSON.stringify(args)}`, out: await run(tool, args) })));
        results.push(...outs);
      }
    } finally {
      const swaps = await swapper.stop();
      expect(swaps).toBeGreaterThan(0);
    }
    expect(results.length).toBe(8 * 12 * 5);

    const leaked = results.filter(({ out }) => JSON.stringify(out.result).includes('OUTSIDE'));
    expect.soft(leaked.map((l) => l.call), `${leaked.length} of ${results.length} calls saw outside content`).toEqual([]);
    // Nothing outside was created, changed or removed.
    expect.soft(await snapshot(outside)).toEqual(OUTSIDE_FILES);
    // No outside content was copied into the workspace either (an edit reading the outside file).
    const inside = await snapshot(ws);
    expect.soft(Object.entries(inside).filter(([, content]) => content.includes('OUTSIDE'))).toEqual([]);
    // The calls did their work inside: some reads saw the marker, some writes landed.
    expect(results.some(({ out }) => !out.isError && out.result === 'inside marker\n')).toBe(true);
    expect(results.some(({ call, out }) => call.startsWith('write_file') && !out.isError)).toBe(true);
  });
});

describe('a file swapped for a symlink to an outside file while tools run', () => {
  // No write_file calls here: each one renames a regular file over the swapped-in symlink, which
  // takes the link away and hides the race (writes through a raced path are covered above).
  it('never reads it, nor edits it', async () => {
    await writeFile(join(ws, 'f'), 'inside token\n');
    const swapper = startSwapper('f', join(outside, 'edit.txt'), 30_000);
    const results: { call: string; out: ToolOutcome }[] = [];
    try {
      await new Promise((r) => setTimeout(r, 300));
      for (let round = 0; round < 8; round++) {
        const calls: [string, unknown][] = [];
        for (let i = 0; i < 15; i++) {
          calls.push(['read_file', { path: 'f' }]);
          calls.push(['read_file', { path: 'f', limit: 1 }]);
          calls.push(i % 2 === 0
            ? ['edit_file', { path: 'f', old_text: 'token', new_text: 'TOKEN' }]
            : ['edit_file', { path: 'f', old_text: 'TOKEN', new_text: 'token' }]);
        }
        results.push(...await Promise.all(calls.map(async ([tool, args]) => ({ call: `${tool} ${JSON.stringify(args)}`, out: await run(tool, args) }))));
      }
    } finally {
      expect(await swapper.stop()).toBeGreaterThan(0);
    }
    const leaked = results.filter(({ out }) => JSON.stringify(out.result).includes('OUTSIDE'));
    expect.soft(leaked.map((l) => l.call), `${leaked.length} of ${results.length} calls saw outside content`).toEqual([]);
    expect.soft(await snapshot(outside)).toEqual(OUTSIDE_FILES);
    expect.soft(Object.entries(await snapshot(ws)).filter(([, content]) => content.includes('OUTSIDE'))).toEqual([]);
    expect(results.some(({ out }) => !out.isError && typeof out.result === 'string' && out.result.startsWith('inside'))).toBe(true);
  });
});

describe('symlinks inside the workspace, followed by the walk itself', () => {
  it('follows an absolute symlink that names a place in the workspace', async () => {
    await mkdir(join(ws, 'real'));
    await writeFile(join(ws, 'real/f.txt'), 'via absolute link\n');
    await symlink(join(ws, 'real'), join(ws, 'abs'));
    expect(await run('read_file', { path: 'abs/f.txt' })).toEqual({ isError: false, result: 'via absolute link\n' });
    expect((await run('write_file', { path: 'abs/g.txt', content: 'x' })).isError).toBe(false);
    expect(await readFile(join(ws, 'real/g.txt'), 'utf8')).toBe('x');
  });

  it('follows ".." in a link target back up through the directories it came through', async () => {
    await mkdir(join(ws, 'sub'));
    await writeFile(join(ws, 'top.txt'), 'top\n');
    await symlink('..', join(ws, 'sub/up'));
    expect(await run('read_file', { path: 'sub/up/top.txt' })).toEqual({ isError: false, result: 'top\n' });
    const listing = await run('list_files', { path: 'sub/up' });
    expect(listing.isError).toBe(false);
    expect((listing.result as { entries: { path: string }[] }).entries.map((e) => e.path)).toEqual(['sub/up/sub', 'sub/up/top.txt']);
  });

  it('refuses a link target that climbs above the workspace, even one that comes back in', async () => {
    await writeFile(join(ws, 'a.txt'), 'a\n');
    await symlink(`../chat-${n}/a.txt`, join(ws, 'round-trip'));
    expect((await run('read_file', { path: 'round-trip' })).result).toMatch(/"round-trip" leads outside the workspace through a symbolic link/);
  });

  it('writes through a dangling in-workspace link, creating the missing directories of its target', async () => {
    await symlink('made/here.txt', join(ws, 'later'));
    expect(await run('write_file', { path: 'later', content: 'made\n' })).toEqual({ isError: false, result: 'Created "later" (5 bytes).' });
    expect(await readFile(join(ws, 'made/here.txt'), 'utf8')).toBe('made\n');
    expect((await lstat(join(ws, 'later'))).isSymbolicLink()).toBe(true);
  });

  it('creates many missing parent directories at once', async () => {
    const deep = `${Array.from({ length: 40 }, (_, i) => `d${i}`).join('/')}/leaf.txt`;
    expect(await run('write_file', { path: deep, content: 'deep' })).toEqual({ isError: false, result: `Created "${deep}" (4 bytes).` });
    expect(await readFile(join(ws, deep), 'utf8')).toBe('deep');
  });

  it('refuses a path longer than the kernel would take', async () => {
    const out = await run('write_file', { path: 'a/'.repeat(2100) + 'f', content: 'x' });
    expect(out).toEqual({ isError: true, result: expect.stringMatching(/^Path is too long: \d+ bytes with the workspace directory; at most 4095 are allowed\.$/) });
    expect(await readdir(ws)).toEqual([]);
  });

  it('keeps the permission bits of a file it overwrites, but never setuid, setgid or sticky', async () => {
    await writeFile(join(ws, 'tool'), '#!/bin/sh\n');
    await chmod(join(ws, 'tool'), 0o7755);
    expect((await run('write_file', { path: 'tool', content: '#!/bin/sh\necho hi\n' })).isError).toBe(false);
    expect((await stat(join(ws, 'tool'))).mode & 0o7777).toBe(0o755);
    await chmod(join(ws, 'tool'), 0o6750);
    expect((await run('edit_file', { path: 'tool', old_text: 'hi', new_text: 'ho' })).isError).toBe(false);
    expect((await stat(join(ws, 'tool'))).mode & 0o7777).toBe(0o750);
  });

  it('creates new files readable by the worker only (0600), missing parents included', async () => {
    expect((await run('write_file', { path: 'new/dir/file.txt', content: 'x' })).isError).toBe(false);
    expect((await stat(join(ws, 'new/dir/file.txt'))).mode & 0o777).toBe(0o600);
  });
});

describe('hard links to files outside the workspace', () => {
  const hardLinked = /"hl\.txt" has 2 hard links; Parley's file tools refuse hard-linked files because another link may point outside the workspace/;

  beforeEach(async () => {
    await link(join(outside, 'edit.txt'), join(ws, 'hl.txt'));
  });

  it('read_file refuses them', async () => {
    const out = await run('read_file', { path: 'hl.txt' });
    expect(out.isError).toBe(true);
    expect(out.result).toMatch(hardLinked);
    expect(out.result).not.toContain('OUTSIDE');
  });

  it('edit_file refuses them and changes nothing', async () => {
    const out = await run('edit_file', { path: 'hl.txt', old_text: 'token', new_text: 'pwned' });
    expect(out.isError).toBe(true);
    expect(out.result).toMatch(hardLinked);
    expect(await readFile(join(outside, 'edit.txt'), 'utf8')).toBe(OUTSIDE_FILES['edit.txt']);
    expect(await readFile(join(ws, 'hl.txt'), 'utf8')).toBe(OUTSIDE_FILES['edit.txt']);
  });

  it('edit_file also refuses a search text it would not find (no hint about the content)', async () => {
    const out = await run('edit_file', { path: 'hl.txt', old_text: 'not there', new_text: 'x' });
    expect(out.result).toMatch(hardLinked);
  });

  it('write_file replaces the link in the workspace and leaves the outside file alone', async () => {
    const out = await run('write_file', { path: 'hl.txt', content: 'mine\n' });
    expect(out).toEqual({ isError: false, result: 'Overwrote "hl.txt" (5 bytes).' });
    expect(await readFile(join(ws, 'hl.txt'), 'utf8')).toBe('mine\n');
    expect((await stat(join(ws, 'hl.txt'))).nlink).toBe(1);
    expect(await readFile(join(outside, 'edit.txt'), 'utf8')).toBe(OUTSIDE_FILES['edit.txt']);
    expect((await stat(join(outside, 'edit.txt'))).nlink).toBe(1);
    // Now an ordinary file of the workspace: readable again.
    expect(await run('read_file', { path: 'hl.txt' })).toEqual({ isError: false, result: 'mine\n' });
  });

  it('refuses a hard-linked file reached through an in-workspace symlink too', async () => {
    await symlink('hl.txt', join(ws, 'alias'));
    expect((await lstat(join(ws, 'alias'))).isSymbolicLink()).toBe(true);
    expect((await run('read_file', { path: 'alias' })).result).toMatch(/has 2 hard links/);
  });
});

describe('without Linux /proc', () => {
  it('a file tool call says what is missing instead of failing obscurely', async () => {
    const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
    vi.resetModules(); // a fresh copy of the tools, which has not checked /proc yet
    const fresh = await import('../../src/tools/index.ts');
    Object.defineProperty(process, 'platform', { ...platform, value: 'darwin' });
    try {
      const out = await fresh.runTool('list_files', {}, { workspaceDir: ws, signal: new AbortController().signal, limits: defaultToolLimits, sandbox: unsandboxed });
      expect(out).toEqual({ isError: true, result: expect.stringContaining("Parley's file tools need Linux with /proc mounted") });
    } finally {
      Object.defineProperty(process, 'platform', platform);
    }
    // Checked again on the next call, not remembered as broken.
    expect((await fresh.runTool('list_files', {}, { workspaceDir: ws, signal: new AbortController().signal, limits: defaultToolLimits, sandbox: unsandboxed })).isError).toBe(false);
  });
});
