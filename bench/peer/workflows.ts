// The peer: the same provider tokens, published through Temporal Workflow Streams instead of
// Parley's event log. The workflow holds the stream; its activity publishes into it.
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import { WorkflowStream } from '@temporalio/workflow-streams/workflow';
import type { PeerActivities } from './activities.ts';
import { END_OF_STREAM, SUBSCRIBER_DONE, TOKENS_TOPIC } from './protocol.ts';

export const subscriberDoneSignal = defineSignal(SUBSCRIBER_DONE);

const { streamTokens } = proxyActivities<PeerActivities>({ startToCloseTimeout: '10m', heartbeatTimeout: '30s' });

export async function peerStreamWorkflow(input: { directive: string }): Promise<void> {
  const stream = new WorkflowStream();
  let subscriberDone = false;
  setHandler(subscriberDoneSignal, () => { subscriberDone = true; });
  await streamTokens(input);
  stream.topic<string>(TOKENS_TOPIC).publish(END_OF_STREAM);
  // Polls are updates: the run must stay open until its subscriber has read everything.
  await condition(() => subscriberDone, '2 minutes');
}
