import { describe, expect, it } from "vitest";
import { runCleanupPass } from "../../lib/cleanup/cleanup-pass.js";
import { PortFakes } from "../support/port-fakes.js";
import {
  at,
  clusterConfig,
  containerUuid,
  entry,
  instance,
  instanceId,
  launchRecord,
  MINUTE,
  NOW,
} from "./scheduler-fixtures.js";

// One cleanup pass at a time against recording fakes of its ports (lib/cleanup/ports.ts);
// test/integration/cleanup.test.ts runs the same pass against DynamoDB Local and both simulators.

const c = containerUuid;
function fakes(): PortFakes {
  const f = new PortFakes(clusterConfig(), () => NOW);
  f.threshold = new Date(NOW - 1_000);
  return f;
}
const run = (f: PortFakes, interrupted: string[] = []) => runCleanupPass(f.cleanupDeps(), interrupted);

describe("a cleanup pass reconciles one listing with the queue (§3.4)", () => {
  it("forgets a finished entry", async () => {
    const f = fakes();
    f.add(entry(1, { state: "Complete" }));
    const report = await run(f);
    expect(f.log).toEqual([`forget ${c(1)}`]);
    expect(report.forgotten).toBe(1);
  });

  it("requeues a Locked container whose launched instance is gone, and drops the dead launch record", async () => {
    const f = fakes();
    f.add(entry(1, { state: "Locked", launch: launchRecord(1, at(-5 * MINUTE)) }));
    f.launchRecords.set(c(1), launchRecord(1));
    const report = await run(f);
    expect(f.log).toEqual([`unlock ${c(1)}`, `clear launch ${c(1)} ${instanceId(1)}`]);
    expect(report.requeued).toEqual({ "instance gone": 1 });
  });

  it("terminates an instance tagged for a container the queue lacks once Arvados says we hold no lock on it", async () => {
    const f = fakes();
    f.instances = [instance(1, { container: 9 })];
    const report = await run(f);
    expect(f.log).toEqual([`terminate ${instanceId(1)}`]);
    expect(report.orphans).toBe(1);
  });

  it("never terminates an instance this dispatcher did not launch; it reports it", async () => {
    const f = fakes();
    f.instances = [instance(1)];
    const report = await run(f);
    expect(f.log).toEqual([]);
    expect(report.foreign).toEqual([instanceId(1)]);
  });

  it("derives the shared state from the listing: a stop until fewer instances lifts once fewer run, expired windows go (§4.1)", async () => {
    const f = fakes();
    f.state.value = {
      ...f.state.value,
      atCapacityUntil: { gone: NOW - 1, kept: NOW + MINUTE },
      atQuotaUntilFewerInstances: 2,
    };
    f.add(entry(1, { state: "Running", launch: launchRecord(1) }));
    f.instances = [instance(1, { container: 1 })];
    await run(f);
    expect(f.state.value.atQuotaUntilFewerInstances).toBeUndefined();
    expect(f.state.value.atCapacityUntil).toEqual({ kept: NOW + MINUTE });
  });
});
