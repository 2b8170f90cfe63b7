// Time to first token added by Parley: POST message → first `message_part` on the stream, minus the
// provider's own time to first token (request received → first delta sent, both stamped by the fake).
// Two paths, each its own figure:
//   ttft_added_ms          a follow-up in an idle chat whose run waits in its idle window (a signal)
//   ttft_added_ms_new_run  a message to a chat whose run has closed (signal-with-start, a new run)
import { nowMs, within } from '../clock.ts';
import { directiveMessage, requestStampIn, stampsIn } from '../directive.ts';
import { brief, figure, type Figure } from '../figure.ts';
import { firstStepTimes } from '../history-timing.ts';
import type { BenchChat, Stack } from '../stack.ts';

interface Samples {
  added: number[];
  post: number[];
  toProvider: number[];
  providerTtft: number[];
  tokenToClient: number[];
  // POST → provider request, split by the run's history (server clock: same machine).
  toTurnStart: number[];
  taskQueued: number[];
  firstTask: number[];
  dispatch: number[];
  stepToRequest: number[];
}

const emptySamples = (): Samples => ({
  added: [], post: [], toProvider: [], providerTtft: [], tokenToClient: [],
  toTurnStart: [], taskQueued: [], firstTask: [], dispatch: [], stepToRequest: [],
});

/** One turn of `chat`, timed; `keep` false for warm-up turns. */
async function measure(stack: Stack, chat: BenchChat, s: Samples, keep: boolean): Promise<void> {
  const content = directiveMessage({ tokens: 1, stamp: true });
  const after = await stack.lastEventId(chat.id);
  const first = chat.stream.next((e) => e.event === 'message_part' && e.data.includes('<r:'));
  const done = chat.stream.nextStatus('waiting', 'error');
  const t0 = nowMs();
  await stack.api.call('POST', `/chats/${chat.id}/messages`, { content }, chat.token);
  const tPosted = nowMs();
  const e = await within(first, 30_000, 'first token');
  await within(done, 30_000, 'turn end');
  await stack.settled(chat.id);
  if (!keep) return;
  const { fake } = stack;
  const received = requestStampIn(e.data)! - fake.offsetMs;
  const sent = stampsIn(e.data)[0]!.t - fake.offsetMs;
  const providerTtft = sent - received;
  s.added.push(e.at - t0 - providerTtft);
  s.post.push(tPosted - t0);
  s.toProvider.push(received - t0);
  s.providerTtft.push(providerTtft);
  s.tokenToClient.push(e.at - sent);
  const h = await firstStepTimes(stack.temporal, chat.id, after);
  if (h) {
    s.toTurnStart.push(h.turnStarted - t0);
    s.taskQueued.push(h.firstTaskStarted - h.firstTaskScheduled);
    s.firstTask.push(h.firstTaskCompleted - h.firstTaskStarted);
    s.dispatch.push(h.llmStepStarted - h.firstTaskCompleted);
    s.stepToRequest.push(received - h.llmStepStarted);
  }
}

function ttftFigure(name: string, of: string, chats: number, s: Samples, turnStart: string): Figure {
  return figure({
    name,
    unit: 'ms',
    of,
    chats,
    samples: s.added,
    target: '<= 50 median',
    check: (st) => st.median <= 50,
    detail: {
      post_response_ms: brief(s.post),
      post_to_provider_request_ms: brief(s.toProvider),
      provider_ttft_ms: brief(s.providerTtft),
      first_token_to_client_ms: brief(s.tokenToClient),
      post_to_provider_request_split_ms: {
        [`post_to_${turnStart}`]: brief(s.toTurnStart),
        first_workflow_task_queued: brief(s.taskQueued),
        first_workflow_task_incl_advanceChat: brief(s.firstTask),
        llmStep_dispatch: brief(s.dispatch),
        llmStep_start_to_provider_request: brief(s.stepToRequest),
      },
    },
  });
}

export async function ttftFigures(stack: Stack): Promise<Figure[]> {
  const { runs } = stack.opts.ttft;
  stack.log(`ttft: ${runs} sequential follow-ups in one idle chat, then the first message after ${runs} chats' runs closed`);

  const [chat] = await stack.chats(1);
  const warm = emptySamples();
  for (let r = -2; r < runs; r++) await measure(stack, chat!, warm, r >= 0);

  // Each chat's run closes after its idle window (all at once); its next message starts a new run.
  const idle = await stack.chats(runs + 1);
  await Promise.all(idle.map((c) => stack.workflowClosed(c.id)));
  const cold = emptySamples();
  for (const [i, c] of idle.entries()) await measure(stack, c, cold, i > 0);

  return [
    ttftFigure('ttft_added_ms', 'turns (sequential follow-ups, idle chat, run open)', 1, warm, 'signal'),
    ttftFigure('ttft_added_ms_new_run', 'turns (sequential, each in a chat whose run had closed)', runs, cold, 'run_started'),
  ];
}
