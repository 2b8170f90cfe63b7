// A fake OpenAI Chat Completions server for the bench, run as its own process (`fork`) so that
// producing tokens never competes with Parley or with the clients measuring them. Wire format as in
// test/support/fake-providers.ts; what to answer comes from the request (see directive.ts).
//
// IPC: parent → {type:'ping', id}            child → {type:'pong', id, now}   (clock calibration)
//      child  → {type:'ready', port}          child → {type:'close', k, t}    (client closed early)
//      parent → {type:'peak', id}             child → {type:'peak', id, peak} (most replies streaming at once
//                                                                               since the last ask)
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nowMs, sleep } from './clock.ts';
import { parseDirective, requestStampText, stampText, type Directive } from './directive.ts';

interface ChatMessage { role: string; content?: unknown }
interface RequestBody { model?: string; messages?: ChatMessage[]; stream?: boolean; stream_options?: { include_usage?: boolean } }

const textOf = (content: unknown): string => {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((c: { text?: unknown }) => (typeof c?.text === 'string' ? c.text : '')).join('');
  return '';
};

/** The directive of the last user message and how many tool results followed it (steps done). */
function planOf(body: RequestBody): { d: Directive; stepsDone: number } {
  const messages = body.messages ?? [];
  let last = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.role === 'user') { last = i; break; }
  }
  const d = (last >= 0 ? parseDirective(textOf(messages[last]!.content)) : null) ?? parseDirective('bench {}')!;
  const stepsDone = messages.slice(last + 1).filter((m) => m.role === 'tool').length;
  return { d, stepsDone };
}

/** `size` bytes of filler split into deltas of at most 4 KB (a big step streams in pieces, as real ones do). */
function filler(size: number, ch: string): string[] {
  const out: string[] = [];
  for (let left = size; left > 0; left -= 4096) out.push(ch.repeat(Math.min(4096, left)));
  return out;
}

let nextId = 0;
let streaming = 0;
let peakStreaming = 0;

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  const received = nowMs();
  if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error' } }));
    return;
  }
  const body = JSON.parse(raw) as RequestBody;
  if (body.stream !== true) {
    // Titles (the first turn of a chat without one) and summaries: one short answer.
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      id: `chatcmpl-bench${nextId++}`, object: 'chat.completion', created: Math.floor(Date.now() / 1000), model: body.model ?? 'bench',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Bench chat', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
    }));
    return;
  }
  const { d, stepsDone } = planOf(body);
  const id = `chatcmpl-bench${nextId++}`;
  const base = { id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: body.model ?? 'bench', system_fingerprint: 'fp_bench' };
  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
    ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(includeUsage ? { usage: null } : {}),
  });
  let finished = false;
  peakStreaming = Math.max(peakStreaming, ++streaming);
  res.on('close', () => {
    streaming--;
    if (!finished && d.k) process.send?.({ type: 'close', k: d.k, t: nowMs() });
  });
  const closed = () => res.destroyed || res.writableEnded;
  const send = (data: unknown) => {
    if (!closed()) res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  };

  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  send(chunk({ role: 'assistant', content: '', refusal: null }));
  let outputTokens = 0;
  const toolStep = stepsDone < d.tools;
  if (toolStep) {
    // Zero-latency tool step: optional text of `size` bytes, then one write_file call.
    for (const piece of filler(d.size, 's')) { send(chunk({ content: piece })); outputTokens++; }
    const args = JSON.stringify({ path: `step-${stepsDone + 1}.txt`, content: 'a'.repeat(d.size) });
    const third = Math.ceil(args.length / 3);
    send(chunk({ tool_calls: [{ index: 0, id: `call_${id}`, type: 'function', function: { name: 'write_file', arguments: '' } }] }));
    for (let i = 0; i < args.length; i += third) {
      send(chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(i, i + third) } }] }));
      outputTokens++;
    }
  } else {
    const tokens = Math.max(1, d.tokens);
    const pad = d.size > 0 ? 'p'.repeat(Math.max(0, Math.floor(d.size / tokens))) : '';
    for (let i = 0; i < tokens; i++) {
      const wait = i === 0 ? d.first : d.delay;
      if (wait > 0) await sleep(wait);
      if (closed()) return;
      const t = nowMs();
      const stamp = d.stamp ? `${i === 0 ? requestStampText(received) : ''}${stampText(t, streaming)}` : '';
      send(chunk({ content: `${stamp}${pad || (d.stamp ? '' : '.')}` }));
      outputTokens++;
    }
  }
  if (closed()) return;
  send(chunk({}, toolStep ? 'tool_calls' : 'stop'));
  if (includeUsage) {
    send({ ...base, choices: [], usage: { prompt_tokens: 10, completion_tokens: outputTokens, total_tokens: 10 + outputTokens } });
  }
  send('[DONE]');
  finished = true;
  res.end();
}

const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: String(err), type: 'server_error' } }));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('message', (msg: { type?: string; id?: number }) => {
  if (msg?.type === 'ping') process.send?.({ type: 'pong', id: msg.id, now: nowMs() });
  if (msg?.type === 'peak') {
    process.send?.({ type: 'peak', id: msg.id, peak: peakStreaming });
    peakStreaming = streaming;
  }
});
process.on('disconnect', () => process.exit(0));
