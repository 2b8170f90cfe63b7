// The bench's token stamps and which of them a token figure counts (bench/directive.ts, figures/tokens.ts).
import { expect, test } from 'vitest';
import { stampsIn, stampText } from '../directive.ts';
import { countedTokens } from '../figures/tokens.ts';

test('a stamp carries the send time and the replies streaming then, also inside JSON text', () => {
  const text = `${stampText(1764123456789.125, 200)}pad${stampText(5, 1)}`;
  expect(stampsIn(text)).toEqual([{ t: 1764123456789.125, open: 200 }, { t: 5, open: 1 }]);
  expect(stampsIn(JSON.stringify({ part: { type: 'text', text } }))).toEqual(stampsIn(text));
  expect(stampsIn('<t:12.5>')).toEqual([]);
});

test('a level counts the tokens sent while all its chats streamed, or all of them when those are too few', () => {
  const steady = Array.from({ length: 20 }, (_, i) => i);
  const all = [...steady, 100, 200];
  expect(countedTokens({ all, steady }, 2)).toEqual({ latencies: steady, of: '20 tokens sent while all 2 chats streamed' });
  const few = countedTokens({ all, steady }, 3);
  expect(few.latencies).toBe(all);
  expect(few.of).toMatch(/^whole level: too few tokens \(20\)/);
});
