import { describe, expect, it } from "vitest";
import { simApi, simFailure } from "../support/arvados-sim-api.js";
import { type ContainerState, containerStates, stateTransitions } from "../../lib/model/container.js";

const api = simApi;
const failure = simFailure;

describe("§5.3 state changes follow Container::State_transitions", () => {
  for (const from of containerStates) {
    for (const to of containerStates) {
      if (from === to) continue;
      const allowed = stateTransitions[from].includes(to);
      it(`${from} → ${to} is ${allowed ? "allowed" : "422 cannot change"}`, () => {
        const { service, add, root } = api();
        const c = add({ state: from });
        if (allowed) {
          expect(service.update(root, c.uuid, { container: JSON.stringify({ state: to }) }).state).toBe(to);
        } else {
          const error = failure(() => service.update(root, c.uuid, { container: { state: to } }));
          expect(error.status).toBe(422);
          expect(error.messages).toContain(`State cannot change from ${from} to ${to}`);
        }
      });
    }
  }
});

describe("§5.3 timestamps are set on entering Running and final states", () => {
  it("sets started_at when a container starts running", () => {
    const { service, add, root } = api();
    const c = add({ state: "Locked" });
    const running = service.update(root, c.uuid, { container: { state: "Running" } });
    expect(running.started_at).toEqual(expect.stringMatching(/^2024-01-01T00:00:00\.\d{9}Z$/));
    expect(running.finished_at).toBeNull();
  });
  it.each(["Complete", "Cancelled"] as const)("sets finished_at on %s", (state) => {
    const { service, add, root } = api();
    const c = add({ state: "Running" });
    expect(service.update(root, c.uuid, { container: { state } }).finished_at).toEqual(expect.any(String));
  });
});

describe("§5.4 locked_by_uuid and auth_uuid are kept only while Locked or Running", () => {
  it("clears both when a Running container completes", () => {
    const { service, add, root } = api();
    const c = add({ state: "Running" });
    expect(c.locked_by_uuid).toBe(root.tokenUuid);
    const done = service.update(root, c.uuid, { container: { state: "Complete", exit_code: 0 } });
    expect(done).toMatchObject({ locked_by_uuid: null, auth_uuid: null, exit_code: 0 });
  });
  it("rejects setting locked_by_uuid to another token", () => {
    const { service, add, root, otherDispatcher } = api();
    const c = add({ state: "Locked" });
    const error = failure(() =>
      service.update(root, c.uuid, { container: { locked_by_uuid: otherDispatcher.tokenUuid } }),
    );
    expect(error.status).toBe(422);
    expect(error.messages).toContain(`Locked by uuid can only change to ${root.tokenUuid}`);
  });
});

describe("§5.4 lock takes a Queued container with priority > 0 for the calling token", () => {
  it("locks: state Locked, locked_by_uuid = caller, lock_count + 1, a new auth_uuid", () => {
    const { service, store, add, otherDispatcher } = api();
    const c = add({ priority: 7, lock_count: 2 });
    const reply = service.lock(otherDispatcher, c.uuid);
    expect(Object.keys(reply).sort()).toEqual(["auth_uuid", "kind", "locked_by_uuid", "priority", "state", "uuid"]);
    expect(reply).toMatchObject({
      state: "Locked",
      priority: 7n,
      locked_by_uuid: otherDispatcher.tokenUuid,
      kind: "arvados#container",
    });
    expect(reply.auth_uuid).toEqual(expect.stringMatching(/^zzzzz-gj3su-[0-9a-z]{15}$/));
    expect(store.get(c.uuid)?.lock_count).toBe(3);
  });
  it.each(["Locked", "Running", "Complete", "Cancelled"] as const)(
    "refuses with 422 'cannot lock when %s'",
    (state) => {
      const { service, add, root } = api();
      const c = add({ state });
      const error = failure(() => service.lock(root, c.uuid));
      expect(error.status).toBe(422);
      expect(error.messages).toEqual([`#<ArvadosModel::LockFailedError: cannot lock when ${state}>`]);
    },
  );
  it("refuses with 422 'cannot lock when priority<=0' and leaves the container Queued", () => {
    const { service, store, add, root } = api();
    const c = add({ priority: 0 });
    const error = failure(() => service.lock(root, c.uuid));
    expect(error.status).toBe(422);
    expect(error.messages).toEqual(["#<ArvadosModel::LockFailedError: cannot lock when priority<=0>"]);
    expect(store.get(c.uuid)).toMatchObject({ state: "Queued", lock_count: 0 });
  });
  it("refuses a non-admin token with 403", () => {
    const { service, add, user } = api();
    const c = add();
    service.makeVisible(c.uuid, user.tokenUuid);
    expect(failure(() => service.lock(user, c.uuid)).status).toBe(403);
  });
  it("gives 404 for a container the caller cannot see", () => {
    const { service, add, user } = api();
    const c = add();
    expect(failure(() => service.lock(user, c.uuid))).toMatchObject({ status: 404, messages: ["Path not found"] });
  });
});

