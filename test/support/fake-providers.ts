/**
 * Fake OpenAI + Anthropic server for tests. A real node:http server on 127.0.0.1 speaking the
 * real wire formats (SSE and JSON, error bodies, status codes), so the real SDK clients and
 * Parley's provider adapters run unmodified against it.
 *
 *   const fake = await startFakeProviders();
 *   // fake.openaiBaseUrl = 'http://127.0.0.1:PORT/v1' (SDK baseURL), fake.anthropicBaseUrl = 'http://127.0.0.1:PORT'
 *   fake.enqueue('openai', text('Hel', 'lo'));                                  // one block, 2 deltas
 *   fake.enqueue('anthropic', [reasoning(['Let me', ' think'], 'sig-1'), toolCall('read_file', { path: 'a' })]);
 *   fake.enqueue('openai', reply([text('slow')], { chunkDelayMs: 50, usage: { inputTokens: 12, outputTokens: 3 } }));
 *   fake.enqueue('anthropic', httpError(429, { headers: { 'retry-after': '7' } }));
 *   fake.enqueue('openai', reply(text('a', 'b', 'c'), { dropAfterChunks: 1 }));  // socket destroyed after 1 delta
 *   fake.enqueue('anthropic', reply(text('a', 'b'), { errorAfterChunks: 1 }));  // `event: error` overloaded_error
 *   fake.enqueue('openai', (body) => text(`echo ${body.messages.length}`));     // computed per request
 *   fake.requests('anthropic')        // parsed JSON request bodies, in arrival order
 *   fake.requestHeaders('openai')     // their headers
 *   fake.openConnections()            // requests still being answered
 *   fake.clientAborts('openai')       // responses the CLIENT closed before they were complete
 *   fake.events.on('client-close', ({ provider }) => ...)  // also 'request' ({ provider, body })
 *   fake.setDefault(text('ok'))       // reply used when a provider's queue is empty (per provider: 2nd arg)
 *   fake.enqueueCompletion('openai', text('A title'))  // non-streaming calls (titles, summaries) have their own
 *   fake.completions('openai')        // queue, default (`setCompletionDefault`) and request log, so background
 *                                     // title generation never takes a script meant for a turn's step
 *   fake.reset(); await fake.close();
 *
 * Scripts: a FakeReply (`reply(blocks, options)`; a bare block or block array is shorthand for a
 * reply with default options) or a FakeHttpError (`httpError(status, { type, message, code, headers, body })`,
 * error body in the provider's own format). Blocks: `text(...chunks)`, `reasoning(chunks, signature?)`,
 * `redactedReasoning(data)` (Anthropic only), `toolCall(name, args, { id?, chunks? })` (args split
 * into `chunks` deltas, default 3; a string `args` is sent verbatim, e.g. invalid JSON).
 * "Chunks" counted by dropAfterChunks/errorAfterChunks are content deltas (text, reasoning, tool args).
 * Non-streaming requests (`stream` false) get the same script as one JSON response.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type FakeProvider = 'openai' | 'anthropic';

export type FakeBlock =
  | { type: 'text'; chunks: string[] }
  | { type: 'reasoning'; chunks: string[]; signature?: string }
  | { type: 'redacted_reasoning'; data: string }
  | { type: 'tool_call'; id?: string; name: string; argsChunks: string[] };

export interface FakeUsage {
  inputTokens?: number;
  outputTokens?: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
  reasoningTokens?: number;
}

export interface FakeReplyOptions {
  /** Reported usage (wire format per provider; OpenAI prompt_tokens = input + cacheRead). */
  usage?: FakeUsage;
  /** Provider-native stop reason. Default: stop/end_turn, or tool_calls/tool_use when the reply has tool calls. */
  stopReason?: string;
  /** Delay before each content chunk, in ms (lets tests interrupt mid-stream). */
  chunkDelayMs?: number;
  /** Destroy the socket after this many content chunks (0 = right after the response headers). */
  dropAfterChunks?: number;
  /** Send a mid-stream error event after this many content chunks, then end the response. */
  errorAfterChunks?: number;
  /** The mid-stream error. Default Anthropic `overloaded_error`, OpenAI `server_error`. */
  streamError?: { type?: string; message?: string; code?: string };
  /** End the response cleanly but without finish_reason (OpenAI) / message_stop (Anthropic). */
  omitFinish?: boolean;
  /** OpenAI only: no usage chunk even when stream_options.include_usage asks for one (like some local servers). */
  omitUsage?: boolean;
  /** OpenAI only: the delta field carrying reasoning text (compatible servers use either). */
  reasoningField?: 'reasoning_content' | 'reasoning';
}

