// Where `execute` commands run: inside a bubblewrap sandbox (the default), or, when the operator opts
// out on a single-user machine, directly as the worker's user.
//
// The sandbox is what keeps a member's commands away from everything that is not their chat's
// workspace (docs/SECURITY.md): its own user, PID, mount, IPC, UTS and network namespaces; a read-only
// view of the system directories; the workspace as the only writable place; a /proc that shows only
// the sandbox's processes; no loopback services (unless the deployment shares the host's network);
// an unprivileged user outside it; and resource limits. Ending the sandbox's first process ends its
// PID namespace, so nothing a command starts (setsid, nohup, double forks) outlives the call.
import { spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, parse } from 'node:path';
import { findOnPath } from '../shared/files.ts';

export type SandboxMode = 'bwrap' | 'none';

export interface SandboxSettings {
  mode: SandboxMode;
  /** bubblewrap's binary; unset: `bwrap` on the worker's PATH. */
  bwrapPath: string | undefined;
  /** 'none': the sandbox has only its own loopback; 'host': the host's network (and its loopback services). */
  network: 'none' | 'host';
  /** The user and group commands run as, outside the sandbox. Only a root worker can choose; unset: 65534 (nobody) under root. */
  uid: number | undefined;
  gid: number | undefined;
  /** Extra host paths shown read-only at the same place (toolchains outside /usr, say). */
  roBinds: string[];
  limits: {
    /** Address space per process (RLIMIT_AS). */
    memoryMb: number;
    /** Processes of the sandbox user (RLIMIT_NPROC). */
    maxProcesses: number;
    /** Largest file a command may write (RLIMIT_FSIZE), also the size of the sandbox's /tmp. */
    maxFileMb: number;
    /** CPU time per process (RLIMIT_CPU). */
    cpuSeconds: number;
  };
}

export const defaultSandboxSettings: SandboxSettings = {
  mode: 'bwrap',
  bwrapPath: undefined,
  network: 'none',
  uid: undefined,
  gid: undefined,
  roBinds: [],
  limits: { memoryMb: 4096, maxProcesses: 512, maxFileMb: 1024, cpuSeconds: 600 },
};

/** Where the workspace appears inside the sandbox; commands see it as their cwd and HOME. */
export const SANDBOX_WORKSPACE = '/workspace';

/** A command ready to spawn: the program, its arguments, and the spawn options that matter. */
export interface SandboxedCommand {
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  /** How the command sees the workspace directory (for messages). */
  workspacePath: string;
}

export interface Sandbox {
  readonly settings: SandboxSettings;
  /** The owner a chat's workspace directory and the file tools' new files get; undefined: the worker's own user. */
  readonly owner: { uid: number; gid: number } | undefined;
  /** One line for the start-up log: which mode, and whether it works. */
  describe(): Promise<string>;
  /** Undefined when commands can run; otherwise a message for the model and the operator. */
  unavailable(): Promise<string | undefined>;
  /** How to run `command` in `workspaceDir`. Throws (with `unavailable()`'s message) when it can't. */
  command(workspaceDir: string, command: string): Promise<SandboxedCommand>;
}

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const NOBODY = 65534;

/** Only what commands need: the worker's environment holds secrets (API keys, database URLs). */
export function commandEnv(home: string, path: string): NodeJS.ProcessEnv {
  return {
    PATH: path,
    HOME: home,
    TMPDIR: '/tmp',
    LANG: 'C.UTF-8',
    CI: 'true',
    TERM: 'dumb',
    NO_COLOR: '1',
    PAGER: 'cat',
    GIT_PAGER: 'cat',
    GIT_TERMINAL_PROMPT: '0',
    GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
    DEBIAN_FRONTEND: 'noninteractive',
  };
}

export class SandboxUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxUnavailableError';
  }
}

export function createSandbox(settings: SandboxSettings): Sandbox {
  return settings.mode === 'none' ? unconfined(settings) : bubblewrap(settings);
}

