// The agent's tools against a real temporary directory and real processes.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, link, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSandbox, defaultSandboxSettings, defaultToolLimits, ensureWorkspace, runTool, toolSpecs, ToolError } from '../../src/tools/index.ts';
import type { ToolContext, ToolLimits, ToolOutcome } from '../../src/tools/index.ts';
import { KILL_GRACE_MS } from '../../src/tools/execute.ts';
import { MAX_LIST_ENTRIES } from '../../src/tools/list-files.ts';

let base: string; // real path of the per-file temp dir
let root: string; // workspace root
let ws: string; // the workspace of the current test
let outside: string; // a directory next to the workspaces that tools must never reach
let n = 0;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'parley-tools-')));
  root = join(base, 'workspaces');
  outside = join(base, 'outside');
  await mkdir(outside);
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

beforeEach(async () => {
  ws = await ensureWorkspace(root, `chat-${++n}`);
  await writeFile(join(outside, 'secret.txt'), 'top secret\n');
});

const unsandboxed = createSandbox({ ...defaultSandboxSettings, mode: 'none' });

function ctx(limits: Partial<ToolLimits> = {}, signal = new AbortController().signal): ToolContext {
  // The unsandboxed mode (PARLEY_EXECUTE_SANDBOX=none); test/tools-sandbox.test.ts covers the sandbox.
  return { workspaceDir: ws, signal, limits: { ...defaultToolLimits, ...limits }, sandbox: unsandboxed };
}

const run = (name: string, args: unknown, limits: Partial<ToolLimits> = {}): Promise<ToolOutcome> =>
  runTool(name, args, ctx(limits));

/** The model-facing error message of a call expected to fail. */
async function errorOf(name: string, args: unknown): Promise<string> {
  const out = await run(name, args);
  expect(out.isError, `expected ${name} to fail, got ${JSON.stringify(out.result)}`).toBe(true);
  expect(typeof out.result).toBe('string');
  return out.result as string;
}

async function okText(name: string, args: unknown, limits: Partial<ToolLimits> = {}): Promise<string> {
  const out = await run(name, args, limits);
  expect(out.isError, JSON.stringify(out.result)).toBe(false);
  return out.result as string;
}

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

describe('ensureWorkspace', () => {
  it('creates <root>/<chatId> and returns its real path, idempotently', async () => {
    const linkedRoot = join(base, 'linked-root');
    await symlink(root, linkedRoot);
    const dir = await ensureWorkspace(linkedRoot, '0b6f7c1e-3d2a-4f5b-9c8d-7e6f5a4b3c2d');
    expect(dir).toBe(join(root, '0b6f7c1e-3d2a-4f5b-9c8d-7e6f5a4b3c2d'));
    expect((await stat(dir)).isDirectory()).toBe(true);
    expect(await ensureWorkspace(root, '0b6f7c1e-3d2a-4f5b-9c8d-7e6f5a4b3c2d')).toBe(dir);
  });

  it.each(['', '.', '..', '../x', 'a/b', '/abs', 'a\0b', '-rf', 'x'.repeat(200)])('rejects chat id %j', async (id) => {
    await expect(ensureWorkspace(root, id)).rejects.toThrow(/Invalid chat id/);
  });

  it('refuses a workspace that is a symlink', async () => {
    await symlink(outside, join(root, 'chat-evil'));
    await expect(ensureWorkspace(root, 'chat-evil')).rejects.toThrow(/symbolic link/);
  });
});