export interface FakeReply extends FakeReplyOptions { kind: 'reply'; blocks: FakeBlock[] }

export interface FakeHttpError {
  kind: 'http_error';
  status: number;
  /** Error type in the body; default per status and provider (e.g. `overloaded_error` for 529). */
  type?: string;
  message?: string;
  /** OpenAI `error.code`, e.g. `insufficient_quota`, `context_length_exceeded`, `model_not_found`. */
  code?: string | null;
  headers?: Record<string, string>;
  /** Send this body verbatim instead of the provider-format one. */
  body?: unknown;
}

export type FakeScript = FakeReply | FakeHttpError;
type ScriptLike = FakeScript | FakeBlock | FakeBlock[];
 
export type FakeRequestBody = any;
export type FakeScriptInput = ScriptLike | ((body: FakeRequestBody, provider: FakeProvider) => ScriptLike);

export interface FakeProviders {
  /** Includes `/v1`: pass as the OpenAI SDK's baseURL. */
  openaiBaseUrl: string;
  /** Server root: the Anthropic SDK appends `/v1/messages` itself. */
  anthropicBaseUrl: string;
  /** Scripts for streaming requests (the steps of a turn). */
  enqueue(provider: FakeProvider, ...scripts: FakeScriptInput[]): void;
  /** Scripts for non-streaming requests (titles, summaries). */
  enqueueCompletion(provider: FakeProvider, ...scripts: FakeScriptInput[]): void;
  setCompletionDefault(script: FakeScriptInput, provider?: FakeProvider): void;
  /** Bodies of non-streaming requests, in arrival order. */
  completions(provider: FakeProvider): FakeRequestBody[];
  /** Reply used when the queue is empty; without `provider`, for both. */
  setDefault(script: FakeScriptInput, provider?: FakeProvider): void;
  /** Scripts still queued. */
  pending(provider: FakeProvider): number;
  /** Bodies of streaming requests, in arrival order. */
  requests(provider: FakeProvider): FakeRequestBody[];
  requestHeaders(provider: FakeProvider): IncomingHttpHeaders[];
  openConnections(): number;
  clientAborts(provider?: FakeProvider): number;
  events: EventEmitter<{ request: [{ provider: FakeProvider; body: FakeRequestBody }]; 'client-close': [{ provider: FakeProvider }] }>;
  /** Clears queues, recorded requests and counters; restores the default replies. */
  reset(): void;
  close(): Promise<void>;
}

// ---- builders ----

export const text = (...chunks: string[]): FakeBlock => ({ type: 'text', chunks });

export const reasoning = (chunks: string | string[], signature?: string): FakeBlock => ({
  type: 'reasoning', chunks: typeof chunks === 'string' ? [chunks] : chunks, ...(signature ? { signature } : {}),
});

export const redactedReasoning = (data: string): FakeBlock => ({ type: 'redacted_reasoning', data });

export function toolCall(name: string, args: unknown, opts: { id?: string; chunks?: number } = {}): FakeBlock {
  const json = typeof args === 'string' ? args : JSON.stringify(args);
  return { type: 'tool_call', name, argsChunks: splitInto(json, opts.chunks ?? 3), ...(opts.id ? { id: opts.id } : {}) };
}

export function reply(blocks: FakeBlock | FakeBlock[], opts: FakeReplyOptions = {}): FakeReply {
  return { kind: 'reply', blocks: Array.isArray(blocks) ? blocks : [blocks], ...opts };
}

export function httpError(status: number, opts: Omit<FakeHttpError, 'kind' | 'status'> = {}): FakeHttpError {
  return { kind: 'http_error', status, ...opts };
}

/** Polls until `cond()` is true (or throws after `timeoutMs`). */
export async function waitFor(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(10);
  }
}

