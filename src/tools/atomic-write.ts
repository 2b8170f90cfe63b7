import { randomBytes } from 'node:crypto';
import { chmod, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ToolError } from './errors.ts';

/**
 * Replaces `file` with `content` via a temp file in the same directory and a rename, so readers
 * (and a crash mid-write) see either the old or the new content, never half of it.
 * An existing file's permission bits are kept (an edited script stays executable).
 * Returns whether the file existed before.
 */
export async function writeFileAtomic(file: string, content: string, display: string): Promise<{ existed: boolean }> {
  let mode: number | undefined;
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw new ToolError(`${JSON.stringify(display)} is a directory; give a file path.`);
    if (!st.isFile()) throw new ToolError(`${JSON.stringify(display)} is not a regular file.`);
    mode = st.mode & 0o7777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.parley-tmp`);
  try {
    const handle = await open(tmp, 'wx', 0o666);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (mode !== undefined) await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return { existed: mode !== undefined };
}
