import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type QueueHarness, queueHarness } from "../support/dispatch.js";

// "Is this container's lock ours?" has one answer, Queue.heldLock, asked by launch (before a
// RunInstances call), type choice (after a refused lock) and cleanup (an orphan instance's
// container), against the Arvados simulator over HTTP.

let h: QueueHarness;
beforeEach(async () => {
  h = await queueHarness();
});
afterEach(async () => {
  await h.close();
});

describe("heldLock: the lock our token holds, as Arvados says now", () => {
  it("gives a Locked container's lock_count when our token locked it", async () => {
    const c = h.sim.addContainer({ state: "Queued" });
    await h.queue.lock(c.uuid);
    expect(await h.queue.heldLock(c.uuid)).toEqual({ state: "Locked", lockCount: 1 });
  });

  it("gives a Running container our token locked", async () => {
    const c = h.sim.addContainer({ state: "Locked", locked_by_uuid: h.sim.rootTokenUuid });
    h.sim.startContainer(c.uuid);
    expect((await h.queue.heldLock(c.uuid))?.state).toBe("Running");
  });

  it("is undefined for a container another dispatcher's token locked", async () => {
    const other = h.sim.addToken({ admin: true });
    const c = h.sim.addContainer({ state: "Locked", locked_by_uuid: other.uuid });
    expect(await h.queue.heldLock(c.uuid)).toBeUndefined();
  });

  it("is undefined for a Queued container and for one Arvados does not know (404)", async () => {
    const queued = h.sim.addContainer({ state: "Queued" });
    const gone = h.sim.addContainer({ state: "Locked", locked_by_uuid: h.sim.rootTokenUuid });
    h.sim.deleteContainer(gone.uuid);
    expect(await h.queue.heldLock(queued.uuid)).toBeUndefined();
    expect(await h.queue.heldLock(gone.uuid)).toBeUndefined();
  });

  it("rejects on any other API error rather than guessing", async () => {
    const c = h.sim.addContainer({ state: "Locked", locked_by_uuid: h.sim.rootTokenUuid });
    h.sim.injectFault({ route: `GET /arvados/v1/containers/${c.uuid}`, effect: { kind: "status", status: 403 } });
    await expect(h.queue.heldLock(c.uuid)).rejects.toMatchObject({ status: 403 });
  });
});