describe('runTool', () => {
  it('offers the five tools with object schemas', () => {
    expect(toolSpecs.map((t) => t.name).sort()).toEqual(['edit_file', 'execute', 'list_files', 'read_file', 'write_file']);
    for (const spec of toolSpecs) {
      expect(spec.description.length).toBeGreaterThan(20);
      expect(spec.parameters).toMatchObject({ type: 'object', additionalProperties: false });
    }
    const edit = toolSpecs.find((t) => t.name === 'edit_file')!;
    expect(edit.parameters.required).toEqual(['path', 'old_text', 'new_text']);
  });

  it('returns an error result for an unknown tool', async () => {
    const msg = await errorOf('rm_rf', {});
    expect(msg).toMatch(/Unknown tool "rm_rf"/);
    expect(msg).toContain('read_file');
  });

  it('names a missing, wrongly typed or unknown argument', async () => {
    expect(await errorOf('write_file', { path: 'a.txt' })).toMatch(/Missing required argument "content"/);
    expect(await errorOf('read_file', { path: 42 })).toMatch(/"path".*must be a string.*number 42/);
    expect(await errorOf('read_file', { path: 'a', offset: '2' })).toMatch(/"offset".*must be an integer/);
    expect(await errorOf('read_file', { path: 'a', offset: 1.5 })).toMatch(/"offset".*must be an integer/);
    expect(await errorOf('read_file', { path: 'a', offset: 0 })).toMatch(/"offset".*at least 1/);
    expect(await errorOf('edit_file', { path: 'a', old_text: 'x', new_text: 'y', replace_all: 'yes' })).toMatch(/"replace_all".*must be a boolean/);
    expect(await errorOf('edit_file', { path: 'a', old_text: 'x', new_text: 'y', replaceAll: true })).toMatch(/Unknown argument "replaceAll"/);
    expect(await errorOf('read_file', '{"path":"a"}')).toMatch(/must be a JSON object/);
    expect(await errorOf('read_file', ['a'])).toMatch(/must be a JSON object, got an array/);
  });

  it('treats null as absent for optional arguments', async () => {
    await writeFile(join(ws, 'a.txt'), 'one\ntwo\n');
    expect(await okText('read_file', { path: 'a.txt', offset: null, limit: null })).toBe('one\ntwo\n');
    expect(await errorOf('read_file', { path: null })).toMatch(/"path" for read_file must be a string, got null/);
  });

  it('turns fs errors into messages with workspace-relative paths', async () => {
    const msg = await errorOf('read_file', { path: 'missing/file.txt' });
    expect(msg).toBe('No such file or directory: "missing/file.txt"');
    expect(msg).not.toContain(base);
  });

  it('throws an AbortError when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(runTool('list_files', {}, ctx({}, ac.signal))).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('exports ToolError as an Error subclass', () => {
    expect(new ToolError('x')).toBeInstanceOf(Error);
  });
});

describe('read_file', () => {
  const lines = (from: number, to: number): string =>
    Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join('');

  it('returns the exact content, line endings included', async () => {
    await writeFile(join(ws, 'crlf.txt'), 'a\r\nb\r\nno newline at end');
    expect(await okText('read_file', { path: 'crlf.txt' })).toBe('a\r\nb\r\nno newline at end');
  });

  it('pages with a 1-based offset and a line limit', async () => {
    await writeFile(join(ws, 'f.txt'), lines(1, 10));
    expect(await okText('read_file', { path: 'f.txt', offset: 3, limit: 2 }))
      .toBe(`${lines(3, 4)}[Showing lines 3-4; the file continues. Use offset=5 to read more.]`);
    expect(await okText('read_file', { path: 'f.txt', offset: 9 }))
      .toBe(`${lines(9, 10)}[Showing lines 9-10, the end of the file.]`);
    expect(await okText('read_file', { path: 'f.txt', offset: 10, limit: 1 })).toBe(`${lines(10, 10)}[Showing line 10, the end of the file.]`);
    expect(await okText('read_file', { path: 'f.txt', limit: 10 })).toBe(lines(1, 10));
    expect(await okText('read_file', { path: 'f.txt', offset: 11 })).toBe('[The file has 10 lines; offset 11 is past the end.]');
  });

  it('says so for an empty file', async () => {
    await writeFile(join(ws, 'empty.txt'), '');
    expect(await okText('read_file', { path: 'empty.txt' })).toBe('[The file is empty.]');
  });

  it('stops at the size cap on a line boundary and says where to continue', async () => {
    await writeFile(join(ws, 'big.txt'), lines(1, 5000));
    const text = await okText('read_file', { path: 'big.txt' }, { outputCapBytes: 100 });
    // "line 1\n".."line 9\n" are 7 bytes each, "line 10\n" and on 8: 63 + 32 = 95 bytes for lines 1-13.
    expect(text).toBe(`${lines(1, 13)}[Output truncated at the 100-byte cap: showing lines 1-13. Use offset=14 to read more.]`);
    const next = await okText('read_file', { path: 'big.txt', offset: 14 }, { outputCapBytes: 100 });
    expect(next.startsWith('line 14\n')).toBe(true);
  });

  it('shows the beginning of a line longer than the cap without splitting a character', async () => {
    await writeFile(join(ws, 'long.txt'), `${'é'.repeat(100_000)}\nsecond\n`);
    const text = await okText('read_file', { path: 'long.txt' }, { outputCapBytes: 101 });
    const [content, note] = text.split('\n');
    expect(content).toBe('é'.repeat(50));
    expect(note).toMatch(/line 1 is longer than the 101-byte cap/);
    expect(await okText('read_file', { path: 'long.txt', offset: 2 }, { outputCapBytes: 101 }))
      .toBe('second\n[Showing line 2, the end of the file.]');
  });

  it('refuses binary files, directories and fifos', async () => {
    await writeFile(join(ws, 'bin.dat'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]));
    expect(await errorOf('read_file', { path: 'bin.dat' })).toMatch(/binary file/);
    await mkdir(join(ws, 'dir'));
    expect(await errorOf('read_file', { path: 'dir' })).toMatch(/"dir" is a directory; use list_files/);
    execFileSync('mkfifo', [join(ws, 'pipe')]);
    expect(await errorOf('read_file', { path: 'pipe' })).toMatch(/not a regular file/);
  });
});

