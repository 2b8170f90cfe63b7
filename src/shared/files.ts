import fs from 'node:fs';

/** True when `p` is a regular file this process may access with `mode` (fs.constants.R_OK, X_OK, …). */
export function isFileWithAccess(p: string, mode: number): boolean {
  try {
    fs.accessSync(p, mode);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
