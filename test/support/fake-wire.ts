/**
 * What the fake providers' two wire formats (fake-openai.ts, fake-anthropic.ts) share: the reply
 * context, the SSE writer that applies a script's delays, drops and mid-stream errors, and usage.
 */
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FakeHttpError, FakeReply, FakeRequestBody, FakeUsage } from './fake-script.ts';

export interface ReplyContext {
  res: ServerResponse;
  state: { droppedByUs: boolean };
  script: FakeReply;
  model: string;
  id: number;
  body: FakeRequestBody;
}

/** One provider's wire format, as the fake server answers in it. */
export interface WireFormat {
  /** The response header carrying the request id. */
  requestIdHeader: string;
  /** The provider-format body of an HTTP error. */
  errorBody(e: FakeHttpError, requestId: string): unknown;
  /** Answers a streaming request (SSE). */
  stream(ctx: ReplyContext): Promise<void>;
  /** Answers a non-streaming request (one JSON body). */
  json(ctx: ReplyContext): Promise<void>;
}

// ---- streaming driver shared by both formats ----

/** Writes SSE events, counting content chunks to apply delays, drops and mid-stream errors. */
export class SseWriter {
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
export async function beforeJsonReply({ script, res, state }: ReplyContext): Promise<boolean> {
  if (script.chunkDelayMs) await sleep(script.chunkDelayMs);
  if (script.dropAfterChunks === undefined) return true;
  state.droppedByUs = true;
  res.destroy();
  return false;
}

export function usageOf(script: FakeReply): Required<FakeUsage> {
  const deltas = script.blocks.reduce((n, b) => n + (b.type === 'text' || b.type === 'reasoning' ? b.chunks.length : b.type === 'tool_call' ? b.argsChunks.length : 1), 0);
  return {
    inputTokens: 10, outputTokens: Math.max(1, deltas), cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0,
    ...script.usage,
  };
}

export const hasToolCalls = (s: FakeReply): boolean => s.blocks.some((b) => b.type === 'tool_call');
