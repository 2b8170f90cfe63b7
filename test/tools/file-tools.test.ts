// The file tools (read_file, write_file, edit_file, list_files) against a real temporary directory.
import { execFileSync } from 'node:child_process';
import { chmod, link, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MAX_LIST_ENTRIES } from '../../src/tools/list-files.ts';
import { errorOf, okText, run, useToolWorkspaces, ws } from '../support/tool-workspace.ts';

useToolWorkspaces();

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
