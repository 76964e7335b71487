import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { ArvadosApiError, ArvadosNetworkError } from "../../lib/arvados/errors.js";
import type { Container } from "../../lib/model/container.js";
import { runCleanupPass } from "../../lib/cleanup/cleanup-pass.js";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { assignInstanceTypes } from "../../lib/queue/assign-types.js";
import { type HostileHarness, hostileHarness, rejectionOf } from "../support/hostile-harness.js";

/*
 * Hostile input past the poll: container mounts that Go could not decode (choose-instance-types,
 * §1.8), Arvados refusing or losing a lock (§1.9, §5.4), and EC2 answering RunInstances with
 * something that is not its XML. Each gets upstream's outcome or a typed error, and the cache
 * and the cloud end up consistent: no lost entry, no second instance.
 */

let h: HostileHarness;
beforeAll(async () => {
  h = await hostileHarness();
});
afterAll(async () => {
  await h.close();
});
beforeEach(async () => {
  h.sim.clearFaults();
  h.ec2sim.clearFaults();
  // Every test starts with no live instance and no cached entry left over.
  const live = h.ec2sim.instances().filter((i) => i.state === "pending" || i.state === "running");
  if (live.length > 0) await h.cloud.terminate(live.map((i) => i.instanceId));
  h.ec2sim.tick();
  for (const uuid of (await h.queue.entries()).entries.keys()) h.sim.deleteContainer(uuid);
  await h.update();
  expect((await h.queue.entries()).entries.size).toBe(0);
});

const plenty = () => 60_000;

function queued(fields: Record<string, unknown> = {}): Container {
  return h.sim.addContainer({
    state: "Queued",
    priority: 5,
    runtime_constraints: { ram: 2 ** 30, vcpus: 1 },
    ...fields,
  });
}

function liveInstancesFor(uuid: string) {
  return h.ec2sim
    .instances()
    .filter((i) => i.tags.ArvadosContainerUUID === uuid && (i.state === "pending" || i.state === "running"));
}

describe("mounts Go cannot decode: locked, upstream's runtime_status.error, cancelled, forgotten (§1.8, #21314)", () => {
  const prefix = "error getting mounts from container record: json: cannot unmarshal";
  it.each<[string, unknown, string]>([
    [
      "capacity as a string",
      { "/tmp": { kind: "tmp", capacity: "10GiB" } },
      `${prefix} string into Go struct field Mount.mounts.capacity of type int64`,
    ],
    [
      "capacity as a fraction (Go quotes the number)",
      { "/tmp": { kind: "tmp", capacity: 1.5 } },
      `${prefix} number 1.5 into Go struct field Mount.mounts.capacity of type int64`,
    ],
    [
      "kind as a number",
      { "/tmp": { kind: 7 } },
      `${prefix} number into Go struct field Mount.mounts.kind of type string`,
    ],
    [
      "mounts as a list",
      [{ kind: "tmp", capacity: 1 }],
      `${prefix} array into Go struct field Container.mounts of type map[string]arvados.Mount`,
    ],
    [
      "mounts as a string",
      "/tmp",
      `${prefix} string into Go struct field Container.mounts of type map[string]arvados.Mount`,
    ],
    [
      "a mount that is a list",
      { "/tmp": ["tmp"] },
      `${prefix} array into Go struct field Container.mounts of type arvados.Mount`,
    ],
  ])("%s", async (_name, mounts, error) => {
    const c = queued({ mounts });
    await h.update();
    expect(await assignInstanceTypes(c.uuid, h)).toBe("cancelled-unsatisfiable");
    expect(h.sim.getContainer(c.uuid)).toMatchObject({ state: "Cancelled", lock_count: 1, runtime_status: { error } });
    expect(await h.store.get(c.uuid)).toBeUndefined();
  });

  it("a mount that is null is a zero Mount to Go (null is ignored for a struct value): types are chosen", async () => {
    const c = queued({ mounts: { "/tmp": null, "/out": { kind: "tmp", capacity: 2 ** 30 } } });
    await h.update();
    expect(await assignInstanceTypes(c.uuid, h)).toBe("assigned");
    expect(h.sim.getContainer(c.uuid)?.state).toBe("Queued");
    expect((await h.store.get(c.uuid))?.instanceTypes?.[0]).toBe("small");
  });

  it("null capacity and null mounts are Go's zero values: types are chosen", async () => {
    const a = queued({ mounts: { "/tmp": { kind: "tmp", capacity: null } } });
    const b = queued({ mounts: null });
    await h.update();
    expect(await assignInstanceTypes(a.uuid, h)).toBe("assigned");
    expect(await assignInstanceTypes(b.uuid, h)).toBe("assigned");
  });

  it("a failing mounts fetch is an error for the stream to retry; the entry keeps waiting for types", async () => {
    const c = queued();
    await h.update();
    h.sim.injectFault({
      route: `GET /arvados/v1/containers/${c.uuid}`,
      count: 5,
      effect: { kind: "status", status: 500 },
    });
    const err = await rejectionOf(assignInstanceTypes(c.uuid, h));
    expect(err).toBeInstanceOf(ArvadosApiError);
    expect((await h.store.get(c.uuid))?.instanceTypes).toBeUndefined();
    h.sim.clearFaults();
    expect(await assignInstanceTypes(c.uuid, h)).toBe("assigned");
  });

  it("a mounts reply that is not JSON is an error, not a cancellation", async () => {
    const c = queued();
    await h.update();
    h.sim.injectFault({ route: `GET /arvados/v1/containers/${c.uuid}`, effect: { kind: "malformed" } });
    await rejectionOf(assignInstanceTypes(c.uuid, h));
    expect(h.sim.getContainer(c.uuid)?.state).toBe("Queued");
    expect((await h.store.get(c.uuid))?.instanceTypes).toBeUndefined();
  });
});