function unconfined(settings: SandboxSettings): Sandbox {
  return {
    settings,
    owner: undefined,
    describe: async () => 'execute: NOT sandboxed (PARLEY_EXECUTE_SANDBOX=none): commands run as the worker\'s own user and can read everything it can; use this only on a single-user machine.',
    unavailable: async () => undefined,
    command: async (workspaceDir, command) => ({
      file: '/bin/sh',
      args: ['-c', command],
      cwd: workspaceDir,
      env: commandEnv(workspaceDir, process.env.PATH || SYSTEM_PATH),
      workspacePath: workspaceDir,
    }),
  };
}

/** System directories shown read-only in the sandbox (missing ones are skipped). */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/opt'];
/**
 * What of /etc the sandbox sees: what programs need to run (the dynamic linker's cache, alternatives
 * that /usr/bin links point into, users and groups, name resolution, certificates, time zones,
 * language runtimes' own config), and nothing an operator may have put there for the server.
 */
const ETC_ENTRIES = /^(alternatives|ld\.so\..*|passwd|group|hosts|host\.conf|resolv\.conf|nsswitch\.conf|gai\.conf|services|protocols|ssl|ca-certificates.*|pki|localtime|timezone|zoneinfo|mime\.types|magic.*|os-release|debian_version|lsb-release|issue|environment|profile|bash\.bashrc|inputrc|gitconfig|python3.*|perl|java.*|npmrc|pip\.conf|xdg|fonts|terminfo|selinux|subuid|subgid|login\.defs|shells|mtab)$/;

function bubblewrap(settings: SandboxSettings): Sandbox {
  const root = process.getuid?.() === 0;
  // A root worker hands commands to an unprivileged user; any other worker can only run them as itself.
  const owner = root ? { uid: settings.uid ?? NOBODY, gid: settings.gid ?? settings.uid ?? NOBODY } : undefined;
  let probe: Promise<string | undefined> | undefined;
  let fixedArgs: Promise<string[]> | undefined;

  const bwrapPath = (): string => {
    // Relative PATH entries are skipped: they would resolve against whatever the worker's cwd is.
    const found = settings.bwrapPath ?? findOnPath('bwrap', (dir) => !isAbsolute(dir), process.env.PATH ?? SYSTEM_PATH);
    if (found === undefined) throw new SandboxUnavailableError('bubblewrap (bwrap) is not installed on the worker');
    return found;
  };

  const argsFor = async (): Promise<string[]> => {
    const { limits } = settings;
    const args = [
      // Limits are set by prlimit, which then execs bwrap: they hold for bwrap and everything under it.
      `--as=${limits.memoryMb * 1024 * 1024}`,
      `--nproc=${limits.maxProcesses}`,
      `--fsize=${limits.maxFileMb * 1024 * 1024}`,
      `--cpu=${limits.cpuSeconds}`,
      '--core=0',
      '--', bwrapPath(),
      '--unshare-all', '--unshare-user', '--disable-userns',
      ...(settings.network === 'host' ? ['--share-net'] : []),
      '--die-with-parent', '--new-session', '--hostname', 'parley-sandbox',
    ];
    for (const dir of SYSTEM_DIRS) args.push('--ro-bind-try', dir, dir);
    const etc = await readdir('/etc').catch(() => [] as string[]);
    for (const name of etc.filter((n) => ETC_ENTRIES.test(n)).sort()) args.push('--ro-bind-try', `/etc/${name}`, `/etc/${name}`);
    for (const p of settings.roBinds) args.push('--ro-bind-try', p, p);
    args.push(
      '--proc', '/proc', '--dev', '/dev',
      '--size', String(limits.maxFileMb * 1024 * 1024), '--tmpfs', '/tmp',
      '--symlink', '/tmp', '/var/tmp',
    );
    return args;
  };

  const build = async (bindArgs: string[], command: string): Promise<SandboxedCommand> => {
    // Not kept when it failed (bwrap not found): the operator may install it while the worker runs.
    fixedArgs ??= argsFor().catch((err: unknown) => {
      fixedArgs = undefined;
      throw err;
    });
    return {
      file: 'prlimit',
      // The sandbox's own root (a tmpfs holding the mount points) goes read-only after the last mount.
      args: [...(await fixedArgs), ...bindArgs, '--remount-ro', '/', '--chdir', SANDBOX_WORKSPACE, '--', '/bin/sh', '-c', command],
      cwd: '/',
      // bwrap's own environment is what /proc/1/environ shows inside, so it gets only the command's.
      env: commandEnv(SANDBOX_WORKSPACE, SYSTEM_PATH),
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
      workspacePath: SANDBOX_WORKSPACE,
    };
  };

  const runProbe = async (): Promise<string | undefined> => {
    try {
      const cmd = await build(['--tmpfs', SANDBOX_WORKSPACE], 'echo ok');
      const { code, output } = await runQuietly(cmd);
      if (code === 0 && output.trim() === 'ok') return undefined;
      return `bubblewrap could not start a sandbox: ${output.trim().split('\n').slice(-2).join(' ') || `exit code ${code}`}`;
    } catch (err) {
      if (err instanceof SandboxUnavailableError) return err.message;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'prlimit (util-linux), which sets the sandbox\'s limits, is not installed on the worker';
      return `bubblewrap could not start a sandbox: ${(err as Error).message}`;
    }
  };

  const unavailable = async (): Promise<string | undefined> => {
    probe ??= runProbe();
    const problem = await probe;
    // A failed probe is tried again on the next call: the operator may install bubblewrap meanwhile.
    if (problem !== undefined) probe = undefined;
    return problem === undefined ? undefined : refusal(problem);
  };

  return {
    settings,
    owner,
    unavailable,
    describe: async () => {
      const problem = await unavailable();
      if (problem !== undefined) return `execute: DISABLED. ${problem}`;
      const who = owner ? `as uid ${owner.uid}` : 'as the worker\'s user';
      return `execute: sandboxed with bubblewrap ${who}, network ${settings.network === 'host' ? 'shared with the host' : 'off'}, ` +
        `limits ${settings.limits.memoryMb} MB memory, ${settings.limits.maxProcesses} processes, ${settings.limits.maxFileMb} MB files, ${settings.limits.cpuSeconds} s CPU.`;
    },
    command: async (workspaceDir, command) => {
      const problem = await unavailable();
      if (problem !== undefined) throw new SandboxUnavailableError(problem);
      if (owner) await checkReachable(workspaceDir, owner);
      return build(['--bind', workspaceDir, SANDBOX_WORKSPACE], command);
    },
  };
}

