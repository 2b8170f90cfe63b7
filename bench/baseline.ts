// `--baseline=<git rev>`: the Parley to compare against, in the same run. Its source is exported
// (git archive, so the repository's worktrees are left alone) into a temp folder next to ours and
// shares our node_modules; its API and worker processes run from there.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface ParleyTree {
  /** Folder holding src/ of the Parley the stack runs. */
  root: string;
  /** How the report names it. */
  label: string;
}

/**
 * Exports `rev` of the repository at `repoRoot`. It must have the same dependencies and migrations as
 * the working tree: both Parleys share node_modules, and the bench process (plain loop, direct
 * submits) runs the working tree's code against the baseline's database.
 */
export async function exportBaseline(repoRoot: string, rev: string): Promise<ParleyTree & { remove(): Promise<void> }> {
  const git = (...args: string[]) => execFileSync('git', ['-C', repoRoot, ...args], { encoding: 'utf8' }).trim();
  let sha: string;
  try {
    sha = git('rev-parse', '--verify', '--short', `${rev}^{commit}`);
  } catch {
    throw new Error(`--baseline: ${JSON.stringify(rev)} is not a commit of ${repoRoot}`);
  }
  const differs = spawnSync('git', ['-C', repoRoot, 'diff', '--quiet', sha, '--', 'package-lock.json', 'migrations'], { stdio: 'ignore' });
  if (differs.status !== 0) {
    throw new Error(`--baseline: ${rev} (${sha}) has other dependencies or migrations than the working tree; `
      + 'compare two such versions by running `npm run bench` in each checkout instead');
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `parley-baseline-${sha}-`));
  const archive = spawnSync('git', ['-C', repoRoot, 'archive', '--format=tar', sha], { maxBuffer: 512 * 2 ** 20 });
  if (archive.status !== 0) throw new Error(`git archive ${sha} failed: ${archive.stderr.toString()}`);
  execFileSync('tar', ['-x', '-C', dir], { input: archive.stdout });
  await fs.symlink(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'));
  const subject = git('log', '-1', '--format=%s', sha);
  return {
    root: dir,
    label: `${sha} (${subject.length > 60 ? `${subject.slice(0, 57)}...` : subject})`,
    remove: () => fs.rm(dir, { recursive: true, force: true }),
  };
}
