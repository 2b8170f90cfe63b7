// Renders a chat's event stream as terminal text: answer text inline as it streams, reasoning dimmed,
// one line per tool call and per tool result, notices for retries and errors. Pure over events and
// a writable, so it can be tested without a server.
import type { ErrorInfo, Message, MessagePart, StreamPart } from '../shared/types.ts';
import type { ChatStreamEvent } from './events.ts';
import { truncate } from './format.ts';

export interface Output { write(chunk: string): unknown }

export interface RenderOptions {
  /** ANSI styling (dim reasoning, colored notices); off for pipes and NO_COLOR. */
  color: boolean;
}

/** What of a message has been shown, in the shape both its deltas and its stored parts reduce to. */
type Segment =
  | { kind: 'text' | 'reasoning'; text: string }
  | { kind: 'tool_call'; id: string; name: string; args: unknown; shown: boolean }
  | { kind: 'tool_result'; id: string; name: string; result: unknown; isError: boolean; shown: boolean };

interface MessageState { attempt: number; segments: Segment[] }

const STYLE = {
  dim: ['\x1b[2m', '\x1b[22m'],
  red: ['\x1b[31m', '\x1b[39m'],
  yellow: ['\x1b[33m', '\x1b[39m'],
  cyan: ['\x1b[36m', '\x1b[39m'],
  green: ['\x1b[32m', '\x1b[39m'],
} as const;
type Style = keyof typeof STYLE;

const ARGS_MAX = 100;
const RESULT_MAX = 80;

export class Renderer {
  private readonly out: Output;
  private readonly color: boolean;
  private readonly messages = new Map<string, MessageState>();
  /** The inline block being written (text or reasoning of one message); a change starts a new line. */
  private block: { messageId: string; kind: 'text' | 'reasoning' } | null = null;
  private atLineStart = true;

  constructor(out: Output, options: RenderOptions) {
    this.out = out;
    this.color = options.color;
  }

  handle(event: ChatStreamEvent): void {
    switch (event.type) {
      case 'message_part': return this.part(event.data.messageId, event.data.attempt, event.data.part);
      case 'message': return this.message(event.data);
      case 'retry': {
        const { attempt, delayMs, error } = event.data;
        return this.notice(`[${error.message} (retrying in ${formatDelay(delayMs)}, attempt ${attempt})]`, 'yellow');
      }
      case 'error': return this.error(event.data);
      default: return; // status, queue_update and title are the caller's business
    }
  }

  /** A line of its own, e.g. `[interrupting…]`. */
  notice(text: string, style: Style = 'dim'): void {
    this.line(this.paint(style, text));
  }

  error(error: ErrorInfo): void {
    this.line(this.paint('red', `error: ${error.message}`));
  }

  /** Ends the last line, so a shell prompt doesn't follow the answer on the same line. */
  finish(): void {
    if (!this.atLineStart) this.write('\n');
    this.block = null;
  }

  private part(messageId: string, attempt: number, part: StreamPart): void {
    let state = this.messages.get(messageId);
    if (state && attempt < state.attempt) return; // a late delta of an attempt already given up on
    if (state && attempt > state.attempt) {
      // The earlier attempt failed; the retry starts the message over.
      if (state.segments.length > 0) this.notice('[retrying: the partial answer above is void]', 'yellow');
      state = undefined;
    }
    if (!state) {
      state = { attempt, segments: [] };
      this.messages.set(messageId, state);
    }
    const segments = state.segments;
    switch (part.type) {
      case 'text':
      case 'reasoning': {
        if (!part.text) return;
        const last = segments.at(-1);
        if (last?.kind === part.type) last.text += part.text;
        else segments.push({ kind: part.type, text: part.text });
        return this.inline(messageId, part.type, part.text);
      }
      case 'tool_call': {
        let seg = segments.find((s) => s.kind === 'tool_call' && s.id === part.toolCallId) as Extract<Segment, { kind: 'tool_call' }> | undefined;
        if (!seg) segments.push((seg = { kind: 'tool_call', id: part.toolCallId, name: part.name, args: undefined, shown: false }));
        // Shown once the arguments are whole; the argsDelta stream is only JSON being typed.
        if (part.args !== undefined && !seg.shown) {
          seg.args = part.args;
          this.showToolCall(seg);
        }
        return;
      }
      case 'tool_result': {
        if (segments.some((s) => s.kind === 'tool_result' && s.id === part.toolCallId)) return;
        const seg: Segment = { kind: 'tool_result', id: part.toolCallId, name: part.name, result: part.result, isError: part.isError, shown: false };
        segments.push(seg);
        return this.showToolResult(seg);
      }
    }
  }

