// Domain errors: what went wrong, in the words of the chat service, not of HTTP or Temporal. The
// repositories (src/db) and use-cases (src/chats) throw them; the API maps a kind to a status
// (src/api/errors.ts), the activities map them to failures (src/activities/failures.ts).

export type ErrorKind =
  /** The request itself is wrong (a bad value, an empty title). */
  | 'invalid'
  | 'not_found'
  | 'forbidden'
  /** The request is fine, the state is not (a busy chat, a name taken). */
  | 'conflict'
  /** Understood but refused as it is (an Idempotency-Key reused for another request). */
  | 'unprocessable'
  /** A dependency is down; the work is saved and resumes by itself (Temporal unreachable). */
  | 'unavailable'
  /** The server can't do it as configured (a provider key that can't be decrypted). */
  | 'internal';

/** Ids an error names besides its message, e.g. the chat a request saved before Temporal failed. */
export interface ErrorDetails { chatId?: string; messageId?: string; queuedMessageId?: string }

export class DomainError extends Error {
  readonly kind: ErrorKind;
  /** Stable machine-readable code, e.g. `not_found`, `temporal_unavailable`. */
  readonly code: string;
  readonly details: ErrorDetails;
  /** For `unavailable`: when trying again makes sense. */
  readonly retryAfterSeconds: number | undefined;
  constructor(kind: ErrorKind, code: string, message: string, opts: { details?: ErrorDetails; retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DomainError';
    this.kind = kind;
    this.code = code;
    this.details = opts.details ?? {};
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

export const badRequest = (message: string) => new DomainError('invalid', 'bad_request', message);
export const notFound = (what: string) => new DomainError('not_found', 'not_found', `${what} not found`);
export const conflict = (message: string) => new DomainError('conflict', 'conflict', message);
export const forbidden = (message = 'This requires the admin role') => new DomainError('forbidden', 'forbidden', message);
