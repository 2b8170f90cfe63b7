// Per-chat workspace directories and confinement of model-supplied paths to them.
import type { Stats } from 'node:fs';
import { chmod, lchown, lstat, mkdir, open, readdir, readlink, realpath, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { at, DIR_FLAGS, openRootDir, READ_FLAGS } from './dir-handle.ts';
import { ToolError } from './errors.ts';

// Chat ids are uuids; anything that could be a path component trick (/, .., dots, NUL) is refused.
const CHAT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** The user that owns a workspace and the files the tools create in it; undefined: the worker's own. */
export type WorkspaceOwner = { uid: number; gid: number } | undefined;

/**
 * Creates `<rootDir>/<chatId>` if needed and returns its real path. The root lets others only pass
 * through (0711: the sandbox user must reach its own workspace, but nobody may list the chats); each
 * workspace is private (0700) to `owner`, the user sandboxed commands run as.
 */
export async function ensureWorkspace(rootDir: string, chatId: string, owner?: WorkspaceOwner): Promise<string> {
  if (!CHAT_ID.test(chatId)) throw new Error(`Invalid chat id for a workspace: ${JSON.stringify(chatId)}`);
  await mkdir(rootDir, { recursive: true, mode: 0o700 });
  const realRoot = await realpath(rootDir);
  const rootStat = await stat(realRoot);
  const rootMode = owner ? 0o711 : 0o700;
  if ((rootStat.mode & 0o777) !== rootMode) await chmod(realRoot, rootMode);
  const dir = join(realRoot, chatId);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const real = await realpath(dir);
  // A pre-existing symlink in place of the workspace would let one chat act on another's files.
  if (real !== dir) throw new Error(`Workspace ${dir} is a symbolic link (to ${real}); refusing to use it`);
  if (owner) {
    const st = await lstat(dir);
    // A workspace from before the sandbox (or from PARLEY_EXECUTE_SANDBOX=none) holds the worker's
    // files: hand all of them to the sandbox user once, or its commands could not read them.
    if (st.uid !== owner.uid || st.gid !== owner.gid) await chownTree(dir, owner);
  }
  return real;
}

/** lchown of `dir` and everything below it, never following a symlink. */
async function chownTree(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(p, owner);
    else await lchown(p, owner.uid, owner.gid);
  }
  await lchown(dir, owner.uid, owner.gid);
}

/** A path inside the workspace, found through directory handles (see withEntry). */
export interface Entry {
  /** The path as the model should see it in messages: relative to the workspace. */
  display: string;
  /** The open directory that holds the entry. */
  dir: FileHandle;
  /** The entry's name in `dir`; undefined when the path is `dir` itself (".", or a link to a directory above). */
  name: string | undefined;
  /** The entry's lstat (a symlink is followed, so never a link); undefined when it does not exist. */
  stat: Stats | undefined;
  /** Who new files and directories should belong to (the workspace's owner), when the worker can choose. */
  owner: WorkspaceOwner;
  /** Opens the entry, a regular file, for reading. Refuses hard-linked files. Closed after `use`. */
  openFile(): Promise<{ handle: FileHandle; stat: Stats }>;
  /** Opens the entry, a directory. Closed after `use`. */
  openDir(): Promise<FileHandle>;
}

export interface EntryOptions {
  /** Hand a missing final component to `use` (stat undefined) instead of failing with ENOENT. */
  allowMissing?: boolean;
  /** Create missing parent directories, each one inside its parent's handle (mkdir -p). */
  createParents?: boolean;
}

/**
 * Finds a model-supplied path inside the workspace `root` (a real path) and runs `use` with it.
 * Refuses absolute paths, `..` escapes and symlinks leading out, also for paths that do not exist yet.
 *
 * Tool calls run in parallel, beside `execute` commands that can rename anything in the workspace, so
 * checking a path and using it later would be a race (a directory swapped for a symlink to /etc in
 * between). Instead nothing is ever looked up by a path string: the walk opens the workspace and then
 * each directory relative to the previous one's handle without following symlinks, and `use` works
 * relative to the final handle. Symlinks inside the workspace are still followed, but by this walk
 * itself, one component at a time from the handles it holds, so their targets can't leave the
 * workspace either. Fs errors name the path as the model gave it.
 */
