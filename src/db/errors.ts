// PostgreSQL errors as failures a person can read, and whether trying again can help. A data error
// (a value out of range, a NUL byte in text, a broken constraint) fails the same way on every
// attempt: retrying it only repeats the work before it (for a step, a paid provider call).
import type { ErrorInfo } from '../shared/types.ts';

/** SQLSTATE classes that an identical retry meets again. */
const DETERMINISTIC_CLASSES = new Set([
  '0A', // feature not supported
  '22', // data exception: out of range, invalid text representation, NUL in text, ...
  '23', // integrity constraint violation
  '2F', // SQL routine exception
  '42', // syntax error or access rule violation (undefined column, permission denied)
  '44', // WITH CHECK OPTION violation
]);

/** The failure of a database operation `what` ("store this step"), classified by its SQLSTATE. */
export function classifyDatabaseError(err: unknown, what: string): ErrorInfo {
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const sqlstate = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  if (sqlstate !== undefined && DETERMINISTIC_CLASSES.has(sqlstate.slice(0, 2))) {
    return { kind: 'database', retryable: false, message: `Parley could not ${what}: the database refused it (${message}, SQLSTATE ${sqlstate}).` };
  }
  // Connection loss, a restarting server, serialization failures, lack of resources: worth a retry.
  return { kind: 'database', retryable: true, message: `Parley could not ${what}: the database is unavailable (${message}).` };
}

/** A database operation of an activity failed; `info` says what and whether a retry can help. */
export class DatabaseFailure extends Error {
  readonly info: ErrorInfo;
  constructor(err: unknown, what: string) {
    const info = classifyDatabaseError(err, what);
    super(info.message, { cause: err });
    this.name = 'DatabaseFailure';
    this.info = info;
  }
}

/** Runs a database operation, turning its failure into a DatabaseFailure naming `what`. */
export async function inDatabase<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new DatabaseFailure(err, what);
  }
}
