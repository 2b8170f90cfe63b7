// `parley dev`'s Temporal: it never attaches to a server it did not start, and it says when its
// server dies.
import net from 'node:net';
import { expect, test } from 'vitest';
import { freePort } from '../../src/dev/ports.ts';
import { startTemporalDevServer } from '../../src/dev/temporal.ts';

test('refuses a port that something else answers on, naming the port and TEMPORAL_ADDRESS', async () => {
  const port = await freePort();
  const squatter = net.createServer().listen(port, '127.0.0.1');
  await new Promise((r) => squatter.once('listening', r));
  try {
    await expect(startTemporalDevServer({ port, headless: true })).rejects.toThrow(
      new RegExp(`port ${port} is already in use.*TEMPORAL_ADDRESS=127\\.0\\.0\\.1:${port}`),
    );
  } finally {
    squatter.close();
  }
});

test('a taken UI port is replaced by a free one and said; a server that dies is reported', async () => {
  const uiPort = await freePort();
  const squatter = net.createServer().listen(uiPort, '127.0.0.1');
  await new Promise((r) => squatter.once('listening', r));
  const notices: string[] = [];
  let died: string | undefined;
  const server = await startTemporalDevServer({ uiPort, onNotice: (m) => notices.push(m), onUnexpectedExit: (how) => { died = how; } });
  squatter.close();
  try {
    expect(server.uiUrl).not.toContain(`:${uiPort}`);
    expect(notices.join('\n')).toMatch(new RegExp(`UI port ${uiPort} is in use`));
    const ui = await fetch(server.uiUrl!);
    expect(ui.status).toBeLessThan(500);
    // What a crash looks like: the server process killed from outside.
    const pid = Number((await import('node:child_process')).execSync(`pgrep -f -- "--port ${server.address.split(':')[1]} "`).toString().trim().split('\n')[0]);
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (died === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(died).toMatch(/SIGKILL/);
  } finally {
    await server.stop();
  }
});
