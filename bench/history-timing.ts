// Where a workflow run's time went, from its history's event timestamps: workflow tasks waiting
// for a poller (scheduled → started), workflow tasks being processed by the worker and answered
// (started → completed), and each activity (scheduled → completed: dispatch + run + report).
import type { Client } from '@temporalio/client';
import { chatWorkflowId } from '../src/workflows/contract.ts';

export interface RunTiming {
  workflowTaskQueueMs: number;
  workflowTaskProcessingMs: number;
  workflowTasks: number;
  /** Total ms per activity type. */
  activityMs: Record<string, number>;
  /** First event → last event. */
  totalMs: number;
}

// temporal.api.enums.v1.EventType values used here.
const EXECUTION_STARTED = 1;
const EXECUTION_SIGNALED = 26;
const WFT_SCHEDULED = 5;
const WFT_STARTED = 6;
const WFT_COMPLETED = 7;
const ACTIVITY_SCHEDULED = 10;
const ACTIVITY_STARTED = 11;
const ACTIVITY_COMPLETED = 12;

interface Timestamp { seconds?: unknown; nanos?: number | null }
const msOf = (t: Timestamp | null | undefined): number => (t ? Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6 : Number.NaN);

/** Timing of the chat's current run, from the event after `afterEventId` (one turn of a run that lives on). */
export async function runTiming(client: Client, chatId: string, afterEventId = 0): Promise<RunTiming> {
  const events = await eventsAfter(client, chatId, afterEventId);
  const scheduledAt = new Map<number, { at: number; type: string }>();
  const out: RunTiming = { workflowTaskQueueMs: 0, workflowTaskProcessingMs: 0, workflowTasks: 0, activityMs: {}, totalMs: 0 };
  let wftScheduled = Number.NaN;
  let wftStarted = Number.NaN;
  for (const e of events) {
    const at = msOf(e.eventTime);
    switch (Number(e.eventType)) {
      case WFT_SCHEDULED: wftScheduled = at; break;
      case WFT_STARTED: wftStarted = at; out.workflowTaskQueueMs += at - wftScheduled; break;
      case WFT_COMPLETED: out.workflowTaskProcessingMs += at - wftStarted; out.workflowTasks++; break;
      case ACTIVITY_SCHEDULED:
        scheduledAt.set(Number(e.eventId), { at, type: e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?' });
        break;
      case ACTIVITY_COMPLETED: {
        const s = scheduledAt.get(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId));
        if (s) out.activityMs[s.type] = (out.activityMs[s.type] ?? 0) + at - s.at;
        break;
      }
    }
  }
  if (events.length) out.totalMs = msOf(events.at(-1)!.eventTime) - msOf(events[0]!.eventTime);
  return out;
}

async function eventsAfter(client: Client, chatId: string, afterEventId: number) {
  const history = await client.workflow.getHandle(chatWorkflowId(chatId)).fetchHistory();
  return (history.events ?? []).filter((e) => Number(e.eventId) > afterEventId);
}

/** Server timestamps (epoch ms) of the path from a turn's start to its first `llmStep` starting. */
export interface FirstStepTimes {
  /** The run's start (a new run), or the `wake` signal reaching a run that was waiting. */
  turnStarted: number;
  firstTaskScheduled: number;
  firstTaskStarted: number;
  firstTaskCompleted: number;
  llmStepStarted: number;
}

/** Event times from `afterEventId` up to the first llmStep's start, or null if there is none. */
export async function firstStepTimes(client: Client, chatId: string, afterEventId = 0): Promise<FirstStepTimes | null> {
  const out: Partial<FirstStepTimes> = {};
  let llmStepScheduled: number | undefined;
  for (const e of await eventsAfter(client, chatId, afterEventId)) {
    const at = msOf(e.eventTime);
    switch (Number(e.eventType)) {
      case EXECUTION_STARTED: case EXECUTION_SIGNALED: out.turnStarted ??= at; break;
      case WFT_SCHEDULED: out.firstTaskScheduled ??= at; break;
      case WFT_STARTED: out.firstTaskStarted ??= at; break;
      case WFT_COMPLETED: out.firstTaskCompleted ??= at; break;
      case ACTIVITY_SCHEDULED:
        if (llmStepScheduled === undefined && e.activityTaskScheduledEventAttributes?.activityType?.name === 'llmStep') llmStepScheduled = Number(e.eventId);
        break;
      // Written when the attempt finishes, but stamped with the time the worker picked the task up.
      case ACTIVITY_STARTED:
        if (Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === llmStepScheduled) out.llmStepStarted ??= at;
        break;
    }
  }
  return out.llmStepStarted === undefined ? null : (out as FirstStepTimes);
}
