import { describe, expect, test } from 'vitest';
import type { ChatStreamEvent } from '../../src/cli/events.ts';
import { followTurn, TurnTracker } from '../../src/cli/follow.ts';
import { Renderer, summarizeArgs } from '../../src/cli/render.ts';
import type { Message, MessagePart, StreamPart } from '../../src/shared/types.ts';

const CHAT = '00000000-0000-4000-8000-000000000000';
const M1 = '11111111-1111-4111-8111-111111111111';
const M2 = '22222222-2222-4222-8222-222222222222';
const USER = '33333333-3333-4333-8333-333333333333';

let nextId = 1;
const part = (messageId: string, p: StreamPart, attempt = 1): ChatStreamEvent =>
  ({ id: nextId++, type: 'message_part', data: { messageId, attempt, part: p } });
const text = (messageId: string, t: string, attempt = 1) => part(messageId, { type: 'text', text: t }, attempt);
const message = (id: string, role: Message['role'], parts: MessagePart[]): ChatStreamEvent =>
  ({ id: nextId++, type: 'message', data: { id, chatId: CHAT, role, parts, createdAt: new Date(0).toISOString() } });
const status = (s: 'pending' | 'running' | 'waiting' | 'error', id: number | null = nextId++, lastError: unknown = null): ChatStreamEvent =>
  ({ id, type: 'status', data: { status: s, lastError } } as ChatStreamEvent);

function render(events: ChatStreamEvent[], color = false): string {
  let out = '';
  const r = new Renderer({ write: (s: string) => { out += s; } }, { color });
  for (const e of events) r.handle(e);
  r.finish();
  return out;
}

describe('Renderer', () => {
  test('text deltas inline; reasoning labelled (plain) on its own line', () => {
    const out = render([
      part(M1, { type: 'reasoning', text: 'Let me ' }),
      part(M1, { type: 'reasoning', text: 'think.' }),
      text(M1, 'Hel'),
      text(M1, 'lo '),
      text(M1, 'world'),
    ]);
    expect(out).toBe('[thinking] Let me think.\nHello world\n');
  });

  test('reasoning is dimmed with color on, text is not', () => {
    const out = render([part(M1, { type: 'reasoning', text: 'hmm' }), text(M1, 'Answer')], true);
    expect(out).toBe('\x1b[2mhmm\x1b[22m\nAnswer\n');
  });

  test('tool calls: one line once the args are whole; results ok/error; stored messages add nothing twice', () => {
    const callParts: StreamPart[] = [
      { type: 'tool_call', toolCallId: 'c1', name: 'read_file', argsDelta: '' },
      { type: 'tool_call', toolCallId: 'c1', name: 'read_file', argsDelta: '{"path":' },
      { type: 'tool_call', toolCallId: 'c1', name: 'read_file', argsDelta: '"a.txt"}' },
      { type: 'tool_call', toolCallId: 'c1', name: 'read_file', args: { path: 'a.txt' } },
    ];
    const result = { type: 'tool_result' as const, toolCallId: 'c1', name: 'read_file', result: 'line one\nline two', isError: false };
    const out = render([
      text(M1, 'Reading it.'),
      ...callParts.map((p) => part(M1, p)),
      message(M1, 'assistant', [{ type: 'text', text: 'Reading it.' }, { type: 'tool_call', toolCallId: 'c1', name: 'read_file', args: { path: 'a.txt' } }]),
      part(M2, result),
      message(M2, 'tool', [result]),
      part('44444444-4444-4444-8444-444444444444', { type: 'tool_result', toolCallId: 'c2', name: 'execute', result: 'exit 1: boom', isError: true }),
      text('55555555-5555-4555-8555-555555555555', 'Done.'),
    ]);
    expect(out).toBe([
      'Reading it.',
      '→ read_file(path: "a.txt")',
      '← ok (line one line two)',
      '← error (exit 1: boom)',
      'Done.',
      '',
    ].join('\n'));
  });

  test('a higher attempt voids the earlier one: notice, start over, late deltas of the old attempt ignored', () => {
    const out = render([
      text(M1, 'Hel', 1),
      { id: nextId++, type: 'retry', data: { attempt: 2, delayMs: 2000, error: { message: 'Overloaded', kind: 'overloaded', retryable: true }, retryingAt: new Date().toISOString() } },
      text(M1, 'Hello', 2),
      text(M1, 'STALE', 1),
      text(M1, ' there', 2),
      message(M1, 'assistant', [{ type: 'text', text: 'Hello there' }]),
    ]);
    expect(out).toBe('Hel\n[Overloaded (retrying in 2 s, attempt 2)]\n[retrying: the partial answer above is void]\nHello there\n');
  });

  test('error events are shown in red', () => {
    const out = render([
      text(M1, 'partial'),
      { id: nextId++, type: 'error', data: { message: 'Invalid API key', kind: 'auth', retryable: false } },
    ], true);
    expect(out).toBe('partial\n\x1b[31merror: Invalid API key\x1b[39m\n');
  });

  test('a stored message shows what its deltas did not (after a reconnect the log has no deltas)', () => {
    expect(render([
      message(USER, 'user', [{ type: 'text', text: 'hi' }]),
      message(M1, 'assistant', [{ type: 'reasoning', text: 'hmm' }, { type: 'text', text: 'Full answer' }, { type: 'tool_call', toolCallId: 'c9', name: 'execute', args: { command: 'ls' } }]),
    ])).toBe('[thinking] hmm\nFull answer\n→ execute(command: "ls")\n');

    expect(render([text(M1, 'Full '), message(M1, 'assistant', [{ type: 'text', text: 'Full answer' }])])).toBe('Full answer\n');
  });

  test('a stored message that contradicts the stream is shown in full after a notice', () => {
    expect(render([text(M1, 'Draft'), message(M1, 'assistant', [{ type: 'text', text: 'Final' }])]))
      .toBe('Draft\n[the stored answer differs from what streamed; here it is in full]\nFinal\n');
  });

  test('summarizeArgs keeps one short line', () => {
    expect(summarizeArgs({ a: 1, b: 'x\ny' })).toBe('a: 1, b: "x\\ny"');
    expect(summarizeArgs({ long: 'z'.repeat(500) })).toHaveLength(100);
    expect(summarizeArgs(undefined)).toBe('');
  });
});

