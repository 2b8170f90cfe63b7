/** The one error shape every API error uses: `{error: {code, message}}`. */
export interface ErrorBody { error: { code: string; message: string } & ErrorDetails }

/** Ids an error response names besides its message, e.g. the chat a 503 saved before Temporal failed. */
export interface ErrorDetails { chatId?: string; messageId?: string; queuedMessageId?: string }

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

export const badRequest = (message: string) => new HttpError(400, 'bad_request', message);
export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} not found`);
export const conflict = (message: string) => new HttpError(409, 'conflict', message);
export const forbidden = (message = 'This requires the admin role') => new HttpError(403, 'forbidden', message);
