/**
 * A workload for the local runner: containers to submit to the Arvados simulator (sizes in
 * Arvados units, GPU and scheduling parameters, the priority of the container request, when to
 * submit) with how long each "runs" once crunch-run starts it, plus EC2 faults to inject.
 * local/workload.json is the default; `npm start -- --workload <file.json>` takes another
 * in the same shape.
 *
 * `priority` is the container REQUEST's priority (0 … 1000, the CWL runner's default 500), as
 * a user gives it; the simulator assigns the container's priority as the API server does
 * (§5.6): request priority × 2^50 − the request's created_at in ms, an int64 of about 5.6e17
 * for 500. The request is created when the container is submitted, unless
 * `requestCreatedAtOffsetMs` pins it: then the copies of a `count` are requested 1 ms apart, so
 * their container priorities differ by exactly 1 (two values one double cannot tell apart).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { byteSizeResult } from "../lib/config/units.js";
import { defaultRequestPriority, maxRequestPriority } from "./arvados-sim/priority.js";

/** The default workload file. */
export const defaultWorkloadPath = fileURLToPath(new URL("./workload.json", import.meta.url));

const byteSize = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const r = byteSizeResult(value);
  if (r.ok) return r.value;
  ctx.addIssue({ code: "custom", message: r.message });
  return z.NEVER;
});

const gpuSchema = z
  .object({
    stack: z.string(),
    device_count: z.number().int().nonnegative(),
    driver_version: z.string().default(""),
    hardware_target: z.array(z.string()).default([]),
    vram: byteSize.default(0),
  })
  .strict();

const containerSchema = z
  .object({
    /** Shown in the display and summary; a `count` > 1 numbers the copies. */
    name: z.string().min(1),
    count: z.number().int().positive().default(1),
    /** The container request's priority, 0 … 1000 (§5.6); the container's priority is computed from it. */
    priority: z.number().int().min(0).max(maxRequestPriority).default(defaultRequestPriority),
    /**
     * Pins the request's created_at to the run's start + submitAfterSeconds + this many ms, and
     * each further copy of a `count` 1 ms later (default: the moment the container is
     * submitted). That fixes the container priorities (request priority × 2^50 − created_at ms)
     * relative to each other exactly: copies of one line differ by exactly 1, the first highest.
     */
    requestCreatedAtOffsetMs: z.number().int().optional(),
    ram: byteSize,
    vcpus: z.number().int().nonnegative(),
    keepCacheRam: byteSize.default(0),
    /** A tmp mount of this capacity (scratch space). */
    scratch: byteSize.optional(),
    gpu: gpuSchema.optional(),
    preemptible: z.boolean().default(false),
    supervisor: z.boolean().default(false),
    /** Seconds from the start of the run to submission; with `after`, from the moment that line ended. */
    submitAfterSeconds: z.number().nonnegative().default(0),
    /**
     * The `name` of an earlier line: these containers are submitted once every container of that
     * line is final, as a workflow submits its next step (a scatter's next wave) when the last
     * one ends.
     */
    after: z.string().min(1).optional(),
    /** Seconds crunch-run "runs" the container; default: the workload's runtimeSeconds. */
    runtimeSeconds: z.number().nonnegative().optional(),
    exitCode: z.number().int().default(0),
    /** EC2 reclaims the container's spot instance once it has run this long (preemptible only; once per container). */
    spotInterruptionAfterSeconds: z.number().nonnegative().optional(),
  })
  .strict()
  .refine((c) => c.spotInterruptionAfterSeconds === undefined || c.preemptible, {
    message: "spotInterruptionAfterSeconds needs preemptible: true (only spot instances are reclaimed)",
    path: ["spotInterruptionAfterSeconds"],
  });

const faultSchema = z
  .object({
    code: z.string(),
    instanceType: z.string().optional(),
    times: z.number().int().positive().optional(),
  })
  .strict();

