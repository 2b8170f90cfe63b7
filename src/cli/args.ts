// What every client command works with: its parsed arguments, the I/O, the API client; and the
// checks of positional arguments and flags that answer with a usage error.
import type { ApiClient } from './api.ts';
import type { ClientIo } from './commands.ts';

/** Wrong arguments: reported with the command's usage line, exit code 2. */
export class UsageError extends Error {}

export interface Context {
  io: ClientIo;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  api(): ApiClient;
}

export const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

export function positionals(ctx: Context, names: string[]): string[] {
  const got = ctx.positionals;
  if (got.length < names.length) throw new UsageError(`missing ${names.slice(got.length).map((n) => `<${n}>`).join(' ')}`);
  if (got.length > names.length) throw new UsageError(`unexpected argument "${got[names.length]}" (quote a message with spaces)`);
  return got;
}

export function positiveInt(value: string | boolean | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${flag} must be a positive integer`);
  }
  return n;
}
