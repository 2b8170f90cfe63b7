// `--profile`: the API and worker processes run with --cpu-prof; after the run each profile is
// summarised by self time per function and per package, skipping the process's startup (the
// worker bundles its workflows then) so only the measured figures count.
import fs from 'node:fs/promises';
import path from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface ProfileSummary {
  file: string;
  seconds: number;
  byPackage: Array<{ name: string; percent: number }>;
  byFunction: Array<{ name: string; percent: number }>;
}

/** Where a frame's code lives: an npm package, a Parley source file, or a V8 pseudo-frame. */
function ownerOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return `parley:${url.slice(src + 1)}`;
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

export async function summarizeProfile(file: string, skipMs: number, top = 15): Promise<ProfileSummary> {
  const p = JSON.parse(await fs.readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fnTime = new Map<string, number>();
  const pkgTime = new Map<string, number>();
  let t = p.startTime;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t - p.startTime < skipMs * 1000) continue;
    const node = byId.get(p.samples[i]!);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    const fn = `${functionName || '(anonymous)'} ${ownerOf(url, functionName)}${url ? `:${lineNumber + 1}` : ''}`;
    fnTime.set(fn, (fnTime.get(fn) ?? 0) + dt);
    const pkg = ownerOf(url, functionName);
    pkgTime.set(pkg, (pkgTime.get(pkg) ?? 0) + dt);
    total += dt;
  }
  const ranked = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([name, us]) => ({ name, percent: Math.round((1000 * us) / total) / 10 }));
  return { file, seconds: Math.round(total / 1e5) / 10, byPackage: ranked(pkgTime), byFunction: ranked(fnTime) };
}

/** Profiles named CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile; `roles` maps pids to names. */
export async function summarizeProfiles(dir: string, roles: Record<number, { name: string; skipMs: number }>): Promise<ProfileSummary[]> {
  const out: ProfileSummary[] = [];
  for (const file of (await fs.readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort()) {
    const [, , , pid, tid] = file.split('.');
    const role = roles[Number(pid)];
    const summary = await summarizeProfile(path.join(dir, file), role?.skipMs ?? 0);
    out.push({ ...summary, file: `${role?.name ?? `pid ${pid}`} thread ${tid} (${file})` });
  }
  return out.filter((s) => s.seconds > 0.05);
}

export function formatProfiles(summaries: ProfileSummary[]): string {
  return summaries.map((s) => [
    `${s.file}: ${s.seconds} s of CPU (non-idle, after startup)`,
    '  by package:  ' + s.byPackage.slice(0, 10).map((p) => `${p.name} ${p.percent}%`).join(', '),
    '  by function (self time):',
    ...s.byFunction.map((f) => `    ${String(f.percent).padStart(5)}%  ${f.name}`),
  ].join('\n')).join('\n\n');
}
