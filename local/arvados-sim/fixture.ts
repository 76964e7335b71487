/**
 * Test-fixture records: a container stored exactly as given, in any state, without the API's
 * rules, with consistent values for whatever was not given. Shared by the simulator's
 * `addContainer` control and the simulator's own tests.
 */

import { ContainerState, isContainerState, isFinalState } from "../../lib/model/container.js";
import { SimError } from "./errors.js";
import { containerPriority, defaultRequestPriority, exactPriority, priorityEpochMs } from "./priority.js";
import { type SimContainer, asRecord, columnDefaults, fillContainerDefaults, isColumn } from "./record.js";
import { etagOf } from "./rules.js";

/** What a fixture needs from its surroundings. */
export interface FixtureContext {
  uuid: string;
  now: string;
  /** Token uuid and user uuid a Locked/Running fixture is locked by and owned by. */
  lockedBy: string;
  ownerUuid: string;
  newAuthUuid: () => string;
  /**
   * The priority the API server assigned (§5.6), from the container's request or the container
   * that requested it; default: a request of priority 500 created at `now`.
   */
  assignedPriority?: bigint;
}

/**
 * Builds a record from `fields` (any container columns). Unset fields get: the priority the
 * API server would assign (`ctx.assignedPriority`, else that of a container request of
 * priority 500, the CWL runner's default: 500 × 2^50 − created_at ms, about 5.6e17), a small
 * runtime_constraints, a command, image and output path; for Locked/Running, locked by
 * `ctx.lockedBy` with an auth_uuid and lock_count 1; started_at for Running/Complete,
 * finished_at for final states, exit_code 0 for Complete. A `priority` given is stored exactly
 * (a bigint, a safe integer or a decimal string), as an admin may set it (§5.6): small numbers
 * are the special case. Throws SimError(400) on an unknown field, state or priority.
 */
export function fixtureRecord(fields: Readonly<Record<string, unknown>>, ctx: FixtureContext): SimContainer {
  for (const name of Object.keys(fields)) {
    if (!isColumn(name)) throw new SimError(400, [`unknown container field '${name}'`]);
  }
  const state = fields.state ?? ContainerState.Queued;
  if (!isContainerState(state)) throw new SimError(400, [`invalid state '${String(state)}'`]);
  const active = state === ContainerState.Locked || state === ContainerState.Running;
  let priority = ctx.assignedPriority ?? containerPriority(defaultRequestPriority, priorityEpochMs(ctx.now));
  if (fields.priority !== undefined) {
    const given = exactPriority(fields.priority);
    if (given === undefined) {
      throw new SimError(400, [
        `invalid priority ${String(fields.priority)}: an integer 0 … 2^63−1 as a bigint, a safe integer or a decimal string`,
      ]);
    }
    priority = given;
  }
  const record: Record<string, unknown> = Object.assign({}, columnDefaults, {
    uuid: ctx.uuid,
    owner_uuid: ctx.ownerUuid,
    created_at: ctx.now,
    modified_at: ctx.now,
    modified_by_user_uuid: ctx.ownerUuid,
    command: ["echo", "hello"],
    container_image: "d41d8cd98f00b204e9800998ecf8427e+0",
    output_path: "/out",
    runtime_constraints: { ram: 268435456, vcpus: 1 },
    locked_by_uuid: active ? ctx.lockedBy : null,
    auth_uuid: active ? ctx.newAuthUuid() : null,
    lock_count: active ? 1 : 0,
    started_at: state === ContainerState.Running || state === ContainerState.Complete ? ctx.now : null,
    finished_at: isFinalState(state) ? ctx.now : null,
    exit_code: state === ContainerState.Complete ? 0 : null,
  });
  Object.assign(record, fields, { state, priority });
  fillContainerDefaults(record);
  record.etag = etagOf(record);
  return asRecord(record);
}
