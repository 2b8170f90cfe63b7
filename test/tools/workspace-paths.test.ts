// Where the tools may go: the workspace itself (ensureWorkspace) and paths, ".." and symlinks that
// would lead out of it. (confinement.test.ts: a workspace that changes under the tools.)
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureWorkspace } from '../../src/tools/index.ts';
import { base, errorOf, okText, outside, root, useToolWorkspaces, ws } from '../support/tool-workspace.ts';

useToolWorkspaces();

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
