import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { chatWorkflowId } from '../../src/workflows/types.ts';
import type { Stack } from './stack.ts';

export const historiesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/histories');

/**
 * With PARLEY_RECORD_HISTORIES=1 (`npm run record-histories`), saves the chat workflow's history as a
 * replay fixture. Replaying these in CI makes a workflow change that would break running chats fail.
 */
export async function recordHistory(stack: Stack, chatId: string, name: string): Promise<void> {
  if (process.env.PARLEY_RECORD_HISTORIES !== '1') return;
  await stack.waitForWorkflowClosed(chatId);
  const history = await stack.temporal.workflow.getHandle(chatWorkflowId(chatId)).fetchHistory();
  await fs.mkdir(historiesDir, { recursive: true });
  await fs.writeFile(path.join(historiesDir, `${name}.json`), historyToJSON(history) + '\n');
}
