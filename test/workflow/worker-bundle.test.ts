import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, inject, test } from 'vitest';
import { startWorker } from '../../src/worker/worker.ts';
import { bundleWorkflowsInChild } from '../../src/worker/bundle-workflows.ts';
import { reply, text } from '../support/fake-providers.ts';
import { startStack } from '../support/stack.ts';

function parley(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/parley.js', ...args], (err, stdout, stderr) =>
      resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stdout, stderr }));
  });
}

test('`parley bundle-workflows` builds a bundle that a worker loads through PARLEY_WORKFLOW_BUNDLE', async () => {
  const file = path.join(inject('tmpRoot'), 'bundles', 'workflows.js');
  const built = await parley(['bundle-workflows', file]);
  expect(built.stderr).toBe('');
  expect(built.code).toBe(0);
  expect(await fs.readFile(file, 'utf8')).toContain('chatWorkflow');

  const stack = await startStack({ workers: 0, env: { PARLEY_WORKFLOW_BUNDLE: file } });
  try {
    expect(stack.config.workflowBundlePath).toBe(file);
    stack.workers.push(await startWorker(stack.services));
    const { modelId } = await stack.setupModel('openai');
    stack.fake.enqueue('openai', reply(text('from the prebuilt bundle')));
    const created = await stack.http('POST', '/api/v1/chats', { content: 'hi', modelId });
    await stack.waitForStatus(created.body.chat.id, 'waiting');
    const { body } = await stack.http('GET', `/api/v1/chats/${created.body.chat.id}/messages`);
    expect(body.messages.at(-1).parts).toEqual([{ type: 'text', text: 'from the prebuilt bundle' }]);
  } finally {
    await stack.close();
  }
});

test('`parley bundle-workflows` without a file prints its usage', async () => {
  const r = await parley(['bundle-workflows']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('Usage: parley bundle-workflows <file>');
});

test('the worker bundles in a child process that is gone once the bundle is back', async () => {
  const bundle = await bundleWorkflowsInChild();
  expect(bundle.code).toContain('chatWorkflow');
});

test('workflow code that fails to bundle rejects with webpack\'s report, not a hang', async () => {
  const dir = await fs.mkdtemp(path.join(inject('tmpRoot'), 'broken-workflows-'));
  const broken = path.join(dir, 'index.ts');
  await fs.writeFile(broken, "export { chatWorkflow } from './no-such-module.ts';\n");
  const err: Error = await bundleWorkflowsInChild(broken).then(() => { throw new Error('bundled'); }, (e: Error) => e);
  expect(err.message).toContain(`Bundling the workflow code (${broken}) failed`);
  expect(err.message).toContain('no-such-module.ts');
});

test('a bundler process that dies before answering rejects with its exit and output', async () => {
  const before = process.env.NODE_OPTIONS;
  // The child inherits the environment: this makes it fail before it can bundle anything.
  process.env.NODE_OPTIONS = '--require=/nonexistent/preload.cjs';
  try {
    await expect(bundleWorkflowsInChild()).rejects.toThrow(/ended with exit code 1 and no bundle:[\s\S]*\/nonexistent\/preload\.cjs/);
  } finally {
    if (before === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = before;
  }
});
