// Where a workflow run's time went, from its history's event timestamps: workflow tasks waiting
// for a poller (scheduled → started), workflow tasks being processed by the worker and answered
// (started → completed), and each activity (scheduled → completed: dispatch + run + report).
import type { Client } from '@temporalio/client';
import { chatWorkflowId } from '../src/workflows/types.ts';

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
const WFT_SCHEDULED = 5;
const WFT_STARTED = 6;
const WFT_COMPLETED = 7;
const ACTIVITY_SCHEDULED = 10;
const ACTIVITY_COMPLETED = 12;

interface Timestamp { seconds?: unknown; nanos?: number | null }
const msOf = (t: Timestamp | null | undefined): number => (t ? Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6 : Number.NaN);

export async function runTiming(client: Client, chatId: string): Promise<RunTiming> {
  const history = await client.workflow.getHandle(chatWorkflowId(chatId)).fetchHistory();
  const events = history.events ?? [];
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
