/**
 * Scheduling status texts (§3.3 status table, upstream `run_queue.go` constants), verbatim
 * including the two spaces after each full stop, so operators see upstream's wording. `%v`
 * marks where the formatters below substitute.
 */
export const SchedulingStatus = {
  preparing: "Container is allocated to an instance and preparing to run.",
  priorityZero: "This container will not be scheduled to run because its priority is 0 and state is %v.",
  supervisorLimit:
    "Waiting in workflow queue at position %v.  Cluster is at capacity and cannot start any new workflows right now.",
  previousAttempt: "Waiting for previous container attempt to exit.",
  newInstance: "Waiting for a %v instance to boot and be ready to accept work.",
  instanceTypeAtCapacity:
    "Waiting in queue at position %v.  Cluster is at capacity for all eligible instance types (%v) and cannot start a new instance right now.",
  cloudResources:
    "Waiting in queue at position %v.  Cluster is at cloud account limits and cannot start any new instances right now.",
  clusterCapacity:
    "Waiting in queue at position %v.  Cluster is at capacity and cannot start any new instances right now.",
} as const;

/** Substitutes `values` for the `%v` markers of `template`, in order (Go's fmt.Sprintf with %v). */
function format(template: string, ...values: (string | number)[]): string {
  let i = 0;
  return template.replace(/%v/g, () => String(values[i++] ?? ""));
}

/** "…priority is 0 and state is <state>." */
export function priorityZeroStatus(state: string): string {
  return format(SchedulingStatus.priorityZero, state);
}

/** "Waiting in workflow queue at position <n>…" */
export function supervisorLimitStatus(position: number): string {
  return format(SchedulingStatus.supervisorLimit, position);
}

/** "Waiting for a <type> instance to boot…" */
export function newInstanceStatus(typeName: string): string {
  return format(SchedulingStatus.newInstance, typeName);
}

/** "…at capacity for all eligible instance types (<a, b>)…"; names joined as upstream does. */
export function instanceTypeAtCapacityStatus(position: number, typeNames: readonly string[]): string {
  return format(SchedulingStatus.instanceTypeAtCapacity, position, typeNames.join(", "));
}

/** The queue-position status given to every waiting entry without a more specific one. */
export function queuePositionStatus(position: number, atQuota: boolean): string {
  return format(atQuota ? SchedulingStatus.cloudResources : SchedulingStatus.clusterCapacity, position);
}
