// Per-chat workspace directories and confinement of model-supplied paths to them.
import { lstat, mkdir, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ToolError } from './errors.ts';

// Chat ids are uuids; anything that could be a path component trick (/, .., dots, NUL) is refused.
const CHAT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Creates `<rootDir>/<chatId>` if needed and returns its real path. */
export async function ensureWorkspace(rootDir: string, chatId: string): Promise<string> {
  if (!CHAT_ID.test(chatId)) throw new Error(`Invalid chat id for a workspace: ${JSON.stringify(chatId)}`);
  await mkdir(rootDir, { recursive: true });
  const dir = join(await realpath(rootDir), chatId);
  await mkdir(dir, { recursive: true });
  const real = await realpath(dir);
  // A pre-existing symlink in place of the workspace would let one chat act on another's files.
  if (real !== dir) throw new Error(`Workspace ${dir} is a symbolic link (to ${real}); refusing to use it`);
  return real;
}

export interface ResolvedPath {
  /** Absolute real path (symlinks resolved, missing tail appended) to operate on. */
  real: string;
  /** The path as the model should see it in messages: relative to the workspace. */
  display: string;
}

/**
 * Resolves a model-supplied path inside the workspace `root` (which must itself be a real path).
 * Refuses absolute paths, `..` escapes and symlinks leading out, also for paths that do not exist
 * yet: the nearest existing ancestor is resolved, so creating `link/new.txt` where `link` points
 * outside is caught before anything is written.
 *
 * The check and the later use are not atomic; a concurrent `execute` in the same workspace could
 * swap a directory for a symlink in between. Tool calls of one chat run one at a time, which is
 * what makes this acceptable.
 */
export async function resolveInWorkspace(root: string, input: string): Promise<ResolvedPath> {
  const shown = JSON.stringify(input);
  if (input === '') throw new ToolError('Path must not be empty; use "." for the workspace itself.');
  if (input.includes('\0')) throw new ToolError(`Path ${shown} contains a NUL character.`);
  if (isAbsolute(input)) {
    throw new ToolError(`Path ${shown} is absolute; paths must be relative to the workspace directory (e.g. "src/index.ts").`);
  }
  const lexical = resolve(root, input);
  if (!isInside(root, lexical)) {
    throw new ToolError(`Path ${shown} is outside the workspace; ".." may not leave the workspace directory.`);
  }
  const real = await realpathAllowingMissing(lexical, 0);
  if (!isInside(root, real)) {
    throw new ToolError(`Path ${shown} leads outside the workspace through a symbolic link; access refused.`);
  }
  return { real, display: relative(root, lexical) || '.' };
}

export function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

const MAX_LINK_HOPS = 40;

/** Like realpath, but a missing tail is appended to the real path of its nearest existing ancestor. */
async function realpathAllowingMissing(p: string, hops: number): Promise<string> {
  try {
    return await realpath(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const parent = dirname(p);
  if (parent === p) return p;
  const candidate = join(await realpathAllowingMissing(parent, hops), basename(p));
  let isLink: boolean;
  try {
    isLink = (await lstat(candidate)).isSymbolicLink();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return candidate;
    throw err;
  }
  // A dangling symlink: writing through it would create its target, so the target must be checked.
  if (!isLink) return candidate;
  if (hops >= MAX_LINK_HOPS) throw new ToolError('Too many levels of symbolic links.');
  return realpathAllowingMissing(resolve(dirname(candidate), await readlink(candidate)), hops + 1);
}
