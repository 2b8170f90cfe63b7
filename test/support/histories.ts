import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { findTemporalCli } from '../../src/dev/temporal.ts';
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import type { Stack } from './stack.ts';

export const historiesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/histories');

/**
 * With PARLEY_RECORD_HISTORIES=1 (`npm run record-histories`), saves the chat workflow's history as a
 * replay fixture, in the JSON an operator gets from `temporal workflow show --output json`.
 * Replaying these in CI makes a workflow change that would break running chats fail the build.
 */
export async function recordHistory(stack: Stack, chatId: string, name: string): Promise<void> {
  if (process.env.PARLEY_RECORD_HISTORIES !== '1') return;
  await stack.waitForWorkflowClosed(chatId);
  const { stdout } = await promisify(execFile)(findTemporalCli(), [
    'workflow', 'show', '--address', stack.config.temporalAddress!, '--workflow-id', chatWorkflowId(chatId), '--output', 'json',
  ], { maxBuffer: 64 * 1024 * 1024 });
  JSON.parse(stdout); // fail loudly on anything but a history
  await fs.mkdir(historiesDir, { recursive: true });
  await fs.writeFile(path.join(historiesDir, `${name}.json`), stdout);
}
