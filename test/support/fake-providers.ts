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
 *
 * Files: the script types and builders are in fake-script.ts (re-exported here, so tests import
 * from this file only), what both wire formats share in fake-wire.ts, the formats themselves in
 * fake-openai.ts and fake-anthropic.ts.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { anthropicFormat } from './fake-anthropic.ts';
import { openAiFormat } from './fake-openai.ts';
import { normalize, reply, text } from './fake-script.ts';
import type { FakeHttpError, FakeProvider, FakeRequestBody, FakeScriptInput } from './fake-script.ts';
import type { ReplyContext, WireFormat } from './fake-wire.ts';

export { httpError, reasoning, redactedReasoning, reply, text, toolCall } from './fake-script.ts';
export type {
  FakeBlock, FakeHttpError, FakeProvider, FakeReply, FakeReplyOptions, FakeRequestBody, FakeScript, FakeScriptInput, FakeUsage,
} from './fake-script.ts';

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

/** Polls until `cond()` is true (or throws after `timeoutMs`). */
export async function waitFor(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(10);
  }
}

// ---- server ----

const FORMATS: Record<FakeProvider, WireFormat> = { openai: openAiFormat, anthropic: anthropicFormat };

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
    await (stream ? FORMATS[provider].stream(ctx) : FORMATS[provider].json(ctx));
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

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendHttpError(res: ServerResponse, provider: FakeProvider, e: FakeHttpError): void {
  const format = FORMATS[provider];
  const reqId = `req_fake_${Math.random().toString(36).slice(2, 10)}`;
  const body = e.body === undefined ? format.errorBody(e, reqId) : e.body;
  res.writeHead(e.status, {
    'content-type': 'application/json',
    [format.requestIdHeader]: reqId,
    ...e.headers,
  });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}
