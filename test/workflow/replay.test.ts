import fs from 'node:fs/promises';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { expect, test } from 'vitest';
import { workflowsPath } from '../../src/worker/bundle-workflows.ts';
import { historiesDir } from '../support/histories.ts';

// Histories recorded from real turns (tools, interrupt, retry, ...). If this fails, a workflow
// change is not replay-compatible: running chats would break on deploy. Guard it with patched().
test('recorded workflow histories replay against the current workflow code', async () => {
  const files = (await fs.readdir(historiesDir)).filter((f) => f.endsWith('.json')).sort();
  expect(files.length).toBeGreaterThanOrEqual(4);
  const histories = await Promise.all(files.map(async (f) => ({
    workflowId: f.replace(/\.json$/, ''),
    history: JSON.parse(await fs.readFile(path.join(historiesDir, f), 'utf8')),
  })));
  const results = [];
  for await (const r of Worker.runReplayHistories({ workflowsPath, replayName: 'parley-replay' }, histories)) results.push(r);
  const failures = results.filter((r) => r.error).map((r) => `${r.workflowId}: ${r.error}`);
  expect(failures).toEqual([]);
  expect(results.length).toBe(files.length);
});
