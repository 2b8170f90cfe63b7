// One place that turns whatever a provider SDK (or the network under it) throws into a
// ClassifiedError. Temporal is the only retry layer, so `retryable` here decides whether a failed
// model call is retried at all: be precise about the non-retryable classes, and default to
// retryable for anything transient or unknown (the workflow's retry policy caps attempts).
import { APIConnectionError as OpenAIConnectionError, APIUserAbortError as OpenAIUserAbortError } from 'openai';
import {
  APIConnectionError as AnthropicConnectionError,
  APIUserAbortError as AnthropicUserAbortError,
} from '@anthropic-ai/sdk';
import type { ClassifiedError } from './provider.ts';

/** A classified provider failure, thrown by `LlmProvider.stream()` / `complete()`. */
export class ProviderError extends Error implements ClassifiedError {
  kind: string;
  retryable: boolean;
  provider?: string;
  statusCode?: number;
  retryAfterMs?: number;

  constructor(info: ClassifiedError, options?: { cause?: unknown }) {
    super(info.message, options);
    this.name = 'ProviderError';
    this.kind = info.kind;
    this.retryable = info.retryable;
    if (info.provider !== undefined) this.provider = info.provider;
    if (info.statusCode !== undefined) this.statusCode = info.statusCode;
    if (info.retryAfterMs !== undefined) this.retryAfterMs = info.retryAfterMs;
  }

  /** Plain, serialisable copy (for ApplicationFailure details and chat events). */
  toInfo(): ClassifiedError {
    const info: ClassifiedError = { message: this.message, kind: this.kind, retryable: this.retryable };
    if (this.provider !== undefined) info.provider = this.provider;
    if (this.statusCode !== undefined) info.statusCode = this.statusCode;
    if (this.retryAfterMs !== undefined) info.retryAfterMs = this.retryAfterMs;
    return info;
  }
}

/**
 * Thrown when the caller's AbortSignal fired (user interrupt). Named `AbortError` like the DOM's,
 * so generic abort checks recognise it too.
 */
export class ProviderAbortError extends Error {
  constructor(providerName: string, options?: { cause?: unknown }) {
    super(`Request to ${providerName} was interrupted`, options);
    this.name = 'AbortError';
  }
}

