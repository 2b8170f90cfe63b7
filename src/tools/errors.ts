import { relative, isAbsolute, sep } from 'node:path';

/** A failure the model should read and can act on (bad path, missing search text, ...). */
export class ToolError extends Error {
  override name = 'ToolError';
}

/**
 * The error tools reject with when `ctx.signal` aborts. Named 'AbortError' (like fetch and
 * node:timers/promises) so callers can tell an interrupt from a tool failure by name alone.
 */
export function abortError(signal: AbortSignal): Error {
  const err = new Error('The tool call was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  return err;
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

const fsMessages: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EISDIR: 'Is a directory (expected a file)',
  ENOTDIR: 'A component of the path is not a directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EEXIST: 'Already exists',
  ENOTEMPTY: 'Directory not empty',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  ENOSPC: 'No space left on device',
  EDQUOT: 'Disk quota exceeded',
  EROFS: 'Read-only file system',
  EMFILE: 'Too many open files, try again',
};

/**
 * Turns a Node fs error into a message for the model, naming the path relative to the workspace
 * (the host's absolute layout is none of the model's business). Undefined when `err` is no errno error.
 */
export function describeFsError(err: unknown, workspaceDir: string): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const { code, path } = err as NodeJS.ErrnoException;
  if (typeof code !== 'string') return undefined;
  const text = fsMessages[code];
  if (text === undefined) return undefined;
  if (typeof path !== 'string') return text;
  return `${text}: ${JSON.stringify(displayPath(path, workspaceDir))}`;
}

function displayPath(path: string, workspaceDir: string): string {
  const rel = relative(workspaceDir, path);
  if (rel === '') return '.';
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return path;
  return rel;
}
