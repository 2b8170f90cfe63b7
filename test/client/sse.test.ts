import { describe, expect, test } from 'vitest';
import { SseParser, type SseEvent } from '../../src/cli/sse.ts';

function collect(chunks: Array<string | Uint8Array>, end = true) {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const parser = new SseParser({ onEvent: (e) => events.push(e), onComment: (c) => comments.push(c) });
  for (const c of chunks) parser.push(c);
  if (end) parser.end();
  return { events, comments, parser };
}

const STREAM = [
  ': keep-alive',
  'event: status',
  'data: {"status":"running"}',
  '',
  'id: 7',
  'event: message_part',
  'data: {"text":"héllo 🙂"}',
  '',
  ': another comment',
  'id: 8',
  '',
  'data: line one',
  'data:line two',
  'data',
  '',
  'id: 9',
  'event: title',
  'data: {"title":"t"}',
  '',
].join('\n') + '\n';

const EXPECTED: SseEvent[] = [
  { event: 'status', data: '{"status":"running"}', lastEventId: '' },
  { event: 'message_part', data: '{"text":"héllo 🙂"}', id: '7', lastEventId: '7' },
  { event: 'message', data: 'line one\nline two\n', lastEventId: '8' },
  { event: 'title', data: '{"title":"t"}', id: '9', lastEventId: '9' },
];

describe('SseParser', () => {
  test('parses events, ids, comments and multi-line data', () => {
    const { events, comments, parser } = collect([STREAM]);
    expect(events).toEqual(EXPECTED);
    expect(comments).toEqual(['keep-alive', 'another comment']);
    expect(parser.lastEventId).toBe('9');
  });

  test('the same events whatever the chunk boundaries (split at every position)', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      const { events } = collect([STREAM.slice(0, i), STREAM.slice(i)]);
      expect(events, `split at ${i}`).toEqual(EXPECTED);
    }
  });

  test('byte by byte, splitting multi-byte UTF-8 characters', () => {
    const bytes = new TextEncoder().encode(STREAM);
    const { events } = collect(Array.from(bytes, (b) => Uint8Array.of(b)));
    expect(events).toEqual(EXPECTED);
  });

  test('CRLF and bare CR line endings, also split between CR and LF', () => {
    for (const eol of ['\r\n', '\r']) {
      const stream = STREAM.replaceAll('\n', eol);
      for (let i = 0; i <= stream.length; i++) {
        const { events } = collect([stream.slice(0, i), stream.slice(i)]);
        expect(events, `${JSON.stringify(eol)} split at ${i}`).toEqual(EXPECTED);
      }
      // Three-way splits around each CR catch a LF that arrives in a chunk of its own.
      const { events } = collect(stream.split(/(?=\n)|(?<=\r)/));
      expect(events).toEqual(EXPECTED);
    }
  });

  test('a half-received block is neither dispatched nor moves lastEventId', () => {
    const { events, parser } = collect(['id: 3\nevent: message\ndata: {}\n\nid: 4\nevent: message_part\ndata: {"x":'], false);
    expect(events.map((e) => e.id)).toEqual(['3']);
    expect(parser.lastEventId).toBe('3');
    parser.end();
    expect(events).toHaveLength(1);
    expect(parser.lastEventId).toBe('3');
  });

  test('an id-only block moves lastEventId without an event; the id persists to later events', () => {
    const { events, parser } = collect(['id: 41\n\ndata: x\n\n']);
    expect(parser.lastEventId).toBe('41');
    expect(events).toEqual([{ event: 'message', data: 'x', lastEventId: '41' }]);
  });

  test('starts from a previous connection\'s lastEventId', () => {
    const events: SseEvent[] = [];
    const parser = new SseParser({ onEvent: (e) => events.push(e) }, '12');
    parser.push('event: status\ndata: {}\n\n');
    expect(events[0]).toEqual({ event: 'status', data: '{}', lastEventId: '12' });
    expect(parser.lastEventId).toBe('12');
  });

  test('field details: one leading space stripped, BOM, retry, unknown fields, id with NUL ignored', () => {
    const { events, parser } = collect(['\uFEFFdata:  two spaces\nfoo: bar\nretry: 1500\n\nid: a\0b\ndata: y\n\n']);
    expect(events).toEqual([
      { event: 'message', data: ' two spaces', lastEventId: '' },
      { event: 'message', data: 'y', lastEventId: '' },
    ]);
    expect(parser.retryMs).toBe(1500);
  });

  test('blank lines without fields dispatch nothing', () => {
    expect(collect(['\n\n\r\n: c\n\n']).events).toEqual([]);
  });
});