const workloadSchema = z
  .object({
    description: z.string().optional(),
    runtimeSeconds: z.number().nonnegative().default(5),
    /**
     * Seconds (local) from an instance's launch to its agent starting (EC2's boot and cloud-init).
     * Default: a realistic 90 s of EC2 time scaled by the tick (local/worker-sim/local-workers.ts),
     * for pool workers and one-container instances alike.
     */
    bootSeconds: z.number().nonnegative().optional(),
    /** EC2 errors injected into RunInstances at the start (e.g. capacity errors on the cheapest type). */
    ec2Faults: z.array(faultSchema).default([]),
    containers: z.array(containerSchema).min(1),
  })
  .strict()
  .superRefine((w, ctx) => {
    const seen = new Set<string>();
    for (const [i, c] of w.containers.entries()) {
      if (c.after !== undefined && !seen.has(c.after))
        ctx.addIssue({
          code: "custom",
          message: `after ${JSON.stringify(c.after)} names no earlier line`,
          path: ["containers", i, "after"],
        });
      if (c.after !== undefined && c.requestCreatedAtOffsetMs !== undefined)
        ctx.addIssue({
          code: "custom",
          message: "requestCreatedAtOffsetMs counts from the run's start: not with after",
          path: ["containers", i, "requestCreatedAtOffsetMs"],
        });
      seen.add(c.name);
    }
  });

/** A parsed workload (sizes in bytes). */
export type Workload = z.infer<typeof workloadSchema>;
/** One container line of a workload. */
export type WorkloadContainer = z.infer<typeof containerSchema>;

/** A workload file does not parse; the message lists every problem. */
export class WorkloadError extends Error {
  override readonly name = "WorkloadError";
}

/** Validates a workload object (e.g. JSON.parse of a file). */
export function parseWorkload(value: unknown, source = "workload"): Workload {
  const result = workloadSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
    throw new WorkloadError(`${source}: ${issues.join("; ")}`);
  }
  return result.data;
}

/** Reads and validates a workload file (default: local/workload.json). */
export function loadWorkload(path = defaultWorkloadPath): Workload {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new WorkloadError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new WorkloadError(`${path}: not JSON (${(err as Error).message})`);
  }
  return parseWorkload(json, path);
}

/** One container to submit: its label, its fields and request for the simulator, and how crunch-run plays it. */
export interface PlannedContainer {
  label: string;
  /** Container columns (no priority: the simulator assigns it from the request). */
  fields: Record<string, unknown>;
  /** The container request's priority, 0 … 1000. */
  requestPriority: number;
  /** The request's created_at, in ms from the start of the run; absent: when it is submitted. */
  requestCreatedAtMs?: number;
  /** The workload line it comes from (its `name`). */
  line: string;
  /** The line whose end starts `submitAfterMs`; absent: the run's start does. */
  after?: string;
  submitAfterMs: number;
  runtimeMs: number;
  exitCode: number;
  /** When EC2 reclaims its spot instance, counted from the container starting to run. */
  spotInterruptionAfterMs?: number;
}

/** Expands `count`s and builds the container fields (runtime_constraints, scheduling_parameters, mounts) and requests. */
export function planWorkload(workload: Workload): PlannedContainer[] {
  return workload.containers.flatMap((c) =>
    Array.from({ length: c.count }, (_, i): PlannedContainer => {
      const fields: Record<string, unknown> = {
        runtime_constraints: {
          ram: c.ram,
          vcpus: c.vcpus,
          keep_cache_ram: c.keepCacheRam,
          ...(c.gpu === undefined ? {} : { gpu: c.gpu }),
        },
        scheduling_parameters: { preemptible: c.preemptible, supervisor: c.supervisor },
        command: ["sleep", String(c.runtimeSeconds ?? workload.runtimeSeconds)],
        ...(c.scratch === undefined ? {} : { mounts: { "/tmp": { kind: "tmp", capacity: c.scratch } } }),
      };
      return {
        label: c.count > 1 ? `${c.name}-${i + 1}` : c.name,
        fields,
        requestPriority: c.priority,
        ...(c.requestCreatedAtOffsetMs === undefined
          ? {}
          : { requestCreatedAtMs: Math.round(c.submitAfterSeconds * 1000) + c.requestCreatedAtOffsetMs + i }),
        line: c.name,
        ...(c.after === undefined ? {} : { after: c.after }),
        submitAfterMs: c.submitAfterSeconds * 1000,
        runtimeMs: (c.runtimeSeconds ?? workload.runtimeSeconds) * 1000,
        exitCode: c.exitCode,
        ...(c.spotInterruptionAfterSeconds === undefined
          ? {}
          : { spotInterruptionAfterMs: c.spotInterruptionAfterSeconds * 1000 }),
      };
    }),
  );
}
