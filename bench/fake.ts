// The bench's handle on the fake provider process: its URL, its clock offset, and the early
// client closes it reports (the provider connection an interrupt must close).
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childOf, type Child } from './procs.ts';
import { nowMs } from './clock.ts';

export interface FakeLlm {
  child: Child;
  /** OpenAI SDK baseURL. */
  baseUrl: string;
  /** Fake clock minus ours, in ms: subtract from the fake's stamps. */
  offsetMs: number;
  /** Round-trip of the best calibration ping, an upper bound on the offset error. */
  calibrationRttMs: number;
  /** Resolves with the (our clock) time the fake saw the client close the reply of run `k`. */
  closed(k: string): Promise<number>;
  /** The most replies the fake streamed at once since the last call: shows a level's chats really streamed together. */
  peakStreams(): Promise<number>;
}

const here = path.dirname(fileURLToPath(import.meta.url));

export async function startFakeLlm(): Promise<FakeLlm> {
  const proc: ChildProcess = fork(path.join(here, 'fake-llm.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const closes = new Map<string, number>();
  const closeWaiters = new Map<string, (t: number) => void>();
  const pongs = new Map<number, (now: number) => void>();
  const peaks = new Map<number, (peak: number) => void>();
  let nextPeakId = 0;
  let offsetMs = 0;
  const port = await new Promise<number>((resolve, reject) => {
    proc.on('message', (msg: { type: string; port?: number; k?: string; t?: number; id?: number; now?: number; peak?: number }) => {
      if (msg.type === 'ready') resolve(msg.port!);
      else if (msg.type === 'pong') pongs.get(msg.id!)?.(msg.now!);
      else if (msg.type === 'peak') { peaks.get(msg.id!)?.(msg.peak!); peaks.delete(msg.id!); }
      else if (msg.type === 'close') {
        const t = msg.t! - offsetMs;
        closes.set(msg.k!, t);
        closeWaiters.get(msg.k!)?.(t);
      }
    });
    proc.once('exit', (code) => reject(new Error(`fake provider exited with ${code}`)));
  });

  // NTP-style: the ping with the smallest round trip bounds the offset best.
  let best = { rtt: Infinity, offset: 0 };
  for (let id = 0; id < 50; id++) {
    const sent = nowMs();
    const theirs = await new Promise<number>((resolve) => { pongs.set(id, resolve); proc.send({ type: 'ping', id }); });
    const back = nowMs();
    pongs.delete(id);
    if (back - sent < best.rtt) best = { rtt: back - sent, offset: theirs - (sent + back) / 2 };
  }
  offsetMs = best.offset;

  return {
    child: childOf('fake-llm', proc, () => ''),
    baseUrl: `http://127.0.0.1:${port}/v1`,
    offsetMs,
    calibrationRttMs: best.rtt,
    peakStreams() {
      const id = nextPeakId++;
      return new Promise((resolve) => { peaks.set(id, resolve); proc.send({ type: 'peak', id }); });
    },
    closed(k) {
      const t = closes.get(k);
      if (t !== undefined) return Promise.resolve(t);
      return new Promise((resolve) => closeWaiters.set(k, resolve));
    },
  };
}