  /**
   * A stored message: shows whatever its deltas did not (after a reconnect the server replays stored
   * messages, not the deltas they replaced).
   */
  private message(message: Message): void {
    if (message.role !== 'assistant' && message.role !== 'tool') return;
    const stored = segmentsOf(message.parts);
    let state = this.messages.get(message.id);
    if (!state) {
      state = { attempt: 0, segments: [] };
      this.messages.set(message.id, state);
    }
    if (!isPrefix(state.segments, stored)) {
      this.notice('[the stored answer differs from what streamed; here it is in full]', 'yellow');
      state.segments = [];
    }
    for (const [i, seg] of stored.entries()) {
      const have = state.segments[i];
      if (!have) {
        const copy: Segment = { ...seg };
        state.segments.push(copy);
        if (copy.kind === 'tool_call') this.showToolCall(copy);
        else if (copy.kind === 'tool_result') this.showToolResult(copy);
        else this.inline(message.id, copy.kind, copy.text);
      } else if (have.kind === 'text' || have.kind === 'reasoning') {
        const tail = (seg as { text: string }).text.slice(have.text.length);
        have.text += tail;
        if (tail) this.inline(message.id, have.kind, tail);
      } else if (have.kind === 'tool_call' && !have.shown) {
        have.args = (seg as { args: unknown }).args;
        this.showToolCall(have);
      }
    }
  }

  private inline(messageId: string, kind: 'text' | 'reasoning', text: string): void {
    if (this.block?.messageId !== messageId || this.block.kind !== kind) {
      if (!this.atLineStart) this.write('\n');
      this.block = { messageId, kind };
      if (kind === 'reasoning' && !this.color) this.write('[thinking] ');
    }
    this.write(kind === 'reasoning' ? this.paint('dim', text) : text);
  }

  private showToolCall(seg: Extract<Segment, { kind: 'tool_call' }>): void {
    seg.shown = true;
    this.line(this.paint('cyan', `→ ${seg.name}(${summarizeArgs(seg.args)})`));
  }

  private showToolResult(seg: Extract<Segment, { kind: 'tool_result' }>): void {
    seg.shown = true;
    const short = summarizeResult(seg.result);
    const text = `← ${seg.isError ? 'error' : 'ok'}${short ? ` (${short})` : ''}`;
    this.line(this.paint(seg.isError ? 'red' : 'green', text));
  }

  private line(text: string): void {
    if (!this.atLineStart) this.write('\n');
    this.write(text + '\n');
    this.block = null;
  }

  private write(s: string): void {
    if (!s) return;
    this.out.write(s);
    this.atLineStart = s.endsWith('\n');
  }

  private paint(style: Style, s: string): string {
    if (!this.color) return s;
    const [on, off] = STYLE[style];
    return on + s + off;
  }
}

/** Message parts as display segments: adjacent text (or reasoning) merged, as deltas arrive merged. */
function segmentsOf(parts: MessagePart[]): Segment[] {
  const out: Segment[] = [];
  for (const p of parts) {
    if (p.type === 'text' || p.type === 'reasoning') {
      if (!p.text) continue; // e.g. redacted reasoning: nothing to show
      const last = out.at(-1);
      if (last?.kind === p.type) last.text += p.text;
      else out.push({ kind: p.type, text: p.text });
    } else if (p.type === 'tool_call') {
      out.push({ kind: 'tool_call', id: p.toolCallId, name: p.name, args: p.args, shown: false });
    } else {
      out.push({ kind: 'tool_result', id: p.toolCallId, name: p.name, result: p.result, isError: p.isError, shown: false });
    }
  }
  return out;
}

/** Whether what was shown is the beginning of the stored message (so only the rest needs showing). */
function isPrefix(shown: Segment[], stored: Segment[]): boolean {
  if (shown.length > stored.length) return false;
  return shown.every((s, i) => {
    const t = stored[i]!;
    if (s.kind !== t.kind) return false;
    if (s.kind === 'tool_call' || s.kind === 'tool_result') return (t as { id: string }).id === s.id;
    return (t as { text: string }).text.startsWith(s.text);
  });
}

/** `path: "a.txt", limit: 10`: a call's arguments on one line, cut to a readable length. */
export function summarizeArgs(args: unknown): string {
  if (args === undefined || args === null) return '';
  let s: string;
  if (typeof args === 'object' && !Array.isArray(args)) {
    s = Object.entries(args as Record<string, unknown>).map(([k, v]) => `${k}: ${JSON.stringify(v) ?? 'undefined'}`).join(', ');
  } else {
    s = JSON.stringify(args) ?? String(args);
  }
  return truncate(s.replace(/\s+/g, ' '), ARGS_MAX);
}

/** The first words of a tool result, on one line. */
export function summarizeResult(result: unknown): string {
  const s = typeof result === 'string' ? result : JSON.stringify(result) ?? '';
  return truncate(s.replace(/\s+/g, ' ').trim(), RESULT_MAX);
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${Math.max(0, Math.round(ms))} ms` : `${Math.round(ms / 100) / 10} s`;
}
