// HTTP access to a running Parley API for the CLI client: bearer auth, the API's one error shape,
// and failures that name the URL the user configured (the usual cause is a wrong PARLEY_URL).
import { randomUUID } from 'node:crypto';

export const DEFAULT_URL = 'http://localhost:8080';
const PREFIX = '/api/v1';

/** An error response of the API (`{error: {code, message}}` with an HTTP status). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** From a Retry-After header in seconds, when the answer had one. */
  readonly retryAfterMs: number | undefined;
  constructor(status: number, code: string, message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The API could not be reached at all (refused, DNS, reset before a response...). */
export class NetworkError extends Error {
  readonly url: string;
  constructor(url: string, cause: unknown) {
    super(`cannot reach Parley at ${url} (${describeCause(cause)})`, { cause });
    this.name = 'NetworkError';
    this.url = url;
  }
}

function describeCause(err: unknown): string {
  // fetch() reports "fetch failed" and keeps the useful part (ECONNREFUSED, ENOTFOUND...) in `cause`.
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/** `http://host:8080/`, `http://host:8080/api/v1` → `http://host:8080`. */
export function normalizeBaseUrl(raw: string): string {
  let url = raw.trim().replace(/\/+$/, '');
  if (url.endsWith(PREFIX)) url = url.slice(0, -PREFIX.length);
  if (!/^https?:\/\//i.test(url)) throw new Error(`the Parley URL must start with http:// or https:// (got "${raw}")`);
  return url;
}

export interface ApiClientOptions {
  baseUrl: string;
  token: string;
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly token: string;

  constructor(options: ApiClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    this.token = options.token;
  }

  url(path: string): string {
    return `${this.baseUrl}${PREFIX}${path}`;
  }

  /**
   * A request that creates something (a chat, a message), sent with an Idempotency-Key and retried
   * with the same key while Parley or Temporal is unreachable (503, network errors), so a retry
   * never creates a second chat or message. The last error is thrown when the retries run out; a 503
   * names the chat it saved.
   */
  async create<T>(path: string, body: unknown, opts: { attempts?: number; maxDelayMs?: number } = {}): Promise<T> {
    const key = randomUUID();
    const attempts = opts.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.request<T>('POST', path, body, { 'idempotency-key': key });
      } catch (err) {
        const retryable = err instanceof NetworkError || (err instanceof ApiError && err.status === 503);
        if (!retryable || attempt >= attempts) throw err;
        const after = err instanceof ApiError ? err.retryAfterMs : undefined;
        await new Promise((r) => setTimeout(r, Math.min(after ?? 1_000 * attempt, opts.maxDelayMs ?? 5_000)));
      }
    }
  }

  /** A JSON request; resolves with the parsed body of a 2xx answer, throws ApiError or NetworkError. */
  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await this.fetch(path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text().catch((err: unknown) => { throw new NetworkError(this.baseUrl, err); });
    if (!res.ok) throw errorFrom(res, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A raw request (used for the event stream); only network failures are turned into errors. */
  async fetch(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
    try {
      return await fetch(this.url(path), {
        ...init,
        headers: { authorization: `Bearer ${this.token}`, ...init.headers },
      });
    } catch (err) {
      // An abort is the caller's decision, not a network problem.
      if (init.signal?.aborted) throw err;
      throw new NetworkError(this.baseUrl, err);
    }
  }
}

/** The ApiError of a non-2xx response whose body was read as `text`. */
export function errorFrom(res: Response, text: string): ApiError {
  const seconds = Number(res.headers.get('retry-after') ?? NaN);
  const retryAfterMs = Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (parsed.error && typeof parsed.error.message === 'string') {
      return new ApiError(res.status, String(parsed.error.code ?? 'error'), parsed.error.message, retryAfterMs);
    }
  } catch { /* not the API's JSON: a proxy page or similar, described below */ }
  const snippet = text.trim().replace(/\s+/g, ' ').slice(0, 200);
  return new ApiError(res.status, 'http_error', snippet || res.statusText || 'request failed', retryAfterMs);
}