describe('write_file', () => {
  it('creates parent directories and reports creation vs overwrite', async () => {
    expect(await okText('write_file', { path: 'a/b/c.txt', content: 'héllo' })).toBe('Created "a/b/c.txt" (6 bytes).');
    expect(await readFile(join(ws, 'a/b/c.txt'), 'utf8')).toBe('héllo');
    expect(await okText('write_file', { path: 'a/b/c.txt', content: '' })).toBe('Overwrote "a/b/c.txt" (0 bytes).');
    expect(await readFile(join(ws, 'a/b/c.txt'), 'utf8')).toBe('');
  });

  it('replaces the file by rename (atomic), keeps its mode and leaves no temp files', async () => {
    const file = join(ws, 'run.sh');
    await writeFile(file, 'old');
    await chmod(file, 0o750);
    await link(file, join(ws, 'hardlink')); // an in-place write would show through the hard link
    await okText('write_file', { path: 'run.sh', content: 'new' });
    expect(await readFile(file, 'utf8')).toBe('new');
    expect(await readFile(join(ws, 'hardlink'), 'utf8')).toBe('old');
    expect((await stat(file)).mode & 0o777).toBe(0o750);
    expect((await readdir(ws)).sort()).toEqual(['hardlink', 'run.sh']);
  });

  it('refuses to overwrite a directory', async () => {
    await mkdir(join(ws, 'd'));
    expect(await errorOf('write_file', { path: 'd', content: 'x' })).toMatch(/"d" is a directory/);
  });

  it('reports a file in the way of a parent directory', async () => {
    await writeFile(join(ws, 'f'), 'x');
    expect(await errorOf('write_file', { path: 'f/g.txt', content: 'x' })).toMatch(/not a directory|Already exists/);
  });
});

describe('edit_file', () => {
  beforeEach(async () => {
    await writeFile(join(ws, 'code.ts'), 'const a = 1;\nconst b = 2;\nconst a2 = 1;\nlet c = 1;\n');
  });

  it('replaces a unique match', async () => {
    expect(await okText('edit_file', { path: 'code.ts', old_text: 'const b = 2;', new_text: 'const b = 3;' }))
      .toBe('Replaced 1 occurrence in "code.ts".');
    expect(await readFile(join(ws, 'code.ts'), 'utf8')).toBe('const a = 1;\nconst b = 3;\nconst a2 = 1;\nlet c = 1;\n');
  });

  it('inserts replacement text literally ($& and $1 are not patterns)', async () => {
    await okText('edit_file', { path: 'code.ts', old_text: 'let c', new_text: 'let $&$1' });
    expect(await readFile(join(ws, 'code.ts'), 'utf8')).toContain('let $&$1 = 1;');
  });

  it('explains a missing search text and leaves the file alone', async () => {
    const msg = await errorOf('edit_file', { path: 'code.ts', old_text: 'const z', new_text: 'x' });
    expect(msg).toMatch(/old_text was not found in "code.ts"/);
    expect(await readFile(join(ws, 'code.ts'), 'utf8')).toContain('const a = 1;');
  });

  it('hints at CRLF line endings', async () => {
    await writeFile(join(ws, 'win.txt'), 'one\r\ntwo\r\n');
    expect(await errorOf('edit_file', { path: 'win.txt', old_text: 'one\ntwo', new_text: 'x' })).toMatch(/CRLF/);
  });

  it('refuses an ambiguous match, saying how often it occurs', async () => {
    const msg = await errorOf('edit_file', { path: 'code.ts', old_text: '= 1;', new_text: '= 9;' });
    expect(msg).toMatch(/appears 3 times in "code.ts"/);
    expect(msg).toMatch(/more surrounding context/);
    expect(msg).toMatch(/replace_all/);
    expect(await readFile(join(ws, 'code.ts'), 'utf8')).not.toContain('9');
  });

  it('replaces every occurrence with replace_all', async () => {
    expect(await okText('edit_file', { path: 'code.ts', old_text: '= 1;', new_text: '= 9;', replace_all: true }))
      .toBe('Replaced 3 occurrences in "code.ts".');
    expect(await readFile(join(ws, 'code.ts'), 'utf8')).toBe('const a = 9;\nconst b = 2;\nconst a2 = 9;\nlet c = 9;\n');
  });

  it('counts non-overlapping occurrences', async () => {
    await writeFile(join(ws, 'aaa.txt'), 'aaaa');
    await okText('edit_file', { path: 'aaa.txt', old_text: 'aa', new_text: 'b', replace_all: true });
    expect(await readFile(join(ws, 'aaa.txt'), 'utf8')).toBe('bb');
  });

  it('refuses empty and no-op edits, and missing files', async () => {
    expect(await errorOf('edit_file', { path: 'code.ts', old_text: '', new_text: 'x' })).toMatch(/must not be empty/);
    expect(await errorOf('edit_file', { path: 'code.ts', old_text: 'let', new_text: 'let' })).toMatch(/identical/);
    expect(await errorOf('edit_file', { path: 'nope.ts', old_text: 'a', new_text: 'b' })).toBe('No such file or directory: "nope.ts"');
  });

  it('writes atomically (by rename)', async () => {
    // A new file renamed into place has a new inode; an in-place write would keep the old one. (A hard
    // link as the probe no longer works: edit_file refuses hard-linked files, see tools-confinement.)
    const before = await stat(join(ws, 'code.ts'));
    await okText('edit_file', { path: 'code.ts', old_text: 'let c', new_text: 'var c' });
    expect((await stat(join(ws, 'code.ts'))).ino).not.toBe(before.ino);
    expect(await readFile(join(ws, 'code.ts'), 'utf8')).toContain('var c');
    expect((await readdir(ws)).sort()).toEqual(['code.ts']);
  });
});

