import { describe, expect, it } from "vitest";
import { stringifyArvadosJson } from "../../lib/model/exact-json.js";
import { instanceViews } from "../../lib/dispatch-api/instance-view.js";
import { goTime, queueEntView } from "../../lib/dispatch-api/queue-view.js";
import { containerPriority, createdAt } from "../support/fixtures.js";
import {
  at,
  clusterConfig,
  containerUuid,
  entry,
  instance,
  instanceId,
  launchIntent,
  launchRecord,
  MINUTE,
  NOW,
} from "./scheduler-fixtures.js";

// Field names and order of upstream's structs (json tags), from sdk/go/arvados/container.go,
// lib/dispatchcloud/container/queue.go, scheduler/run_queue.go and worker/pool.go.
const containerFields = [
  "uuid",
  "etag",
  "created_at",
  "modified_by_user_uuid",
  "modified_at",
  "command",
  "container_image",
  "cwd",
  "environment",
  "locked_by_uuid",
  "lock_count",
  "mounts",
  "output",
  "output_path",
  "output_glob",
  "priority",
  "runtime_constraints",
  "state",
  "scheduling_parameters",
  "exit_code",
  "runtime_status",
  "started_at",
  "finished_at",
  "gateway_address",
  "interactive_session_started",
  "output_storage_classes",
  "runtime_user_uuid",
  "runtime_auth_scopes",
  "runtime_token",
  "auth_uuid",
  "log",
  "cost",
  "subrequests_cost",
  "service",
  "published_ports",
];
const queueEntFields = ["container", "instance_resources", "instance_types", "first_seen_at", "scheduling_status"];
const instanceViewFields = [
  "instance",
  "address",
  "price",
  "arvados_instance_type",
  "provider_instance_type",
  "last_container_uuid",
  "last_busy",
  "running_container_uuids",
  "worker_state",
  "idle_behavior",
];
const types = clusterConfig().InstanceTypes;
const waiting = "Waiting in queue at position 1.  Cluster is at capacity and cannot start any new instances right now.";

describe("a queue entry is upstream's scheduler.QueueEnt, field for field", () => {
  const view = queueEntView(entry(1, { state: "Locked" }), types);

  it("has QueueEnt's fields, then the container with every arvados.Container field in Go's order", () => {
    expect(Object.keys(view)).toEqual(queueEntFields);
    expect(Object.keys(view.container as object)).toEqual(containerFields);
  });

  it('writes instance types as Go\'s encoding/json does: no Name, no Scratch (json:"-")', () => {
    const [type] = view.instance_types as Record<string, unknown>[];
    expect(Object.keys(type ?? {})).toEqual([
      "ProviderType",
      "VCPUs",
      "RAM",
      "IncludedScratch",
      "AddedScratch",
      "Price",
      "Preemptible",
      "GPU",
    ]);
    expect(Object.keys(view.instance_resources as object)).toEqual(["VCPUs", "RAM", "Scratch", "GPUs", "GPUVRAM"]);
  });

  it("gives what the queue does not keep Go's zero value, as upstream's own partial container does", () => {
    expect(view.container).toMatchObject({
      etag: "",
      modified_at: "0001-01-01T00:00:00Z",
      command: null,
      lock_count: 0,
      started_at: null,
      runtime_token: "",
    });
  });

  it("writes the int64 priority as its exact digits", () => {
    const priority = containerPriority(500, createdAt(1)) + 1n;
    const text = stringifyArvadosJson(queueEntView(entry(1, { priority }), types));
    expect(text).toContain(`"priority":${priority}`);
  });

  it("shows the stored scheduling status only while the container is Queued or Locked", () => {
    for (const state of ["Queued", "Locked"] as const) {
      expect(queueEntView({ ...entry(1, { state }), schedulingStatus: waiting }, types).scheduling_status).toBe(
        waiting,
      );
    }
    expect(
      queueEntView({ ...entry(1, { state: "Running" }), schedulingStatus: waiting }, types).scheduling_status,
    ).toBe("");
    expect(queueEntView(entry(1), types).scheduling_status).toBe("");
  });

  it("gives an entry's type names as the current config defines them, leaving out names it no longer has", () => {
    const named = { ...entry(1), instanceTypes: ["type2", "retired", "type1"] };
    const shown = queueEntView(named, types).instance_types as Record<string, unknown>[];
    expect(shown.map((t) => t.ProviderType)).toEqual([types.type2?.ProviderType, types.type1?.ProviderType]);
  });

  it("gives an entry without chosen types `instance_types: null` and zero resources", () => {
    const untyped = queueEntView(entry(1, { types: [] }), types);
    expect(untyped).toMatchObject({
      instance_types: null,
      instance_resources: { VCPUs: 0, RAM: 0, Scratch: 0, GPUs: 0, GPUVRAM: 0 },
    });
  });
});

