// Interrupt latency: POST /chats/:id/interrupt during a stream → the provider connection closed
// (seen by the fake), the partial assistant message persisted (`message` event) and the chat idle
// again (`status: waiting`). The figure is the last of the three.
import { randomUUID } from 'node:crypto';
import { nowMs, sleep, within } from '../clock.ts';
import { directiveMessage } from '../directive.ts';
import { brief, figure, type Figure } from '../figure.ts';
import type { Stack } from '../stack.ts';

export async function interruptFigure(stack: Stack): Promise<Figure> {
  const { opts, api, fake } = stack;
  const [chat] = await stack.chats(1);
  const total: number[] = [];
  const parts = { signal: [] as number[], closed: [] as number[], persisted: [] as number[], waiting: [] as number[] };
  stack.log(`interrupt: ${opts.interrupt.runs} interrupts, ${opts.interrupt.streamMs} ms into a stream`);
  for (let r = -1; r < opts.interrupt.runs; r++) {
    const k = `int-${randomUUID()}`;
    const streaming = chat!.stream.next((e) => e.event === 'message_part' && e.data.includes('<t:'));
    const partial = chat!.stream.next((e) => e.event === 'message' && e.data.includes('"role":"assistant"'));
    const ended = chat!.stream.nextStatus('waiting', 'error');
    await api.call('POST', `/chats/${chat!.id}/messages`, { content: directiveMessage({ k, tokens: 1_000_000, delay: 20, stamp: true }) }, chat!.token);
    await within(streaming, 30_000, 'stream to start');
    await sleep(opts.interrupt.streamMs);
    const t0 = nowMs();
    await api.call('POST', `/chats/${chat!.id}/interrupt`, {}, chat!.token);
    const tSignal = nowMs();
    const [tClosed, ePartial, eEnded] = await within(Promise.all([fake.closed(k), partial, ended]), 30_000, 'interrupt to settle');
    if (chat!.stream.status !== 'waiting') throw new Error(`interrupted turn ended in ${chat!.stream.status}`);
    await stack.settled(chat!.id);
    if (r < 0) continue;
    total.push(Math.max(tClosed, ePartial.at, eEnded.at) - t0);
    parts.signal.push(tSignal - t0);
    parts.closed.push(tClosed - t0);
    parts.persisted.push(ePartial.at - t0);
    parts.waiting.push(eEnded.at - t0);
  }
  return figure({
    name: 'interrupt_latency_ms',
    unit: 'ms',
    of: 'interrupts',
    chats: 1,
    samples: total,
    target: '<= 300 p95',
    check: (s) => s.p95 <= 300,
    detail: {
      interrupt_call_ms: brief(parts.signal),
      provider_connection_closed_ms: brief(parts.closed),
      partial_persisted_ms: brief(parts.persisted),
      status_waiting_ms: brief(parts.waiting),
    },
  });
}
