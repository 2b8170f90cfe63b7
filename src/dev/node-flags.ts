// The node flags Parley ships with, as bin/parley.js's shebang passes them (its comment says why).
// The bench starts its processes with them; a test checks the Dockerfile and `npm start` agree.
import fs from 'node:fs/promises';
import path from 'node:path';

export async function shippedNodeFlags(treeRoot: string): Promise<string[]> {
  const shebang = (await fs.readFile(path.join(treeRoot, 'bin/parley.js'), 'utf8')).split('\n', 1)[0]!;
  return shebang.replace(/^#!\/usr\/bin\/env\s+(-S\s+)?node\s*/, '').split(/\s+/).filter(Boolean);
}
