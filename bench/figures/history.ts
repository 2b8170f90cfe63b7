// Workflow history growth per step with small (100 B) and large (100 KB) messages: every message
// (user text, each step's text and tool arguments, the answer) has that size. Per step =
// (history added by a K-step turn - history added by a 1-step turn) / (K - 1), in the server's
// own accounting (DescribeWorkflowExecution historySizeBytes). A turn's growth is measured on the
// run it ran in: a follow-up joins the run that waits in its idle window.
import { chatWorkflowId } from '../../src/workflows/contract.ts';
import { figure, type Figure } from '../figure.ts';
import type { BenchChat, Stack } from '../stack.ts';

async function historyOfTurn(stack: Stack, chat: BenchChat, steps: number, size: number): Promise<{ bytes: number; events: number }> {
  const handle = stack.temporal.workflow.getHandle(chatWorkflowId(chat.id));
  const current = async () => {
    const d = await handle.describe();
    return { runId: d.runId, bytes: Number(d.raw.workflowExecutionInfo?.historySizeBytes ?? Number.NaN), events: d.historyLength };
  };
  await stack.settled(chat.id);
  const before = await current();
  const r = await stack.turn(chat, { tools: steps - 1, tokens: size > 4096 ? 25 : 1, size });
  if (r.status !== 'waiting') throw new Error(`history turn ended in ${r.status}`);
  await stack.settled(chat.id);
  const after = await current();
  // A closed run's successor starts from nothing.
  return after.runId === before.runId
    ? { bytes: after.bytes - before.bytes, events: after.events - before.events }
    : after;
}

export async function historyFigures(stack: Stack): Promise<Figure[]> {
  const { opts } = stack;
  const K = opts.history.steps;
  const out: Figure[] = [];
  for (const [label, size] of [['small', 100], ['large', 100_000]] as const) {
    stack.log(`history: ${label} (${size} B messages), 1-step vs ${K}-step turns`);
    const perStep: number[] = [];
    const totals: number[] = [];
    const events: number[] = [];
    // A fresh chat per run: the workflow does not see message sizes, but the prompt the fake gets does.
    for (const chat of await stack.chats(opts.history.runs)) {
      const one = await historyOfTurn(stack, chat, 1, size);
      const many = await historyOfTurn(stack, chat, K, size);
      perStep.push((many.bytes - one.bytes) / (K - 1));
      totals.push(many.bytes);
      events.push(many.events);
    }
    out.push(figure({
      name: `history_bytes_per_step_${label}`,
      unit: 'bytes',
      of: `runs (${K}-step minus 1-step turn, / ${K - 1})`,
      chats: 1,
      samples: perStep,
      target: '<= 4096, independent of message size',
      check: (s) => s.median <= 4096,
      detail: { message_bytes: size, history_bytes_added_by_k_step_turn: Math.max(...totals), history_events_added_by_k_step_turn: Math.max(...events) },
    }));
  }
  return out;
}