describe('list_files', () => {
  interface Listing { path: string; entries: { path: string; type: string; size?: number }[]; note?: string }
  const list = async (args: unknown): Promise<Listing> => {
    const out = await run('list_files', args);
    expect(out.isError, JSON.stringify(out.result)).toBe(false);
    return out.result as Listing;
  };

  beforeEach(async () => {
    await mkdir(join(ws, 'src/lib'), { recursive: true });
    await writeFile(join(ws, 'src/lib/util.ts'), '12345');
    await writeFile(join(ws, 'src/main.ts'), 'x');
    await writeFile(join(ws, 'README.md'), 'hello');
    await mkdir(join(ws, '.git/objects'), { recursive: true });
    await writeFile(join(ws, '.git/HEAD'), 'ref');
    await symlink('src/main.ts', join(ws, 'link.ts'));
  });

  it('lists one level, sorted, with types and file sizes', async () => {
    expect(await list({})).toEqual({
      path: '.',
      entries: [
        { path: '.git', type: 'dir' },
        { path: 'README.md', type: 'file', size: 5 },
        { path: 'link.ts', type: 'symlink' },
        { path: 'src', type: 'dir' },
      ],
    });
    expect((await list({ path: 'src' })).entries.map((e) => e.path)).toEqual(['src/lib', 'src/main.ts']);
  });

  it('recurses depth first without expanding .git', async () => {
    const listing = await list({ recursive: true });
    expect(listing.entries).toEqual([
      { path: '.git', type: 'dir' },
      { path: 'README.md', type: 'file', size: 5 },
      { path: 'link.ts', type: 'symlink' },
      { path: 'src', type: 'dir' },
      { path: 'src/lib', type: 'dir' },
      { path: 'src/lib/util.ts', type: 'file', size: 5 },
      { path: 'src/main.ts', type: 'file', size: 1 },
    ]);
    expect(listing.note).toMatch(/Not expanded: \.git/);
    expect((await list({ path: '.git', recursive: true })).entries.map((e) => e.path)).toEqual(['.git/HEAD', '.git/objects']);
  });

  it('caps the number of entries with a note', async () => {
    await mkdir(join(ws, 'many'));
    await Promise.all(Array.from({ length: MAX_LIST_ENTRIES + 10 }, (_, i) => writeFile(join(ws, 'many', `f${String(i).padStart(4, '0')}`), '')));
    const listing = await list({ path: 'many' });
    expect(listing.entries).toHaveLength(MAX_LIST_ENTRIES);
    expect(listing.entries[0]!.path).toBe('many/f0000');
    expect(listing.note).toMatch(/capped at 500 entries/);
  });

  it('notes an empty directory and refuses a file', async () => {
    await mkdir(join(ws, 'empty'));
    expect(await list({ path: 'empty' })).toEqual({ path: 'empty', entries: [], note: '[The directory is empty.]' });
    expect(await errorOf('list_files', { path: 'README.md' })).toMatch(/not a directory; use read_file/);
  });
});

