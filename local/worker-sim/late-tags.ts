/**
 * LateTags: instance tags as IMDS serves them when EC2 is slow to pass a change on. EC2 documents
 * that a tag change reaches a running instance's metadata, not when; a soak delays some order
 * tags to show the dispatcher and the agent cope with an order that arrives late. A tag's new
 * value shows `delayOf` ms after IMDS was first asked for it; until then the value before it
 * (or no tag) is served, so the values of one key still arrive in order. Deletions show at once.
 */
import type { SimInstance } from "../ec2-sim/model.js";

interface Seen {
  value: string;
  visibleAt: number;
  /** The value served until this one is visible (undefined: none). */
  before: string | undefined;
}

export class LateTags {
  /** Tag values served late so far. */
  delayed = 0;
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly delayOf: (instanceId: string, key: string, value: string) => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The instance as IMDS shows it now: `instance` with tags not yet visible held back. */
  view(instance: Readonly<SimInstance>): Readonly<SimInstance> {
    const now = this.now();
    let tags: Record<string, string> | undefined;
    for (const [key, value] of Object.entries(instance.tags)) {
      const id = `${instance.instanceId}\u0000${key}`;
      let seen = this.seen.get(id);
      if (seen?.value !== value) {
        const delay = this.delayOf(instance.instanceId, key, value);
        const before = seen === undefined ? undefined : now >= seen.visibleAt ? seen.value : seen.before;
        seen = { value, visibleAt: now + delay, before };
        this.seen.set(id, seen);
        if (delay > 0) this.delayed++;
      }
      if (now >= seen.visibleAt) continue;
      tags ??= { ...instance.tags };
      if (seen.before === undefined) delete tags[key];
      else tags[key] = seen.before;
    }
    return tags === undefined ? instance : { ...instance, tags };
  }
}