export function isAbortError(err: unknown): boolean {
  if (err instanceof ProviderAbortError) return true;
  if (err instanceof OpenAIUserAbortError || err instanceof AnthropicUserAbortError) return true;
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

/** The stream closed without the provider's end-of-response marker: the answer may be truncated. */
export function streamEndedEarly(providerName: string, missing: string): ProviderError {
  return new ProviderError({
    kind: 'stream',
    retryable: true,
    provider: providerName,
    message: `${providerName} stream ended before the response was complete (no ${missing})`,
  });
}

/** Wraps anything thrown by an SDK call, keeping aborts recognisable. */
export function toProviderError(err: unknown, providerName: string, signal?: AbortSignal): Error {
  if (err instanceof ProviderError || err instanceof ProviderAbortError) return err;
  if (isAbortError(err) || signal?.aborted) return new ProviderAbortError(providerName, { cause: err });
  return new ProviderError(classifyProviderError(err, providerName), { cause: err });
}

const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN',
  'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

const CONTEXT_RE = /context[ _-]?(length|window)|prompt is too long|too many tokens|maximum context|exceeds? the (model'?s )?(context|maximum)|input is too long|reduce the length/i;
const MODEL_NOT_FOUND_RE = /model.*(not[ _]found|does not exist|not exist)|unknown model|no such model/i;
const QUOTA_RE = /credit balance|insufficient[ _]quota|exceeded your current quota|billing/i;

/**
 * Classifies a provider failure for the chat's error and the retry decision. The provider's own
 * message is kept (it is usually what a person needs), with anything key-like taken out: real
 * providers echo fragments of the key they were given ("Incorrect API key provided: sk-proj-****abcd").
 */
export function classifyProviderError(err: unknown, providerName: string): ClassifiedError {
  const classified = classify(err, providerName);
  return { ...classified, message: redactSecrets(classified.message) };
}

const SECRET_PATTERNS: Array<[RegExp, string]> = [
  // OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), and the like, also partly masked with * or …
  [/\b(?:sk|pk|rk)-[A-Za-z0-9_*.…-]{3,}/g, 'sk-[redacted]'],
  [/\bAIza[0-9A-Za-z_-]{10,}/g, '[redacted]'],
  [/\bBearer\s+[^\s"',]+/gi, 'Bearer [redacted]'],
  // key=value and "key": "value" for the usual names
  [/\b((?:api[_-]?key|x-api-key|access[_-]?token|secret|password|authorization)["']?\s*[:=]\s*["']?)(?!Bearer\b)[^\s"',}]+/gi, '$1[redacted]'],
];

/** `text` without anything that looks like a credential. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

function classify(err: unknown, providerName: string): ClassifiedError {
  const p = providerName;
  if (err instanceof ProviderError) return err.toInfo();
  if (isAbortError(err)) {
    return { kind: 'interrupted', retryable: false, provider: p, message: `Request to ${p} was interrupted` };
  }

  if (err instanceof OpenAIConnectionError || err instanceof AnthropicConnectionError) {
    const timeout = /timed? ?out/i.test(err.message);
    const detail = describeCause(err);
    return {
      kind: 'network', retryable: true, provider: p,
      message: timeout ? `Request to ${p} timed out` : `Could not reach ${p}: ${detail}`,
    };
  }

  const api = asApiError(err);
  if (api) return classifyApiError(api, p);

  const code = networkCode(err);
  if (code) return { kind: 'network', retryable: true, provider: p, message: `Connection to ${p} failed (${code}): ${describeCause(err)}` };
  if (err instanceof TypeError && /terminated|fetch failed|socket/i.test(err.message)) {
    return { kind: 'network', retryable: true, provider: p, message: `Connection to ${p} failed: ${describeCause(err)}` };
  }
  if (err instanceof SyntaxError) {
    return { kind: 'stream', retryable: true, provider: p, message: `${p} sent a malformed response: ${err.message}` };
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/missing credentials|api[ _-]?key/i.test(message)) {
    return { kind: 'auth', retryable: false, provider: p, message: `${p} is not configured with an API key: ${message}` };
  }
  return { kind: 'unknown', retryable: true, provider: p, message: `${p} request failed: ${message}` };
}

interface ApiErrorLike {
  status: number | undefined;
  headers: unknown;
  message: string;
  /** Provider error body fields, normalised across both SDKs' layouts. */
  body: { message?: string; type?: string; code?: string };
}

// Both SDKs' APIError carry `status`, `headers` and `error`, but lay the body out differently:
// openai keeps the inner `{message,type,code}`; anthropic keeps the whole `{type:'error',error:{...}}`.
// Duck-typing also covers errors from a second copy of an SDK in node_modules.
function asApiError(err: unknown): ApiErrorLike | undefined {
  if (!(err instanceof Error) || !('status' in err) || !('headers' in err) || !('error' in err)) return undefined;
  const e = err as Error & { status: unknown; headers: unknown; error: unknown; code?: unknown; type?: unknown; apiMessage?: unknown };
  const status = typeof e.status === 'number' ? e.status : undefined;
  const raw = e.error;
  let inner: unknown = raw;
  if (isRecord(raw) && isRecord(raw['error'])) inner = raw['error'];
  const body: ApiErrorLike['body'] = {};
  if (typeof inner === 'string') body.message = inner;
  else if (isRecord(raw) && typeof raw['error'] === 'string') body.message = raw['error'];
  if (isRecord(inner)) {
    if (typeof inner['message'] === 'string') body.message = inner['message'];
    if (typeof inner['type'] === 'string') body.type = inner['type'];
    if (typeof inner['code'] === 'string') body.code = inner['code'];
  }
  if (!body.message && typeof e.apiMessage === 'string') body.message = e.apiMessage;
  if (!body.type && typeof e.type === 'string') body.type = e.type;
  if (!body.code && typeof e.code === 'string') body.code = e.code;
  return { status, headers: e.headers, message: e.message, body };
}

function classifyApiError(api: ApiErrorLike, p: string): ClassifiedError {
  const { status, body } = api;
  const detail = body.message ?? api.message;
  const retryAfterMs = parseRetryAfter(api.headers);
  const base = (kind: string, retryable: boolean, message: string): ClassifiedError => {
    const info: ClassifiedError = { kind, retryable, provider: p, message };
    if (status !== undefined) info.statusCode = status;
    if (retryAfterMs !== undefined && retryable) info.retryAfterMs = retryAfterMs;
    return info;
  };
  const s = status ?? 'mid-stream';
  const type = body.type ?? '';
  const code = body.code ?? '';

  // Checked before the status so that e.g. a 400 "prompt is too long" is not a plain bad_request.
  if (code === 'context_length_exceeded' || ((status === 400 || status === 413 || type === 'invalid_request_error') && CONTEXT_RE.test(detail))) {
    return base('context_length', false, `The prompt is too long for the model's context window (${p}, ${s}): ${detail}`);
  }
  if (code === 'insufficient_quota' || status === 402 || type === 'billing_error' || (status !== 429 && QUOTA_RE.test(detail) && status !== undefined && status < 500)) {
    return base('quota', false, `${p} account is out of quota or credit (${s}): ${detail}`);
  }
  if (status === 401 || type === 'authentication_error') {
    return base('auth', false, `${p} rejected the API key (${s}): ${detail}`);
  }
  if (status === 403 || type === 'permission_error') {
    return base('auth', false, `${p} denied access to this resource (${s}): ${detail}`);
  }
  if (status === 404 || code === 'model_not_found' || type === 'not_found_error' || ((status === 400 || status === 422) && MODEL_NOT_FOUND_RE.test(detail))) {
    const hint = MODEL_NOT_FOUND_RE.test(detail) || code === 'model_not_found' ? '' : ' (check the model name and base URL)';
    return base('model_not_found', false, `${p} does not know this model${hint} (${s}): ${detail}`);
  }
  if (status === undefined) {
    // An error event inside an already-started stream (e.g. Anthropic `event: error` overloaded_error).
    const what = type ? `${type}: ${detail}` : detail;
    return base('stream', true, `${p} stream failed mid-response (${what})`);
  }
  if (status === 429) {
    const wait = retryAfterMs !== undefined ? `, retry after ${Math.ceil(retryAfterMs / 1000)}s` : '';
    return base('rate_limit', true, `${p} rate limit reached (429${wait}): ${detail}`);
  }
  if (status === 529 || type === 'overloaded_error') {
    return base('overloaded', true, `${p} is overloaded (${status}): ${detail}`);
  }
  if (status >= 500) return base('server', true, `${p} server error (${status}): ${detail}`);
  if (status === 408 || status === 409 || status === 499) {
    return base('network', true, `${p} request did not complete (${status}): ${detail}`);
  }
  if (status === 413) return base('context_length', false, `The request is too large for ${p} (413): ${detail}`);
  if (status >= 400) return base('bad_request', false, `${p} rejected the request (${status}): ${detail}`);
  return base('unknown', true, `${p} request failed (${status}): ${detail}`);
}

/** `retry-after-ms` (ms), else `retry-after` in seconds or as an HTTP date. */
export function parseRetryAfter(headers: unknown, now: number = Date.now()): number | undefined {
  const ms = getHeader(headers, 'retry-after-ms');
  if (ms !== undefined) {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return Math.round(n);
  }
  const ra = getHeader(headers, 'retry-after');
  if (ra === undefined || ra.trim() === '') return undefined;
  const secs = Number(ra);
  if (Number.isFinite(secs)) return secs >= 0 ? Math.round(secs * 1000) : undefined;
  const date = Date.parse(ra);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

function getHeader(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? String(v[0]) : String(v);
  }
  return undefined;
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
  }
  return undefined;
}

/** The innermost useful message of an error chain ("other side closed" beats "terminated"). */
function describeCause(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const m = (e as { message?: unknown }).message;
    if (typeof m === 'string' && m && !parts.includes(m)) parts.push(m);
  }
  return parts.join(': ') || String(err);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
