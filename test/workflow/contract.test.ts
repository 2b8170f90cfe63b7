// The workflow contract names what clients call: it must match the workflow code it names.
import fs from 'node:fs/promises';
import { expect, test } from 'vitest';
import { CHAT_WORKFLOW_TYPE, interruptSignal, stateQuery, wakeSignal } from '../../src/workflows/contract.ts';

test('the workflow type, signals and query of the contract are the ones the workflow defines and operators use', async () => {
  const source = await fs.readFile(new URL('../../src/workflows/chat.ts', import.meta.url), 'utf8');
  expect(source).toContain(`export async function ${CHAT_WORKFLOW_TYPE}(`);
  const index = await fs.readFile(new URL('../../src/workflows/index.ts', import.meta.url), 'utf8');
  expect(index).toMatch(/chatWorkflow/);
  // `temporal workflow signal --name interrupt` and the recorded histories use these names.
  expect([interruptSignal.name, wakeSignal.name, stateQuery.name]).toEqual(['interrupt', 'wake', 'state']);
});