describe("Arvados refuses a lock: a typed error, and the cached entry is left as it was", () => {
  it("404 for a container Arvados does not have, and no entry appears", async () => {
    const uuid = "zzzzz-dz642-doesnotexist000";
    const err = await rejectionOf(h.queue.lock(uuid));
    expect(err).toBeInstanceOf(ArvadosApiError);
    expect(err).toMatchObject({ status: 404, isNotFound: true });
    expect(await h.store.get(uuid)).toBeUndefined();
  });

  it("404 for a cached container deleted meanwhile; the next update removes the entry", async () => {
    const c = queued();
    await h.update();
    const before = await h.store.get(c.uuid);
    h.sim.deleteContainer(c.uuid);
    expect(await rejectionOf(h.queue.lock(c.uuid))).toMatchObject({ status: 404 });
    expect(await h.store.get(c.uuid)).toEqual(before);
    await h.update();
    expect(await h.store.get(c.uuid)).toBeUndefined();
  });

  it("422 when another dispatcher locked it first; the next update sees it Locked by someone else", async () => {
    const c = queued();
    await h.update();
    const before = await h.store.get(c.uuid);
    const other = h.sim.addToken({ admin: true });
    await h.client({ token: other.token }).lockContainer(c.uuid);
    const err = await rejectionOf(h.queue.lock(c.uuid));
    expect(err).toBeInstanceOf(ArvadosApiError);
    expect(err).toMatchObject({ status: 422, isUnprocessable: true });
    expect((err as ArvadosApiError).messages.join()).toContain("cannot lock when Locked");
    expect(await h.store.get(c.uuid)).toEqual(before);
    await h.update();
    const entry = await h.store.get(c.uuid);
    expect(entry?.container.state).toBe("Locked");
    expect(entry?.container.locked_by_uuid).not.toBe(h.sim.rootTokenUuid);
  });

  it("403 when unlocking a container another dispatcher holds", async () => {
    const c = queued();
    await h.update();
    const other = h.sim.addToken({ admin: true });
    await h.client({ token: other.token }).lockContainer(c.uuid);
    await h.update();
    const before = await h.store.get(c.uuid);
    const err = await rejectionOf(h.queue.unlock(c.uuid));
    expect(err).toMatchObject({ status: 403, isForbidden: true });
    expect(await h.store.get(c.uuid)).toEqual(before);
  });

  it("a launch pass skips a container someone else locked after the poll: no instance, no lost entry", async () => {
    const c = queued();
    await h.refresh();
    const other = h.sim.addToken({ admin: true });
    await h.client({ token: other.token }).lockContainer(c.uuid);
    const report = await runLaunchPass(h.launchDeps(), plenty);
    expect(report).toMatchObject({ locked: 0, launched: [], failures: 1 });
    expect(h.ec2sim.runInstancesCalls()).toBe(0);
    // Next poll: Locked by another token; nothing of ours launches it, and the entry stays cached.
    await h.refresh();
    const again = await runLaunchPass(h.launchDeps(), plenty);
    expect(again.launched).toEqual([]);
    expect(h.ec2sim.runInstancesCalls()).toBe(0);
    expect((await h.store.get(c.uuid))?.container.state).toBe("Locked");
  });
});

