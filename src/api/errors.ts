// HTTP errors: the one error shape, the errors only HTTP has (401, 413, 429...), and the status of
// each domain error kind (src/shared/errors.ts).
import { DomainError, type ErrorDetails, type ErrorKind } from '../shared/errors.ts';

export { badRequest, conflict, forbidden, notFound, type ErrorDetails } from '../shared/errors.ts';

/** The one error shape every API error uses: `{error: {code, message}}`. */
export interface ErrorBody { error: { code: string; message: string } & ErrorDetails }

export class HttpError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  readonly details: ErrorDetails;
  constructor(statusCode: number, code: string, message: string, headers: Record<string, string> = {}, details: ErrorDetails = {}) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.code = code;
    this.headers = headers;
    this.details = details;
  }
}

const STATUS: Record<ErrorKind, number> = {
  invalid: 400, not_found: 404, forbidden: 403, conflict: 409, unprocessable: 422, unavailable: 503, internal: 500,
};

/** A domain error as the HTTP error it is answered with. */
export function toHttpError(err: DomainError): HttpError {
  const headers: Record<string, string> = err.retryAfterSeconds !== undefined ? { 'retry-after': String(err.retryAfterSeconds) } : {};
  const http = new HttpError(STATUS[err.kind], err.code, err.message, headers, err.details);
  http.cause = err.cause ?? err;
  return http;
}

/** Any error as an HttpError when it is one or a domain error; undefined otherwise. */
export function asHttpError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof DomainError) return toHttpError(err);
  return undefined;
}