export async function withEntry<T>(root: string, input: string, opts: EntryOptions, use: (entry: Entry) => Promise<T>): Promise<T> {
  const display = checkLexically(root, input);
  const toClose: FileHandle[] = [];
  try {
    const rootDir = await openRootDir(root);
    toClose.push(rootDir);
    const owner = await ownerOf(rootDir);
    const components = display === '.' ? [] : display.split(sep);
    const found = await walk(root, rootDir, components, JSON.stringify(input), opts, owner);
    if (found.dir !== rootDir) toClose.push(found.dir);
    const entry: Entry = {
      display,
      ...found,
      owner,
      openFile: async () => {
        if (found.name === undefined) throw new ToolError(`${JSON.stringify(display)} is a directory.`);
        const handle = await open(at(found.dir, found.name), READ_FLAGS).catch((err: unknown) => {
          throw codeOf(err) === 'ELOOP' ? changed(display) : err;
        });
        toClose.push(handle);
        const st = await handle.stat();
        if (!st.isFile()) throw new ToolError(`${JSON.stringify(display)} is not a regular file.`);
        refuseHardLinks(st, display);
        return { handle, stat: st };
      },
      openDir: async () => {
        if (found.name === undefined) return found.dir;
        const handle = await open(at(found.dir, found.name), DIR_FLAGS).catch((err: unknown) => {
          throw codeOf(err) === 'ELOOP' || codeOf(err) === 'ENOTDIR' ? changed(display) : err;
        });
        toClose.push(handle);
        return handle;
      },
    };
    return await use(entry);
  } catch (err) {
    throw relabel(err, root, display);
  } finally {
    await Promise.all(toClose.map((h) => h.close()));
  }
}

/** The entry was found as one thing and, by the time it was opened, was another (say, a symlink). */
const changed = (display: string): ToolError =>
  new ToolError(`${JSON.stringify(display)} was replaced while it was being opened (another process is changing it); try again.`);

/**
 * A hard link is a second name for the same file, and nothing tells where the other names are:
 * `ln /etc/shadow x` from a command in the workspace would otherwise let read_file show it.
 */
function refuseHardLinks(st: Stats, display: string): void {
  if (st.nlink <= 1) return;
  throw new ToolError(
    `${JSON.stringify(display)} has ${st.nlink} hard links; Parley's file tools refuse hard-linked files because another ` +
    'link may point outside the workspace. Use execute to work with it, or replace it with a copy of its own ' +
    '(e.g. `cp FILE FILE.copy && mv FILE.copy FILE`).');
}

const PATH_MAX = 4096;

/** Returns the display path; refuses what is wrong with the string itself. */
function checkLexically(root: string, input: string): string {
  const shown = JSON.stringify(input);
  if (input === '') throw new ToolError('Path must not be empty; use "." for the workspace itself.');
  if (input.includes('\0')) throw new ToolError(`Path ${shown} contains a NUL character.`);
  if (isAbsolute(input)) {
    throw new ToolError(`Path ${shown} is absolute; paths must be relative to the workspace directory (e.g. "src/index.ts").`);
  }
  const lexical = resolve(root, input);
  // The kernel's limit for a whole path. The walk opens one component at a time, so nothing else
  // would bound how many directories (and open handles) one call goes through.
  if (Buffer.byteLength(lexical) >= PATH_MAX) {
    throw new ToolError(`Path is too long: ${Buffer.byteLength(lexical)} bytes with the workspace directory; at most ${PATH_MAX - 1} are allowed.`);
  }
  if (!isInside(root, lexical)) {
    throw new ToolError(`Path ${shown} is outside the workspace; ".." may not leave the workspace directory.`);
  }
  return relative(root, lexical) || '.';
}

export function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

const MAX_LINK_HOPS = 40;
/** How often the walk looks at one component again because it changed under it (a concurrent swap). */
const MAX_RETRIES = 20;

interface Found { dir: FileHandle; name: string | undefined; stat: Stats | undefined }

/**
 * A root worker writes files on behalf of the sandbox user that owns the workspace: they must be that
 * user's too, or the commands of the same chat could not read what the file tools wrote.
 */
async function ownerOf(rootDir: FileHandle): Promise<WorkspaceOwner> {
  if (process.getuid?.() !== 0) return undefined;
  const { uid, gid } = await rootDir.stat();
  return uid === 0 && gid === 0 ? undefined : { uid, gid };
}

