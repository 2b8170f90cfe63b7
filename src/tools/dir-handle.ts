// Directory handles: file operations relative to an open directory instead of a path string.
//
// Node has no openat(2). On Linux, `/proc/self/fd/<fd>` is a "magic link" that the kernel resolves to
// the very directory the fd has open (not to whatever now sits at its old path), so
// `/proc/self/fd/<fd>/<name>` names the entry `name` inside that directory. Combined with O_NOFOLLOW
// on each single-component open, this gives openat-style access: swapping a directory for a symlink
// after it was opened can't redirect anything done through its handle. Linux-only, as Parley is.
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_WRONLY, O_CREAT, O_EXCL } = constants;

/** A directory, never through a symlink. */
export const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
/** A file to read, never through a symlink; O_NONBLOCK so a FIFO swapped in can't hang the open. */
export const READ_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
/** A new file that must not exist yet (O_EXCL also refuses a symlink in its place). */
export const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

/** The path the kernel resolves to the directory open as `dir` itself. */
export const handlePath = (dir: FileHandle): string => `/proc/self/fd/${dir.fd}`;

/**
 * The path of the entry `name` directly inside the directory open as `dir`. `name` must be one
 * plain component: "." or ".." would be resolved by the kernel from the real directory, which may
 * by then have been moved elsewhere, so callers walk back up through their own handles instead.
 */
export function at(dir: FileHandle, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/')) {
    throw new Error(`Internal error: ${JSON.stringify(name)} is not a single path component`);
  }
  return `${handlePath(dir)}/${name}`;
}

let procChecked: Promise<void> | undefined;

/**
 * Opens a directory given by absolute path (the workspace root) and makes sure `/proc/self/fd` works
 * here, once per process: without procfs the walk below would fail with confusing "no such file" errors.
 */
export async function openRootDir(path: string): Promise<FileHandle> {
  const dir = await open(path, DIR_FLAGS);
  try {
    procChecked ??= checkProc(dir);
    await procChecked;
  } catch (err) {
    await dir.close();
    throw err;
  }
  return dir;
}

async function checkProc(dir: FileHandle): Promise<void> {
  const viaHandle = await stat(handlePath(dir)).catch(() => undefined);
  const direct = await dir.stat();
  if (process.platform !== 'linux' || viaHandle?.ino !== direct.ino || viaHandle.dev !== direct.dev) {
    procChecked = undefined; // let a later call try again (e.g. /proc mounted late in a container)
    throw new Error("Parley's file tools need Linux with /proc mounted (they open files through /proc/self/fd to keep them inside the workspace).");
  }
}