describe("a lock whose reply is lost", () => {
  it("a reset before the server saw it: nothing changed anywhere, and the next pass locks and launches", async () => {
    const c = queued();
    await h.refresh();
    h.sim.injectFault({ route: `POST /arvados/v1/containers/${c.uuid}/lock`, effect: { kind: "reset" } });
    const first = await runLaunchPass(h.launchDeps(), plenty);
    expect(first).toMatchObject({ locked: 0, failures: 1, launched: [] });
    expect(h.sim.getContainer(c.uuid)?.state).toBe("Queued");
    const second = await runLaunchPass(h.launchDeps(), plenty);
    expect(second.launched.map((l) => l.uuid)).toEqual([c.uuid]);
    expect(liveInstancesFor(c.uuid)).toHaveLength(1);
  });

  it("a timeout after the server locked it: the next poll finds it ours and one instance is launched", async () => {
    const c = queued();
    await h.refresh();
    const impatient = h.client({ timeoutMs: 200, retry: { attempts: 1 } });
    h.sim.injectFault({ route: `POST /arvados/v1/containers/${c.uuid}/lock`, effect: { kind: "delay", ms: 1_000 } });
    const err = await rejectionOf(h.queueFor(impatient).lock(c.uuid));
    expect(err).toBeInstanceOf(ArvadosNetworkError);
    expect(err).toMatchObject({ timedOut: true, requestSent: true });
    expect((await h.store.get(c.uuid))?.container.state).toBe("Queued");
    await vi.waitFor(() => expect(h.sim.getContainer(c.uuid)?.state).toBe("Locked"), { timeout: 5_000 });
    await h.refresh();
    expect((await h.store.get(c.uuid))?.container).toMatchObject({
      state: "Locked",
      locked_by_uuid: h.sim.rootTokenUuid,
    });
    const report = await runLaunchPass(h.launchDeps(), plenty);
    expect(report).toMatchObject({ locked: 0, launched: [{ uuid: c.uuid }] });
    expect(liveInstancesFor(c.uuid)).toHaveLength(1);
  });
});

describe("EC2 answers RunInstances with something that is not its XML", () => {
  it.each([
    ["not XML at all", "<<<this is not xml"],
    [
      "truncated XML",
      '<?xml version="1.0" encoding="UTF-8"?>\n<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>x</requestId><instancesSet><item><instanceId>i-',
    ],
    [
      "well-formed XML without an instance",
      '<?xml version="1.0" encoding="UTF-8"?>\n<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>x</requestId></RunInstancesResponse>',
    ],
  ])(
    "%s: the pass counts a failure; the instance EC2 did start is the container's, and no second one starts",
    async (_name, junk) => {
      const c = queued();
      await h.refresh();
      h.ec2proxy.corruptReplies("RunInstances", junk);
      const first = await runLaunchPass(h.launchDeps(), plenty);
      expect(first).toMatchObject({ locked: 1, launched: [], failures: 1 });
      // EC2 did act on the request: the instance exists, but the dispatcher could not learn its id.
      expect(liveInstancesFor(c.uuid)).toHaveLength(1);
      expect((await h.store.get(c.uuid))?.launch).toBeUndefined();
      await h.refresh();
      const calls = h.ec2sim.runInstancesCalls();
      const second = await runLaunchPass(h.launchDeps(), plenty);
      // The listing shows an instance tagged with the container: it holds that instance (§3.3).
      expect(second.launched).toEqual([]);
      expect(h.ec2sim.runInstancesCalls()).toBe(calls);
      expect(liveInstancesFor(c.uuid)).toHaveLength(1);
    },
  );

  it("if the listing does not show that instance yet, the retry's ClientToken gets EC2's instance back, not a second one", async () => {
    const c = queued();
    await h.refresh();
    h.ec2proxy.corruptReplies("RunInstances", "<<<not xml");
    await runLaunchPass(h.launchDeps(), plenty);
    const [started] = liveInstancesFor(c.uuid);
    expect(started).toBeDefined();
    // DescribeInstances is eventually consistent: the next pass's listing is empty.
    h.ec2proxy.corruptReplies(
      "DescribeInstances",
      '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>x</requestId><reservationSet/></DescribeInstancesResponse>',
    );
    const second = await runLaunchPass(h.launchDeps(), plenty);
    expect(second.launched.map((l) => l.uuid)).toEqual([c.uuid]);
    expect(liveInstancesFor(c.uuid).map((i) => i.instanceId)).toEqual([started?.instanceId]);
    expect((await h.store.get(c.uuid))?.launch?.instanceId).toBe(started?.instanceId);
  });

  it("a DescribeInstances reply that is not XML fails the cleanup pass with an error and changes nothing", async () => {
    const c = queued();
    await h.refresh();
    await runLaunchPass(h.launchDeps(), plenty);
    const before = await h.snapshot();
    h.ec2proxy.corruptReplies("DescribeInstances", "<<<not xml");
    const err = await rejectionOf(runCleanupPass(h.cleanupDeps()));
    expect(err).toBeInstanceOf(Error);
    expect(await h.snapshot()).toEqual(before);
    expect(liveInstancesFor(c.uuid)).toHaveLength(1);
    expect(h.sim.getContainer(c.uuid)?.state).toBe("Locked");
  });
});