async function walk(root: string, rootDir: FileHandle, components: string[], shown: string, opts: EntryOptions, owner: WorkspaceOwner): Promise<Found> {
  // chain[i + 1] is open relative to chain[i]: ".." steps back to a handle already held rather than
  // asking the kernel for the parent, which might by then be a directory outside.
  const chain: FileHandle[] = [rootDir];
  const queue = [...components];
  let hops = 0;
  let retries = 0;
  const escape = (): ToolError => new ToolError(`Path ${shown} leads outside the workspace through a symbolic link; access refused.`);
  const again = (name: string): void => {
    if (++retries > MAX_RETRIES) throw new ToolError(`Path ${shown} kept changing while it was being opened; try again.`);
    queue.unshift(name);
  };
  const popTo = async (length: number): Promise<void> => {
    while (chain.length > length) await chain.pop()!.close();
  };
  /** The walk is done: only the root (the caller's) and the last handle (handed over) stay open. */
  const closeParents = async (): Promise<void> => {
    const parents = chain.slice(1, -1);
    chain.length = 0;
    await Promise.all(parents.map((h) => h.close()));
  };
  /** Puts the link's target in front of the queue; false when `name` turned out to be no link (any more). */
  const follow = async (dir: FileHandle, name: string): Promise<boolean> => {
    let target: string;
    try {
      target = await readlink(at(dir, name));
    } catch (err) {
      if (codeOf(err) === 'EINVAL' || codeOf(err) === 'ENOENT') return false;
      throw err;
    }
    if (++hops > MAX_LINK_HOPS) throw new ToolError('Too many levels of symbolic links.');
    if (isAbsolute(target)) {
      // An absolute link is fine while it names a place in the workspace; the rest is walked from the root.
      if (target !== root && !target.startsWith(`${root}${sep}`)) throw escape();
      target = target.slice(root.length);
      await popTo(1);
    }
    queue.unshift(...target.split(sep).filter((c) => c !== '' && c !== '.'));
    return true;
  };

  try {
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (name === '..') {
        if (chain.length === 1) throw escape();
        await popTo(chain.length - 1);
        continue;
      }
      const dir = chain[chain.length - 1]!;
      if (queue.length === 0) {
        // The last component is not opened here: whether it must be a file, a directory or may be
        // missing is the caller's business, and it opens it relative to `dir` with O_NOFOLLOW.
        const st = await lstatOrMissing(at(dir, name));
        if (st?.isSymbolicLink()) {
          if (!(await follow(dir, name))) again(name);
          continue;
        }
        if (st === undefined && opts.allowMissing !== true) throw fsError('ENOENT', 'open');
        await closeParents();
        return { dir, name, stat: st };
      }
      try {
        chain.push(await open(at(dir, name), DIR_FLAGS));
        retries = 0; // the budget is per component: a long path of missing directories is no race
        continue;
      } catch (err) {
        const code = codeOf(err);
        if (code !== 'ENOTDIR' && code !== 'ELOOP' && code !== 'ENOENT') throw err;
        // O_NOFOLLOW refused a symlink (ENOTDIR/ELOOP), or a file is in the way, or nothing is there.
        const st = await lstatOrMissing(at(dir, name));
        if (st === undefined) {
          if (code !== 'ENOENT') {
            again(name); // there was something a moment ago: look again
          } else if (opts.createParents !== true) {
            throw err;
          } else {
            const made = await mkdir(at(dir, name), { mode: 0o700 }).then(() => true, (e: unknown) => {
              if (codeOf(e) !== 'EEXIST') throw e;
              return false;
            });
            // lchown: if the new directory was swapped for a symlink meanwhile, only the link changes owner.
            if (made && owner) await lchown(at(dir, name), owner.uid, owner.gid);
            again(name);
          }
        } else if (st.isSymbolicLink()) {
          if (!(await follow(dir, name))) again(name);
        } else if (st.isDirectory()) {
          again(name); // swapped back to a directory since the open
        } else {
          throw err;
        }
      }
    }
    // The path ends at a directory on the chain (".", or a link to a directory above).
    const dir = chain[chain.length - 1]!;
    const st = await dir.stat();
    await closeParents();
    return { dir, name: undefined, stat: st };
  } catch (err) {
    await popTo(1);
    throw err;
  }
}

async function lstatOrMissing(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

const codeOf = (err: unknown): unknown => (err as NodeJS.ErrnoException | undefined)?.code;

function fsError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(code), { code, syscall });
}

/**
 * Fs errors from the walk name `/proc/self/fd/...` paths, which mean nothing to the model: they are
 * re-issued naming the path it gave (describeFsError then shows it relative to the workspace).
 */
function relabel(err: unknown, root: string, display: string): unknown {
  if (!(err instanceof Error) || err instanceof ToolError) return err;
  const { code, errno, syscall } = err as NodeJS.ErrnoException;
  if (typeof code !== 'string') return err;
  return Object.assign(new Error(`${code}: ${syscall ?? 'access'} ${JSON.stringify(display)}`), {
    code, errno, syscall, path: join(root, display),
  });
}
