/**
 * The containers of one batched worker launch (pool mode), one list per launch index, and the
 * text form a launch intent keeps of them (LaunchIntent.batch), so a repeat rebuilds the same call.
 */
import { checkContainerUuid } from "./container-uuid.js";

/** One container of a batched launch and the attempt (its lock_count) it runs under. */
export interface BatchMember {
  containerUuid: string;
  attempt: number;
}

/** The containers of one batch, one list per launch index. */
export type Batch = readonly (readonly BatchMember[])[];

/**
 * A batch as a launch intent keeps it: one item per launch index, `uuid:attempt` joined by `+`
 * when several containers were packed onto that instance. An item of one container reads as it
 * did before packing, so intents written by earlier versions parse unchanged.
 */
export function batchKey(batch: Batch): string[] {
  return batch.map((members) =>
    members.map((m) => `${checkContainerUuid(m.containerUuid, "worker batch")}:${m.attempt}`).join("+"),
  );
}

/** The batch back from a launch intent's `batch` list. */
export function parseBatchKey(batch: readonly string[]): BatchMember[][] {
  return batch.map((item) =>
    item.split("+").map((text) => {
      const at = text.lastIndexOf(":");
      return { containerUuid: text.slice(0, at), attempt: Number(text.slice(at + 1)) };
    }),
  );
}
