// Parley's node flags (see bin/parley.js) are written in three places; they must not drift apart, or
// the Docker image, `npm start` and the installed `parley` command would run differently.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { shippedNodeFlags } from '../../src/dev/node-flags.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => fs.readFile(path.join(root, file), 'utf8');

test('bin/parley.js, the Dockerfile and npm start pass the same node flags', async () => {
  const flags = await shippedNodeFlags(root);
  expect(flags).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=25']);

  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(await read('Dockerfile'))?.[1];
  const args = JSON.parse(entrypoint!) as string[];
  expect(args.slice(args.indexOf('node') + 1, args.indexOf('bin/parley.js'))).toEqual(flags);

  const start = (JSON.parse(await read('package.json')) as { scripts: Record<string, string> }).scripts.start!;
  expect(start).toBe(`node ${flags.join(' ')} src/cli.ts dev`);
});