function splitInto(s: string, n: number): string[] {
  if (n <= 1 || s.length <= 1) return [s];
  const size = Math.ceil(s.length / n);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

// ---- server ----

const DEFAULT_REPLY: FakeScriptInput = reply(text('This is a ', 'fake reply.'));
const DEFAULT_COMPLETION: FakeScriptInput = reply(text('Fake completion'));

export async function startFakeProviders(): Promise<FakeProviders> {
  const queues: Record<FakeProvider, FakeScriptInput[]> = { openai: [], anthropic: [] };
  const defaults: Record<FakeProvider, FakeScriptInput> = { openai: DEFAULT_REPLY, anthropic: DEFAULT_REPLY };
  const bodies: Record<FakeProvider, FakeRequestBody[]> = { openai: [], anthropic: [] };
  const completionQueues: Record<FakeProvider, FakeScriptInput[]> = { openai: [], anthropic: [] };
  const completionDefaults: Record<FakeProvider, FakeScriptInput> = { openai: DEFAULT_COMPLETION, anthropic: DEFAULT_COMPLETION };
  const completionBodies: Record<FakeProvider, FakeRequestBody[]> = { openai: [], anthropic: [] };
  const headers: Record<FakeProvider, IncomingHttpHeaders[]> = { openai: [], anthropic: [] };
  const aborts: Record<FakeProvider, number> = { openai: 0, anthropic: 0 };
  const events: FakeProviders['events'] = new EventEmitter();
  let inFlight = 0;
  let seq = 0;

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    const provider: FakeProvider | undefined =
      req.method === 'POST' && path === '/v1/chat/completions' ? 'openai'
      : req.method === 'POST' && path === '/v1/messages' ? 'anthropic'
      : undefined;
    const raw = await readBody(req);
    if (!provider) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `No fake route for ${req.method} ${path}`, type: 'invalid_request_error' } }));
      return;
    }
    let body: FakeRequestBody;
    try {
      body = JSON.parse(raw);
    } catch {
      body = raw;
    }
    const stream = typeof body === 'object' && body !== null && body.stream === true;
    (stream ? bodies : completionBodies)[provider].push(body);
    headers[provider].push(req.headers);
    events.emit('request', { provider, body });

    const input = stream ? queues[provider].shift() ?? defaults[provider] : completionQueues[provider].shift() ?? completionDefaults[provider];
    const script = normalize(typeof input === 'function' ? input(body, provider) : input);
    const id = ++seq;

    inFlight++;
    const state = { droppedByUs: false };
    res.on('error', () => {});
    res.on('close', () => {
      inFlight--;
      if (!res.writableFinished && !state.droppedByUs) {
        aborts[provider]++;
        events.emit('client-close', { provider });
      }
    });

    if (script.kind === 'http_error') {
      sendHttpError(res, provider, script);
      return;
    }
    const ctx: ReplyContext = { res, state, script, model: String(body?.model ?? 'fake-model'), id, body };
    if (provider === 'openai') await (stream ? streamOpenAi(ctx) : jsonOpenAi(ctx));
    else await (stream ? streamAnthropic(ctx) : jsonAnthropic(ctx));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const root = `http://127.0.0.1:${port}`;

  return {
    openaiBaseUrl: `${root}/v1`,
    anthropicBaseUrl: root,
    enqueue: (provider, ...scripts) => { queues[provider].push(...scripts); },
    setDefault: (script, provider) => {
      if (provider) defaults[provider] = script;
      else defaults.openai = defaults.anthropic = script;
    },
    enqueueCompletion: (provider, ...scripts) => { completionQueues[provider].push(...scripts); },
    setCompletionDefault: (script, provider) => {
      if (provider) completionDefaults[provider] = script;
      else completionDefaults.openai = completionDefaults.anthropic = script;
    },
    completions: (provider) => completionBodies[provider],
    pending: (provider) => queues[provider].length,
    requests: (provider) => bodies[provider],
    requestHeaders: (provider) => headers[provider],
    openConnections: () => inFlight,
    clientAborts: (provider) => (provider ? aborts[provider] : aborts.openai + aborts.anthropic),
    events,
    reset: () => {
      for (const p of ['openai', 'anthropic'] as const) {
        queues[p] = [];
        bodies[p] = [];
        headers[p] = [];
        aborts[p] = 0;
        defaults[p] = DEFAULT_REPLY;
        completionQueues[p] = [];
        completionBodies[p] = [];
        completionDefaults[p] = DEFAULT_COMPLETION;
      }
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function normalize(s: ScriptLike): FakeScript {
  if (Array.isArray(s)) return reply(s);
  if ('kind' in s) return s;
  return reply(s);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

interface ReplyContext {
  res: ServerResponse;
  state: { droppedByUs: boolean };
  script: FakeReply;
  model: string;
  id: number;
  body: FakeRequestBody;
}

// ---- errors ----

const OPENAI_ERROR_DEFAULTS: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Invalid request.' },
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided: sk-fake.' },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory', message: 'Country, region, or territory not supported.' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model `fake` does not exist or you do not have access to it.' },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests.' },
  500: { type: 'server_error', code: null, message: 'The server had an error while processing your request.' },
  503: { type: 'server_error', code: null, message: 'The engine is currently overloaded, please try again later.' },
};

const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error', 401: 'authentication_error', 402: 'billing_error', 403: 'permission_error',
  404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error',
  504: 'timeout_error', 529: 'overloaded_error',
};