const refusal = (problem: string): string =>
  `The execute tool is unavailable on this server: ${problem}. Commands only run inside a sandbox. ` +
  'The operator can install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; see docs/SECURITY.md), ' +
  'or, on a single-user machine only, set PARLEY_EXECUTE_SANDBOX=none.';

/**
 * bwrap runs as the sandbox user, so that user needs search permission on every directory above the
 * workspace. A root-only parent (a 0700 home or temp dir) would otherwise fail with a bare EACCES.
 */
async function checkReachable(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  for (let d = dirname(dir); ; d = dirname(d)) {
    const st = await stat(d);
    const ok = (st.mode & 0o001) !== 0 || (st.uid === owner.uid && (st.mode & 0o100) !== 0) || (st.gid === owner.gid && (st.mode & 0o010) !== 0);
    if (!ok) {
      throw new SandboxUnavailableError(
        `The sandbox user (uid ${owner.uid}) cannot reach the workspace: ${d} is not searchable for it (mode ${(st.mode & 0o777).toString(8)}). ` +
        'The operator should set PARLEY_WORKSPACES_DIR to a directory whose parents others may enter (e.g. /var/lib/parley-workspaces), or chmod o+x that directory.');
    }
    if (d === parse(d).root) return;
  }
}

function runQuietly(cmd: SandboxedCommand): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.file, cmd.args, {
      cwd: cmd.cwd, env: cmd.env, stdio: ['ignore', 'pipe', 'pipe'],
      ...(cmd.uid !== undefined ? { uid: cmd.uid, gid: cmd.gid } : {}),
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => { output += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { output += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, output }); });
  });
}