describe("§5.4 unlock returns a container to the queue for the token that locked it", () => {
  it("unlocks: Queued, locked_by_uuid and auth_uuid null, runtime_status cleared", () => {
    const { service, store, add, root } = api();
    const c = add({ state: "Locked", runtime_status: { warning: "slow" } });
    const reply = service.unlock(root, c.uuid);
    expect(reply).toMatchObject({ state: "Queued", locked_by_uuid: null, auth_uuid: null });
    expect(store.get(c.uuid)?.runtime_status).toEqual({});
  });
  it.each(["Queued", "Running", "Complete", "Cancelled"] as const)(
    "refuses with 422 'cannot unlock when %s'",
    (state) => {
      const { service, add, root } = api();
      const c = add({ state });
      const error = failure(() => service.unlock(root, c.uuid));
      expect(error.status).toBe(422);
      expect(error.messages).toEqual([`#<ArvadosModel::InvalidStateTransitionError: cannot unlock when ${state}>`]);
    },
  );
  it("refuses another token with 403 'locked by a different token'", () => {
    const { service, store, add, otherDispatcher } = api();
    const c = add({ state: "Locked" });
    const error = failure(() => service.unlock(otherDispatcher, c.uuid));
    expect(error.status).toBe(403);
    expect(error.messages).toEqual(["#<ArvadosModel::PermissionDeniedError: locked by a different token>"]);
    expect(store.get(c.uuid)?.state).toBe("Locked");
  });
  it("applies the same check to an update to Queued", () => {
    const { service, add, otherDispatcher } = api();
    const c = add({ state: "Locked" });
    expect(failure(() => service.update(otherDispatcher, c.uuid, { container: { state: "Queued" } })).status).toBe(403);
  });
});

describe("§5.4 unlock cancels once lock_count reaches MaxDispatchAttempts", () => {
  it("cancels with upstream's runtime_status error at lock_count 10", () => {
    const { service, store, add, root } = api();
    const c = add({ state: "Locked", lock_count: 10 });
    const reply = service.unlock(root, c.uuid);
    expect(reply).toMatchObject({ state: "Cancelled", locked_by_uuid: null, auth_uuid: null });
    expect(store.get(c.uuid)?.runtime_status).toEqual({
      error: "Failed to start container.  Cancelled after exceeding 'Containers.MaxDispatchAttempts' (lock_count=10)",
    });
  });
  it("requeues below the limit", () => {
    const { service, add, root } = api();
    const c = add({ state: "Locked", lock_count: 9 });
    expect(service.unlock(root, c.uuid).state).toBe("Queued");
  });
  it("uses the configured limit, counting each lock", () => {
    const { service, add, root } = api({ maxDispatchAttempts: 2 });
    const c = add();
    service.lock(root, c.uuid);
    expect(service.unlock(root, c.uuid).state).toBe("Queued");
    service.lock(root, c.uuid);
    expect(service.unlock(root, c.uuid).state).toBe("Cancelled");
  });
});

