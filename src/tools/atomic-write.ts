import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { at, CREATE_FLAGS } from './dir-handle.ts';
import { ToolError } from './errors.ts';
import type { Entry } from './workspace.ts';

/**
 * Replaces the entry with `content` via a temp file in the same directory and a rename, so readers
 * (and a crash mid-write) see either the old or the new content, never half of it. Both the temp file
 * and the rename go through the directory's handle, so a concurrent swap of any directory on the way
 * can't move the write elsewhere; the rename replaces whatever name is there (also a symlink or a hard
 * link swapped in meanwhile) instead of writing through it. New files are private (0600) to the
workspace's owner (the sandbox user when the worker runs as root);
 * an existing file's permission bits are kept (an edited script stays executable).
 * Returns whether the file existed before.
 */
export async function writeFileAtomic(entry: Entry, content: string): Promise<{ existed: boolean }> {
  const { dir, name, stat, display } = entry;
  if (name === undefined || stat?.isDirectory() === true) throw new ToolError(`${JSON.stringify(display)} is a directory; give a file path.`);
  if (stat !== undefined && !stat.isFile()) throw new ToolError(`${JSON.stringify(display)} is not a regular file.`);
  const tmp = `.${name}.${randomBytes(6).toString('hex')}.parley-tmp`;
  try {
    const handle = await open(at(dir, tmp), CREATE_FLAGS, 0o600);
    try {
      await handle.writeFile(content, 'utf8');
      // Permission bits only: the new file belongs to the worker's user, so a setuid bit copied from
      // whatever was there (a command's own file, a hard link to a system binary) would make the
      // model's content run with the worker's rights.
      if (stat !== undefined) await handle.chmod(stat.mode & 0o777);
      if (entry.owner) await handle.chown(entry.owner.uid, entry.owner.gid);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(at(dir, tmp), at(dir, name));
  } catch (err) {
    await rm(at(dir, tmp), { force: true });
    throw err;
  }
  return { existed: stat !== undefined };
}
