import fs from 'node:fs';
import path from 'node:path';

/** True when `p` is a regular file this process may access with `mode` (fs.constants.R_OK, X_OK, …). */
export function isFileWithAccess(p: string, mode: number): boolean {
  try {
    fs.accessSync(p, mode);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The first executable file `name` in the directories of `searchPath` (`skipDir` passes some over), or undefined. */
export function findOnPath(name: string, skipDir: (dir: string) => boolean = () => false, searchPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '' || skipDir(dir)) continue;
    const candidate = path.join(dir, name);
    if (isFileWithAccess(candidate, fs.constants.X_OK)) return candidate;
  }
  return undefined;
}