describe("§5.5 who may change what", () => {
  it("refuses any update by a non-admin token with 403", () => {
    const { service, add, user } = api();
    const c = add();
    service.makeVisible(c.uuid, user.tokenUuid);
    expect(failure(() => service.update(user, c.uuid, { container: { priority: 3 } })).status).toBe(403);
  });
  it("lets an admin set priority in Queued, Locked and Running", () => {
    const { service, add, root } = api();
    for (const state of ["Queued", "Locked", "Running"] as ContainerState[]) {
      const c = add({ state });
      expect(service.update(root, c.uuid, { container: { priority: 9 } }).priority).toBe(9n);
    }
  });
  it("refuses runtime_status on a Queued container without a state change", () => {
    const { service, add, root } = api();
    const c = add();
    const error = failure(() => service.update(root, c.uuid, { container: { runtime_status: { error: "x" } } }));
    expect(error.status).toBe(422);
    expect(error.messages[0]).toMatch(/^Runtime status cannot be modified in state 'Queued'/);
  });
  it("accepts runtime_status from the token holding the lock", () => {
    const { service, add, root } = api();
    const c = add({ state: "Locked" });
    const updated = service.update(root, c.uuid, { container: { runtime_status: { error: "no fit" } } });
    expect(updated.runtime_status).toEqual({ error: "no fit" });
  });
  it("accepts runtime_status with Queued → Cancelled", () => {
    const { service, add, root } = api();
    const c = add();
    const updated = service.update(root, c.uuid, {
      container: { state: "Cancelled", runtime_status: { error: "no fit" } },
    });
    expect(updated).toMatchObject({ state: "Cancelled", runtime_status: { error: "no fit" } });
  });
  it("strips progress attributes from an admin whose token does not hold the lock", () => {
    const { service, add, otherDispatcher } = api();
    const c = add({ state: "Locked" });
    const error = failure(() =>
      service.update(otherDispatcher, c.uuid, { container: { runtime_status: { error: "x" } } }),
    );
    expect(error.status).toBe(422);
    expect(error.messages[0]).toMatch(/^Runtime status cannot be modified in state 'Locked'/);
  });
  it("rejects an unknown attribute", () => {
    const { service, add, root } = api();
    const c = add();
    const error = failure(() => service.update(root, c.uuid, { container: { bogus: 1 } }));
    expect(error).toMatchObject({
      status: 422,
      messages: ["#<ActiveModel::UnknownAttributeError: unknown attribute 'bogus' for Container.>"],
    });
  });
  it("rejects a runtime_status error that is not a string", () => {
    const { service, add, root } = api();
    const c = add({ state: "Locked" });
    const error = failure(() => service.update(root, c.uuid, { container: { runtime_status: { error: 1 } } }));
    expect(error.messages).toContain("Runtime status 'error' value must be a string");
  });
  it("bumps modified_at only when something changed", () => {
    const { service, store, add, root } = api();
    const c = add({ priority: 4 });
    service.update(root, c.uuid, { container: { priority: 4 } });
    expect(store.get(c.uuid)?.modified_at).toBe(c.modified_at);
    service.update(root, c.uuid, { container: { priority: 5 } });
    expect((store.get(c.uuid)?.modified_at ?? "") > c.modified_at).toBe(true);
  });
});

describe("§5.1 create is admin only and fills upstream's defaults", () => {
  const attrs = {
    command: ["true"],
    container_image: "d41d8cd98f00b204e9800998ecf8427e+0",
    output_path: "/out",
    priority: 1,
  };
  it("creates a Queued container with fill_container_defaults applied", () => {
    const { service, root } = api();
    const created = service.create(root, {
      container: JSON.stringify({ ...attrs, runtime_constraints: { ram: 1024, vcpus: 2 } }),
    });
    expect(created).toMatchObject({
      uuid: expect.stringMatching(/^zzzzz-dz642-[0-9a-z]{15}$/),
      state: "Queued",
      lock_count: 0,
      locked_by_uuid: null,
      runtime_constraints: {
        API: false,
        ram: 1024,
        vcpus: 2,
        keep_cache_ram: 0,
        keep_cache_disk: 0,
        gpu: { device_count: 0, driver_version: "", hardware_target: [], stack: "", vram: 0 },
      },
      scheduling_parameters: { max_run_time: 0, partitions: [], preemptible: false, supervisor: false },
    });
    expect(created.created_at).toBe(created.modified_at);
  });
  it("stores unset columns as NULL, so '=' null filters find the new container", () => {
    const { service, root } = api();
    const created = service.create(root, { container: attrs });
    const listed = service.index(root, { filters: '[["exit_code","=",null],["finished_at","=",null]]' }) as {
      items: { uuid: string }[];
    };
    expect(listed.items.map((i) => i.uuid)).toEqual([created.uuid]);
  });
  it("refuses a non-admin token with 403", () => {
    const { service, user } = api();
    expect(failure(() => service.create(user, { container: attrs })).status).toBe(403);
  });
  it("requires command, container_image and output_path", () => {
    const { service, root } = api();
    const error = failure(() => service.create(root, { container: {} }));
    expect(error.status).toBe(422);
    expect(error.messages).toEqual(
      expect.arrayContaining([
        "Command can't be blank",
        "Container image can't be blank",
        "Output path can't be blank",
      ]),
    );
  });
  it("refuses to create in any state but Queued", () => {
    const { service, root } = api();
    const error = failure(() => service.create(root, { container: { ...attrs, state: "Locked" } }));
    expect(error.messages).toContain("State cannot change from  to Locked");
  });
});