describe('path confinement', () => {
  const secret = (): string => join(outside, 'secret.txt');

  it.each([
    ['read_file', { path: '../outside/secret.txt' }],
    ['read_file', { path: 'a/../../x' }],
    ['write_file', { path: '../evil.txt', content: 'x' }],
    ['edit_file', { path: '../../outside/secret.txt', old_text: 'top', new_text: 'x' }],
    ['list_files', { path: '..' }],
  ])('%s refuses ".." leaving the workspace (%j)', async (tool, args) => {
    expect(await errorOf(tool, args)).toMatch(/is outside the workspace/);
  });

  it('allows ".." that stays inside', async () => {
    await writeFile(join(ws, 'a.txt'), 'inside');
    await mkdir(join(ws, 'sub'));
    expect(await okText('read_file', { path: 'sub/../a.txt' })).toBe('inside');
  });

  it.each([
    ['read_file', {}],
    ['write_file', { content: 'x' }],
    ['edit_file', { old_text: 'top', new_text: 'y' }],
    ['list_files', {}],
  ])('%s refuses absolute paths, even inside the workspace', async (tool, rest) => {
    await writeFile(join(ws, 'a.txt'), 'top');
    for (const path of [secret(), join(ws, 'a.txt'), outside]) {
      expect(await errorOf(tool, { path, ...rest })).toMatch(/is absolute/);
    }
    expect(await readFile(join(ws, 'a.txt'), 'utf8')).toBe('top');
    expect(await readFile(secret(), 'utf8')).toBe('top secret\n');
  });

  it('refuses a symlink to a file outside, for every file tool', async () => {
    await symlink(secret(), join(ws, 'leak.txt'));
    const refused = /leads outside the workspace through a symbolic link/;
    expect(await errorOf('read_file', { path: 'leak.txt' })).toMatch(refused);
    expect(await errorOf('write_file', { path: 'leak.txt', content: 'pwned' })).toMatch(refused);
    expect(await errorOf('edit_file', { path: 'leak.txt', old_text: 'top', new_text: 'pwned' })).toMatch(refused);
    expect(await readFile(secret(), 'utf8')).toBe('top secret\n');
  });

  it('refuses a symlink to a directory outside, also for files not yet created through it', async () => {
    await symlink(outside, join(ws, 'out'));
    const refused = /leads outside the workspace through a symbolic link/;
    expect(await errorOf('list_files', { path: 'out' })).toMatch(refused);
    expect(await errorOf('read_file', { path: 'out/secret.txt' })).toMatch(refused);
    expect(await errorOf('write_file', { path: 'out/new.txt', content: 'x' })).toMatch(refused);
    expect(await errorOf('write_file', { path: 'out/deeper/new.txt', content: 'x' })).toMatch(refused);
    expect(existsSync(join(outside, 'new.txt'))).toBe(false);
    expect(existsSync(join(outside, 'deeper'))).toBe(false);
  });

  it('refuses a dangling symlink whose target would be created outside', async () => {
    await symlink(join(outside, 'created.txt'), join(ws, 'dangling'));
    expect(await errorOf('write_file', { path: 'dangling', content: 'x' })).toMatch(/symbolic link/);
    expect(existsSync(join(outside, 'created.txt'))).toBe(false);
  });

  it('follows symlinks that stay inside the workspace', async () => {
    await mkdir(join(ws, 'real'));
    await symlink('real', join(ws, 'alias'));
    await okText('write_file', { path: 'alias/f.txt', content: 'via alias' });
    expect(await readFile(join(ws, 'real/f.txt'), 'utf8')).toBe('via alias');
    await symlink('real/f.txt', join(ws, 'f-link'));
    await okText('edit_file', { path: 'f-link', old_text: 'via', new_text: 'through' });
    expect(await readFile(join(ws, 'real/f.txt'), 'utf8')).toBe('through alias');
    expect((await stat(join(ws, 'f-link'))).isFile()).toBe(true); // still a link to the file, not replaced
  });

  it('refuses symlink loops with a clear message', async () => {
    await symlink('loop2', join(ws, 'loop1'));
    await symlink('loop1', join(ws, 'loop2'));
    expect(await errorOf('read_file', { path: 'loop1' })).toMatch(/symbolic links/);
  });
});

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