async function* of(events: ChatStreamEvent[]) {
  yield* events;
}

function follow(events: ChatStreamEvent[], tracker: TurnTracker) {
  let out = '';
  const renderer = new Renderer({ write: (s: string) => { out += s; } }, { color: false });
  return followTurn(of(events), renderer, tracker).then((settled) => ({ settled, out }));
}

describe('followTurn', () => {
  test('settles at the first logged idle status after our message; the snapshot status does not count', async () => {
    const { settled, out } = await follow([
      status('waiting', null), // connection snapshot
      status('waiting'), // an earlier turn settling
      status('pending'),
      message(USER, 'user', [{ type: 'text', text: 'hi' }]),
      status('running'),
      status('waiting', null), // a reconnect's snapshot, ahead of the replay
      text(M1, 'Hi there'),
      status('waiting'),
      text(M2, 'never read'),
    ], new TurnTracker({ messageId: USER }));
    expect(settled).toEqual({ status: 'waiting', lastError: null });
    expect(out).toBe('Hi there\n');
  });

  test('an error status shows its lastError unless an error event already did', async () => {
    const err = { message: 'quota exceeded', kind: 'quota', retryable: false };
    const a = await follow([message(USER, 'user', []), status('error', nextId++, err)], new TurnTracker({ messageId: USER }));
    expect(a.settled?.status).toBe('error');
    expect(a.out).toBe('error: quota exceeded\n');
    const b = await follow([message(USER, 'user', []), { id: nextId++, type: 'error', data: err }, status('error', nextId++, err)], new TurnTracker({ messageId: USER }));
    expect(b.out).toBe('error: quota exceeded\n');
  });

  test('a queued message: settles only after it left the queue and the chat went idle', async () => {
    const Q = '66666666-6666-4666-8666-666666666666';
    const queued = { id: Q, chatId: CHAT, content: 'next', createdAt: new Date(0).toISOString() };
    const other = { ...queued, id: '77777777-7777-4777-8777-777777777777' };
    const { settled, out } = await follow([
      { id: nextId++, type: 'queue_update', data: { queue: [other] } }, // before ours was queued
      status('waiting'),
      { id: nextId++, type: 'queue_update', data: { queue: [other, queued] } },
      text(M1, 'current turn. '),
      { id: nextId++, type: 'queue_update', data: { queue: [queued] } },
      status('running'),
      { id: nextId++, type: 'queue_update', data: { queue: [] } },
      status('running'),
      text(M2, 'our answer'),
      status('waiting'),
    ], new TurnTracker({ queuedId: Q }));
    expect(settled?.status).toBe('waiting');
    expect(out).toBe('current turn. \nour answer\n');
  });

  test('returns null when the stream ends before the turn settles', async () => {
    const { settled } = await follow([status('running', null)], new TurnTracker({ messageId: USER }));
    expect(settled).toBeNull();
  });
});