describe("times are written as Go's time.Time (RFC 3339, no trailing zeros in the fraction)", () => {
  it.each([
    ["2026-01-01T00:00:01.007919000Z", "2026-01-01T00:00:01.007919Z"],
    ["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00Z"],
    ["2026-01-01T00:00:00.120Z", "2026-01-01T00:00:00.12Z"],
    ["2026-01-01T00:00:00+02:00", "2026-01-01T00:00:00+02:00"],
    [undefined, "0001-01-01T00:00:00Z"],
  ])("%s → %s", (iso, go) => {
    expect(goTime(iso)).toBe(go);
  });
});

describe("an instance is upstream's worker.InstanceView, its state read off EC2's and its container's", () => {
  const config = clusterConfig();
  const now = new Date(NOW).toISOString();
  const views = (
    instances: Parameters<typeof instanceViews>[0],
    entries = [entry(1, { state: "Locked", launch: launchRecord(1) })],
  ) => instanceViews(instances, new Map(entries.map((e) => [e.container.uuid, e])), config, now);

  it("has InstanceView's fields, in order, with the configured price and provider type", () => {
    const [view] = views([instance(1, { container: 1, address: "10.0.0.11", idleBehavior: "drain" })]);
    expect(Object.keys(view ?? {})).toEqual(instanceViewFields);
    expect(view).toEqual({
      instance: instanceId(1),
      address: "10.0.0.11",
      price: config.InstanceTypes.type1?.Price,
      arvados_instance_type: "type1",
      provider_instance_type: "providertype1",
      last_container_uuid: containerUuid(1),
      last_busy: goTime(at(-5 * MINUTE)),
      running_container_uuids: [],
      worker_state: "booting",
      idle_behavior: "drain",
    });
  });

  it.each([
    ["pending", "Locked", "booting"],
    ["running", "Running", "running"],
    ["running", "Locked", "booting"],
    ["running", "Complete", "idle"],
    ["stopped", "Running", "shutdown"],
  ] as const)("EC2 %s with its container %s → %s", (ec2, state, worker) => {
    const [view] = views([instance(1, { container: 1, state: ec2 })], [entry(1, { state, launch: launchRecord(1) })]);
    expect(view?.worker_state).toBe(worker);
    expect(view?.running_container_uuids).toEqual(worker === "running" ? [containerUuid(1)] : []);
    if (worker === "running") expect(view?.last_busy).toBe(goTime(now));
  });

  it("an instance without a container tag or launch record (not launched here) is 'unknown'; one whose entry is gone is 'idle'", () => {
    expect(views([instance(2)], []).map((v) => v.worker_state)).toEqual(["unknown"]);
    expect(views([instance(3, { container: 9 })], []).map((v) => v.worker_state)).toEqual(["idle"]);
  });

  it("a RunInstances call of unknown outcome shows as upstream's create in flight: no id, booting, null containers", () => {
    const pending = entry(2, { state: "Locked", localChangeAt: at(-2 * MINUTE), launchIntent: launchIntent("type2") });
    const list = views(
      [instance(1, { container: 1 })],
      [entry(1, { state: "Running", launch: launchRecord(1) }), pending],
    );
    expect(list.map((v) => [v.instance, v.worker_state, v.arvados_instance_type, v.running_container_uuids])).toEqual([
      ["", "booting", "type2", null],
      [instanceId(1), "running", "type1", [containerUuid(1)]],
    ]);
  });

  it("a pool worker shows every non-final container given to it, the last one given, and its derived state", () => {
    const worker = instance(7, { instanceType: "type2", worker: true });
    const on7 = (i: number, state: "Running" | "Locked" | "Complete", minutesAgo: number) =>
      entry(i, {
        state,
        launch: { ...launchRecord(7), instanceType: "type2", launchedAt: at(-minutesAgo * MINUTE), assignedBy: "tag" },
      });
    const [busy] = views([worker], [on7(1, "Running", 4), on7(2, "Locked", 1), on7(3, "Complete", 6)]);
    expect(busy).toMatchObject({
      instance: instanceId(7),
      worker_state: "running",
      running_container_uuids: [containerUuid(1), containerUuid(2)],
      last_container_uuid: containerUuid(2),
      last_busy: goTime(now),
    });
    const [idle] = views([worker], [on7(3, "Complete", 6)]);
    expect(idle).toMatchObject({
      worker_state: "idle",
      running_container_uuids: [],
      last_container_uuid: containerUuid(3),
    });
    expect(idle?.last_busy).toBe(goTime(at(-5 * MINUTE)));
  });

  it("containers packed onto one instance of a call in flight show as one create, not one each", () => {
    const intent = {
      ...launchIntent("type2"),
      batch: [`${containerUuid(1)}:1+${containerUuid(2)}:1`, `${containerUuid(3)}:1`],
    };
    const list = views(
      [],
      [1, 2, 3].map((i) => entry(i, { state: "Locked", launchIntent: intent })),
    );
    expect(list.map((v) => [v.instance, v.worker_state, v.arvados_instance_type])).toEqual([
      ["", "booting", "type2"],
      ["", "booting", "type2"],
    ]);
  });

  it("leaves out instances already on their way out", () => {
    expect(
      views([
        instance(1, { container: 1, state: "shutting-down" }),
        instance(2, { container: 1, state: "terminated" }),
      ]),
    ).toEqual([]);
  });
});
