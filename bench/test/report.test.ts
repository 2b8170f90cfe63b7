// The bench's --pairs option and the table that compares several baseline/working-tree pairs.
import { expect, test } from 'vitest';
import type { Figure } from '../figure.ts';
import { parseOptions } from '../options.ts';
import { pairedComparisonTable } from '../report.ts';

const fig = (name: string, median: number): Figure => ({
  name, unit: name === 'turns_per_second' ? 'turns/s' : 'ms', median, p99: median, p95: median, n: 1, of: 'runs', chats: 1, target: '-', met: null,
});
const half = (parley: string, figures: Figure[]) => ({ parley, duration_s: 1, figures, failures: [] });

test('--pairs repeats a --baseline comparison and is refused without one or out of range', () => {
  expect(parseOptions(['--ci', '--baseline=HEAD~1', '--pairs=3']).pairs).toBe(3);
  expect(parseOptions(['--ci']).pairs).toBe(1);
  expect(() => parseOptions(['--ci', '--pairs=2'])).toThrow(/--pairs needs --baseline/);
  expect(() => parseOptions(['--ci', '--baseline=HEAD', '--pairs=0'])).toThrow(/whole number from 1 to 10/);
  expect(() => parseOptions(['--ci', '--baseline=HEAD', '--pairs=two'])).toThrow(/whole number from 1 to 10/);
});

test('several pairs: medians over pairs, each pair\'s change, and how often the working tree did better', () => {
  const table = pairedComparisonTable([
    { before: half('old', [fig('token_latency_ms_c1', 10), fig('turns_per_second', 40)]), after: half('new', [fig('token_latency_ms_c1', 8), fig('turns_per_second', 44)]) },
    { before: half('old', [fig('token_latency_ms_c1', 12), fig('turns_per_second', 42)]), after: half('new', [fig('token_latency_ms_c1', 13), fig('turns_per_second', 41)]) },
    { before: half('old', [fig('token_latency_ms_c1', 11), fig('turns_per_second', 38)]), after: half('new', [fig('token_latency_ms_c1', 9), fig('turns_per_second', 39)]) },
  ]);
  const lines = table.split('\n');
  expect(lines[0]).toMatch(/^Medians over 3 pairs, halves alternating .* before: old; after: new$/);
  // Lower is better for latency (2 of 3 pairs), higher for throughput (2 of 3).
  expect(lines.find((l) => l.startsWith('token_latency_ms_c1'))!.split(/\s{2,}/)).toEqual(['token_latency_ms_c1', 'ms', '11', '9', '-18%', '-20% +8% -18%', '2/3']);
  expect(lines.find((l) => l.startsWith('turns_per_second'))!.split(/\s{2,}/)).toEqual(['turns_per_second', 'turns/s', '40', '41', '+3%', '+10% -2% +3%', '2/3']);
});