function sendHttpError(res: ServerResponse, provider: FakeProvider, e: FakeHttpError): void {
  let body = e.body;
  const reqId = `req_fake_${Math.random().toString(36).slice(2, 10)}`;
  if (body === undefined) {
    if (provider === 'openai') {
      const d = OPENAI_ERROR_DEFAULTS[e.status] ?? { type: 'server_error', code: null, message: `Fake error ${e.status}.` };
      body = { error: { message: e.message ?? d.message, type: e.type ?? d.type, param: null, code: e.code === undefined ? d.code : e.code } };
    } else {
      const type = e.type ?? ANTHROPIC_ERROR_TYPES[e.status] ?? (e.status >= 500 ? 'api_error' : 'invalid_request_error');
      body = { type: 'error', error: { type, message: e.message ?? `Fake ${type} (${e.status})` }, request_id: reqId };
    }
  }
  res.writeHead(e.status, {
    'content-type': 'application/json',
    [provider === 'openai' ? 'x-request-id' : 'request-id']: reqId,
    ...e.headers,
  });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

// ---- streaming driver shared by both formats ----

/** Writes SSE events, counting content chunks to apply delays, drops and mid-stream errors. */
class SseWriter {
  chunks = 0;
  private ctx: ReplyContext;
  private sendError: () => void;

  constructor(ctx: ReplyContext, sendError: () => void) {
    this.ctx = ctx;
    this.sendError = sendError;
  }

  get closed(): boolean {
    return this.ctx.res.destroyed || this.ctx.res.writableEnded;
  }

  start(): void {
    this.ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    this.ctx.res.flushHeaders();
  }

  event(data: unknown, event?: string): void {
    if (this.closed) return;
    this.ctx.res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  }

  /** Before each content chunk: returns false when the stream must stop (dropped, errored, client gone). */
  async beforeContent(): Promise<boolean> {
    const { script } = this.ctx;
    if (!(await this.checkFailure())) return false;
    if (script.chunkDelayMs) await sleep(script.chunkDelayMs);
    return !this.closed;
  }

  /** Applies a failure scheduled at the current chunk count (also called once after the last chunk). */
  async checkFailure(): Promise<boolean> {
    const { script, res, state } = this.ctx;
    if (this.closed) return false;
    if (script.dropAfterChunks !== undefined && this.chunks >= script.dropAfterChunks) {
      state.droppedByUs = true;
      // Let the chunks already written reach the client first, as a real mid-stream drop would.
      for (let i = 0; i < 20 && (res.socket?.writableLength ?? 0) > 0; i++) await sleep(5);
      await sleep(20);
      res.destroy();
      return false;
    }
    if (script.errorAfterChunks !== undefined && this.chunks >= script.errorAfterChunks) {
      this.sendError();
      res.end();
      return false;
    }
    return true;
  }

  end(): void {
    if (!this.closed) this.ctx.res.end();
  }
}

/**
 * Before a non-streamed reply: its delay, and a scheduled drop (a JSON body has no chunks to drop after,
 * so the connection goes before any of it). False when it dropped the connection.
 */
async function beforeJsonReply({ script, res, state }: ReplyContext): Promise<boolean> {
  if (script.chunkDelayMs) await sleep(script.chunkDelayMs);
  if (script.dropAfterChunks === undefined) return true;
  state.droppedByUs = true;
  res.destroy();
  return false;
}

function usageOf(script: FakeReply): Required<FakeUsage> {
  const deltas = script.blocks.reduce((n, b) => n + (b.type === 'text' || b.type === 'reasoning' ? b.chunks.length : b.type === 'tool_call' ? b.argsChunks.length : 1), 0);
  return {
    inputTokens: 10, outputTokens: Math.max(1, deltas), cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0,
    ...script.usage,
  };
}

const hasToolCalls = (s: FakeReply): boolean => s.blocks.some((b) => b.type === 'tool_call');

// ---- OpenAI Chat Completions ----

function openAiUsage(script: FakeReply): Record<string, unknown> {
  const u = usageOf(script);
  const prompt = u.inputTokens + u.cacheReadTokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: u.outputTokens,
    total_tokens: prompt + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cacheReadTokens, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

async function streamOpenAi(ctx: ReplyContext): Promise<void> {
  const { script, model, id, body } = ctx;
  const includeUsage = body?.stream_options?.include_usage === true && !script.omitUsage;
  const base = { id: `chatcmpl-fake${id}`, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, system_fingerprint: 'fp_fake' };
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const e = script.streamError ?? {};
  const w = new SseWriter(ctx, () => w.event({ error: { message: e.message ?? 'The server had an error while processing your request.', type: e.type ?? 'server_error', param: null, code: e.code ?? null } }));
  const reasoningField = script.reasoningField ?? 'reasoning_content';

  w.start();
  w.event(chunk({ role: 'assistant', content: '', refusal: null }));
  let toolIndex = 0;
  for (const block of script.blocks) {
    if (block.type === 'text' || block.type === 'reasoning') {
      for (const c of block.chunks) {
        if (!(await w.beforeContent())) return;
        w.event(chunk(block.type === 'text' ? { content: c } : { [reasoningField]: c }));
        w.chunks++;
      }
    } else if (block.type === 'tool_call') {
      const index = toolIndex++;
      w.event(chunk({ tool_calls: [{ index, id: block.id ?? `call_fake${id}_${index}`, type: 'function', function: { name: block.name, arguments: '' } }] }));
      for (const c of block.argsChunks) {
        if (!(await w.beforeContent())) return;
        w.event(chunk({ tool_calls: [{ index, function: { arguments: c } }] }));
        w.chunks++;
      }
    }
    // redacted reasoning has no Chat Completions equivalent
  }
  if (!(await w.checkFailure())) return;
  if (script.omitFinish) return w.end();
  w.event(chunk({}, script.stopReason ?? (hasToolCalls(script) ? 'tool_calls' : 'stop')));
  if (includeUsage) w.event({ ...base, choices: [], usage: openAiUsage(script) });
  w.event('[DONE]');
  w.end();
}

async function jsonOpenAi(ctx: ReplyContext): Promise<void> {
  const { script, model, id, res } = ctx;
  if (!(await beforeJsonReply(ctx))) return;
  const textOut = script.blocks.map((b) => (b.type === 'text' ? b.chunks.join('') : '')).join('');
  const reasoningOut = script.blocks.map((b) => (b.type === 'reasoning' ? b.chunks.join('') : '')).join('');
  const toolCalls = script.blocks.flatMap((b, i) => (b.type === 'tool_call'
    ? [{ id: b.id ?? `call_fake${id}_${i}`, type: 'function', function: { name: b.name, arguments: b.argsChunks.join('') } }]
    : []));
  const message: Record<string, unknown> = { role: 'assistant', content: textOut || null, refusal: null, annotations: [] };
  if (reasoningOut) message[script.reasoningField ?? 'reasoning_content'] = reasoningOut;
  if (toolCalls.length) message['tool_calls'] = toolCalls;
  res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_fake${id}` });
  res.end(JSON.stringify({
    id: `chatcmpl-fake${id}`, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: script.stopReason ?? (toolCalls.length ? 'tool_calls' : 'stop') }],
    usage: openAiUsage(script), system_fingerprint: 'fp_fake',
  }));
}

// ---- Anthropic Messages ----

function anthropicUsage(script: FakeReply): Record<string, unknown> {
  const u = usageOf(script);
  return {
    input_tokens: u.inputTokens,
    cache_creation_input_tokens: u.cacheWriteTokens,
    cache_read_input_tokens: u.cacheReadTokens,
    output_tokens: u.outputTokens,
    output_tokens_details: u.reasoningTokens ? { thinking_tokens: u.reasoningTokens } : null,
  };
}

async function streamAnthropic(ctx: ReplyContext): Promise<void> {
  const { script, model, id } = ctx;
  const e = script.streamError ?? {};
  const w = new SseWriter(ctx, () => w.event({ type: 'error', error: { type: e.type ?? 'overloaded_error', message: e.message ?? 'Overloaded' } }, 'error'));
  const usage = anthropicUsage(script);

  w.start();
  w.event({
    type: 'message_start',
    message: {
      id: `msg_fake${id}`, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
      usage: { ...usage, output_tokens: 1, output_tokens_details: null },
    },
  }, 'message_start');
  w.event({ type: 'ping' }, 'ping');

  for (const [index, block] of script.blocks.entries()) {
    const delta = (d: Record<string, unknown>) => w.event({ type: 'content_block_delta', index, delta: d }, 'content_block_delta');
    const start = (content_block: Record<string, unknown>) => w.event({ type: 'content_block_start', index, content_block }, 'content_block_start');
    if (block.type === 'text') {
      start({ type: 'text', text: '', citations: null });
      for (const c of block.chunks) {
        if (!(await w.beforeContent())) return;
        delta({ type: 'text_delta', text: c });
        w.chunks++;
      }
    } else if (block.type === 'reasoning') {
      start({ type: 'thinking', thinking: '', signature: '' });
      for (const c of block.chunks) {
        if (!(await w.beforeContent())) return;
        delta({ type: 'thinking_delta', thinking: c });
        w.chunks++;
      }
      if (block.signature) delta({ type: 'signature_delta', signature: block.signature });
    } else if (block.type === 'redacted_reasoning') {
      start({ type: 'redacted_thinking', data: block.data });
    } else {
      start({ type: 'tool_use', id: block.id ?? `toolu_fake${id}_${index}`, name: block.name, input: {} });
      for (const c of block.argsChunks) {
        if (!(await w.beforeContent())) return;
        delta({ type: 'input_json_delta', partial_json: c });
        w.chunks++;
      }
    }
    w.event({ type: 'content_block_stop', index }, 'content_block_stop');
  }
  if (!(await w.checkFailure())) return;
  if (script.omitFinish) return w.end();
  w.event({
    type: 'message_delta',
    delta: { stop_reason: script.stopReason ?? (hasToolCalls(script) ? 'tool_use' : 'end_turn'), stop_sequence: null },
    usage,
  }, 'message_delta');
  w.event({ type: 'message_stop' }, 'message_stop');
  w.end();
}

async function jsonAnthropic(ctx: ReplyContext): Promise<void> {
  const { script, model, id, res } = ctx;
  if (!(await beforeJsonReply(ctx))) return;
  const content = script.blocks.map((b, index) => {
    switch (b.type) {
      case 'text': return { type: 'text', text: b.chunks.join(''), citations: null };
      case 'reasoning': return { type: 'thinking', thinking: b.chunks.join(''), signature: b.signature ?? '' };
      case 'redacted_reasoning': return { type: 'redacted_thinking', data: b.data };
      case 'tool_call': return { type: 'tool_use', id: b.id ?? `toolu_fake${id}_${index}`, name: b.name, input: JSON.parse(b.argsChunks.join('') || '{}') as unknown };
    }
  });
  res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_fake${id}` });
  res.end(JSON.stringify({
    id: `msg_fake${id}`, type: 'message', role: 'assistant', model, content,
    stop_reason: script.stopReason ?? (hasToolCalls(script) ? 'tool_use' : 'end_turn'), stop_sequence: null,
    usage: anthropicUsage(script),
  }));
}
