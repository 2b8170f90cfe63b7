// Time to first token added by Parley: POST message → first `message_part` on the stream, minus the
// provider's own time to first token (request received → first delta sent, both stamped by the fake).
import { nowMs, within } from '../clock.ts';
import { directiveMessage, requestStampIn, stampsIn } from '../directive.ts';
import { brief, figure, type Figure } from '../figure.ts';
import { firstStepTimes } from '../history-timing.ts';
import type { Stack } from '../stack.ts';

export async function ttftFigure(stack: Stack): Promise<Figure> {
  const { opts, api, fake } = stack;
  const [chat] = await stack.chats(1);
  const content = directiveMessage({ tokens: 1, stamp: true });
  const added: number[] = [];
  const parts = { post: [] as number[], toProvider: [] as number[], providerTtft: [] as number[], tokenToClient: [] as number[] };
  // POST → provider request, split by the run's history (server clock: same machine).
  const path = { toRunStart: [] as number[], taskQueued: [] as number[], firstTask: [] as number[], dispatch: [] as number[], stepToRequest: [] as number[] };
  stack.log(`ttft: ${opts.ttft.runs} sequential turns in one idle chat`);
  for (let r = -2; r < opts.ttft.runs; r++) {
    const first = chat!.stream.next((e) => e.event === 'message_part' && e.data.includes('<r:'));
    const done = chat!.stream.nextStatus('waiting', 'error');
    const t0 = nowMs();
    await api.call('POST', `/chats/${chat!.id}/messages`, { content }, chat!.token);
    const tPosted = nowMs();
    const e = await within(first, 30_000, 'first token');
    await within(done, 30_000, 'turn end');
    // Like a person typing the next message: the previous busy period is over.
    await stack.workflowClosed(chat!.id);
    if (r < 0) continue;
    const received = requestStampIn(e.data)! - fake.offsetMs;
    const sent = stampsIn(e.data)[0]! - fake.offsetMs;
    const providerTtft = sent - received;
    added.push(e.at - t0 - providerTtft);
    parts.post.push(tPosted - t0);
    parts.toProvider.push(received - t0);
    parts.providerTtft.push(providerTtft);
    parts.tokenToClient.push(e.at - sent);
    const h = await firstStepTimes(stack.temporal, chat!.id);
    if (h) {
      path.toRunStart.push(h.runStarted - t0);
      path.taskQueued.push(h.firstTaskStarted - h.firstTaskScheduled);
      path.firstTask.push(h.firstTaskCompleted - h.firstTaskStarted);
      path.dispatch.push(h.llmStepStarted - h.firstTaskCompleted);
      path.stepToRequest.push(received - h.llmStepStarted);
    }
  }
  return figure({
    name: 'ttft_added_ms',
    unit: 'ms',
    of: 'turns (sequential, idle chat)',
    chats: 1,
    samples: added,
    target: '<= 50 median',
    check: (s) => s.median <= 50,
    detail: {
      post_response_ms: brief(parts.post),
      post_to_provider_request_ms: brief(parts.toProvider),
      provider_ttft_ms: brief(parts.providerTtft),
      first_token_to_client_ms: brief(parts.tokenToClient),
      post_to_provider_request_split_ms: {
        post_to_run_started: brief(path.toRunStart),
        first_workflow_task_queued: brief(path.taskQueued),
        first_workflow_task_incl_advanceChat: brief(path.firstTask),
        llmStep_dispatch: brief(path.dispatch),
        llmStep_start_to_provider_request: brief(path.stepToRequest),
      },
    },
  });
}
