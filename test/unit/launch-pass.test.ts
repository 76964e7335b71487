import { describe, expect, it } from "vitest";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { capacityKey } from "../../lib/model/capacity-key.js";
import { Ec2CapacityError, type Ec2ErrorFacts, Ec2QuotaError } from "../../lib/model/cloud-errors.js";
import { PortFakes } from "../support/port-fakes.js";
import { clusterConfig, containerUuid, entry, instanceType, launchIntent, MINUTE, NOW } from "./scheduler-fixtures.js";

// One launch pass at a time against recording fakes of its ports (lib/launch/ports.ts), the way
// upstream tests one runQueue() iteration; test/integration/launch.test.ts runs the same pass
// against DynamoDB Local and both simulators.

const c = containerUuid;
const refused = (code: string): Ec2ErrorFacts => ({
  code,
  message: code,
  fault: "server",
  outcome: "failed",
  throttleDelayMs: 0,
});
const capacityError = (typeIndex: number) =>
  new Ec2CapacityError(
    refused("InsufficientInstanceCapacity"),
    "instanceType",
    capacityKey(instanceType(typeIndex), "instanceType", {}),
  );

function fakes(config = clusterConfig()): PortFakes {
  return new PortFakes(config, () => NOW);
}
const run = (f: PortFakes) => runLaunchPass(f.launchDeps(), () => 10 * MINUTE);
/** The log without the intent and record writes: locks, unlocks, calls. */
const actions = (f: PortFakes) => f.log.filter((line) => !line.startsWith("intent") && !line.startsWith("record"));

describe("a launch pass locks and launches in plan order (§3.3)", () => {
  it("locks the higher-priority Queued container first and launches each right after its lock, cheapest type first", async () => {
    const f = fakes();
    f.add(entry(2), entry(1));
    const report = await run(f);
    expect(actions(f)).toEqual([`lock ${c(1)}`, `run ${c(1)} type1`, `lock ${c(2)}`, `run ${c(2)} type1`]);
    expect(report).toMatchObject({ locked: 2, failures: 0 });
    expect(report.launched.map((l) => l.uuid)).toEqual([c(1), c(2)]);
  });

  it("launches a Locked container before it locks a Queued one of higher priority", async () => {
    const f = fakes();
    f.add(entry(1), entry(2, { state: "Locked" }));
    await run(f);
    expect(actions(f)).toEqual([`run ${c(2)} type1`, `lock ${c(1)}`, `run ${c(1)} type1`]);
  });

  it("skips a container Arvados says is no longer locked by us, sending no call", async () => {
    const f = fakes();
    f.add(entry(1, { state: "Locked" }));
    f.notOurs.add(c(1));
    const report = await run(f);
    expect(f.launches).toEqual([]);
    expect(report.launched).toEqual([]);
  });
});

describe("a capacity error falls through to the entry's next type (§3.3 8.4, §4.1)", () => {
  it("tries the next type at once and marks the refused one at capacity for a minute", async () => {
    const f = fakes();
    f.add(entry(1, { state: "Locked" }));
    f.cloudAnswers.push(capacityError(1));
    const report = await run(f);
    expect(actions(f)).toEqual([`run ${c(1)} type1`, `run ${c(1)} type2`]);
    expect(report).toMatchObject({ capacityErrors: 1, failures: 0 });
    expect(f.state.value.atCapacityUntil[instanceType(1).ProviderType]).toBe(NOW + MINUTE);
    expect(f.launchRecords.get(c(1))?.instanceType).toBe("type2");
  });
});

describe("a quota error ends the pass (§4.1 AtQuota)", () => {
  it("locks and launches nothing after it, and stores the quota stop", async () => {
    const f = fakes();
    f.add(entry(1), entry(2));
    f.cloudAnswers.push(new Ec2QuotaError(refused("InstanceLimitExceeded")));
    const report = await run(f);
    expect(actions(f)).toEqual([`lock ${c(1)}`, `run ${c(1)} type1`]);
    expect(report).toMatchObject({ quotaErrors: 1, locked: 1 });
    expect(f.state.value.atQuotaUntil).toBeGreaterThan(NOW);
  });
});

describe("every call's launch intent is written before it is sent (DESIGN: launch intent)", () => {
  it("writes the intent, sends the call, then records the instance in place of the intent", async () => {
    const f = fakes();
    f.add(entry(1, { state: "Locked" }));
    await run(f);
    expect(f.log).toEqual([`intent ${c(1)} type1 subnet-a`, `run ${c(1)} type1`, `record ${c(1)} i-00000000000000001`]);
    expect(f.intents.size).toBe(0);
  });

  it("repeats an open intent of this lock exactly, with the definition it was sent with, even after the config changed that type", async () => {
    const config = clusterConfig();
    config.InstanceTypes.type1 = instanceType(1, { ProviderType: "redefined" });
    const f = fakes(config);
    const sent = { ...launchIntent("type1"), definition: instanceType(1, { ProviderType: "as-sent" }) };
    f.add(entry(1, { state: "Locked", launchIntent: sent }));
    const report = await run(f);
    expect(actions(f)).toEqual([`repeat ${c(1)} type1`]);
    expect(f.launches[0]?.instanceType.ProviderType).toBe("as-sent");
    expect(f.launches[0]?.repeat).toEqual({ subnetId: sent.subnetId, clientToken: sent.clientToken });
    expect(report.repeats).toEqual([{ uuid: c(1), instanceType: "type1", outcome: "launched", typeConfigured: true }]);
  });
});

describe("entries name their types; the config of the day defines them", () => {
  it("launches a type redefined since the choice as it is defined now", async () => {
    const config = clusterConfig();
    config.InstanceTypes.type1 = instanceType(1, { ProviderType: "m7i.large" });
    const f = fakes(config);
    f.add(entry(1, { state: "Locked" }));
    await run(f);
    expect(f.launches[0]?.instanceType.ProviderType).toBe("m7i.large");
    expect(f.intents.size + f.launchRecords.size).toBe(1);
  });

  it("never launches a type removed from the config; the entry's next type is used", async () => {
    const config = clusterConfig();
    delete config.InstanceTypes.type1;
    const f = fakes(config);
    f.add(entry(1, { state: "Locked" }));
    await run(f);
    expect(f.launches.map((l) => l.instanceType.Name)).toEqual(["type2"]);
  });

  it("leaves an entry none of whose types is configured any more", async () => {
    const config = clusterConfig();
    delete config.InstanceTypes.type1;
    delete config.InstanceTypes.type2;
    const f = fakes(config);
    f.add(entry(1));
    const report = await run(f);
    expect(f.log).toEqual([]);
    expect(report.planned).toBe(0);
  });
});
