// HTTP access to a running Parley API for the CLI client: bearer auth, the API's one error shape,
// and failures that name the URL the user configured (the usual cause is a wrong PARLEY_URL).

export const DEFAULT_URL = 'http://localhost:8080';
const PREFIX = '/api/v1';

/** An error response of the API (`{error: {code, message}}` with an HTTP status). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
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

  /** A JSON request; resolves with the parsed body of a 2xx answer, throws ApiError or NetworkError. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
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
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (parsed.error && typeof parsed.error.message === 'string') {
      return new ApiError(res.status, String(parsed.error.code ?? 'error'), parsed.error.message);
    }
  } catch { /* not the API's JSON: a proxy page or similar, described below */ }
  const snippet = text.trim().replace(/\s+/g, ' ').slice(0, 200);
  return new ApiError(res.status, 'http_error', snippet || res.statusText || 'request failed');
}
