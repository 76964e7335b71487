import { describe, expect, it } from "vitest";
import {
  type CreatedInstance,
  checkInvariants,
  everyContainerEnded,
  type FinalContainer,
  lockCountBelowMax,
  lockOfClientToken,
  noEntryForFinished,
  noInstanceLeft,
  oneInstancePerLock,
  type SoakOutcome,
  tokenNowhere,
  tokenScanPlaces,
} from "../../local/soak/invariants.js";
import { SecretScan } from "../../local/secret-scan.js";

/*
 * The fault soak's verdicts, from hand-made end states: each invariant passes on a clean end
 * and fails, naming the offender, on the state it exists to catch.
 */

const unsatisfiableError = "constraints not satisfiable by any configured instance type";
const uuid = (i: number) => `zzzzz-dz642-${String(i).padStart(15, "0")}`;
const token = (i: number, attempt: number, variant = "0123456789abcdef") => `${uuid(i)}-${attempt}-${variant}`;

function container(i: number, fields: Partial<FinalContainer> = {}): FinalContainer {
  return { uuid: uuid(i), label: `small-${i}`, state: "Complete", lockCount: 1, unsatisfiable: false, ...fields };
}

function instance(
  id: number,
  containerIndex: number,
  attempt: number,
  fields: Partial<CreatedInstance> = {},
): CreatedInstance {
  return {
    instanceId: `i-${id}`,
    containerUuid: uuid(containerIndex),
    clientToken: token(containerIndex, attempt),
    state: "terminated",
    ...fields,
  };
}

function outcome(fields: Partial<SoakOutcome> = {}): SoakOutcome {
  return {
    containers: [
      container(1),
      container(2, {
        label: "unsatisfiable-2",
        unsatisfiable: true,
        state: "Cancelled",
        runtimeError: unsatisfiableError,
        lockCount: 1,
      }),
    ],
    instances: [instance(1, 1, 1)],
    queueEntries: new Set(),
    maxDispatchAttempts: 10,
    unsatisfiableError,
    tokenScan: { checked: Object.fromEntries(tokenScanPlaces.map((place) => [place, 1])), leaks: [] },
    ...fields,
  };
}

describe("a clean end passes every invariant", () => {
  it("passes all six on a workload that ran once each", () => {
    expect(checkInvariants(outcome()).map((r) => [r.name, r.pass])).toEqual([
      ["every container Complete, or Cancelled for an upstream reason", true],
      ["at most one instance per container lock", true],
      ["no instance left running", true],
      ["no queue entry left for a finished container", true],
      ["lock_count below MaxDispatchAttempts (10)", true],
      ["the Arvados token in no log line or request but its Authorization header", true],
    ]);
  });
});

describe("nothing lost: every container ends, and only upstream may cancel", () => {
  it("fails for a container still Queued, Locked or Running", () => {
    for (const state of ["Queued", "Locked", "Running"]) {
      const r = everyContainerEnded(outcome({ containers: [container(1, { state })] }));
      expect({ state, pass: r.pass, example: r.examples[0] }).toEqual({
        state,
        pass: false,
        example: `small-1 ${uuid(1)} ${state}`,
      });
    }
  });

  it("fails for a satisfiable container Cancelled without an upstream reason", () => {
    const r = everyContainerEnded(
      outcome({ containers: [container(1, { state: "Cancelled", runtimeError: "not running on any instance" })] }),
    );
    expect(r.pass).toBe(false);
    expect(r.figures).toContain("wrong: Cancelled without an upstream reason 1");
  });

  it("accepts a Cancelled container upstream gave up on after MaxDispatchAttempts", () => {
    const runtimeError =
      "Failed to start container.  Cancelled after exceeding 'Containers.MaxDispatchAttempts' (lock_count=10)";
    const r = everyContainerEnded(
      outcome({ containers: [container(1, { state: "Cancelled", runtimeError, lockCount: 10 })] }),
    );
    expect(r.pass).toBe(true);
    expect(r.figures).toBe("1 containers: Cancelled (MaxDispatchAttempts) 1");
  });

  it("accepts a Cancelled container whose spot instance EC2 reclaimed while it ran, and only that one", () => {
    const reclaimed = container(1, { label: "spot-1", state: "Cancelled", spotReclaimed: true });
    const r = everyContainerEnded(outcome({ containers: [reclaimed, container(3, { state: "Cancelled" })] }));
    expect(r.pass).toBe(false);
    expect(r.figures).toBe(
      "2 containers: Cancelled (spot instance reclaimed) 1, wrong: Cancelled without an upstream reason 1",
    );
    expect(r.examples).toEqual([`small-3 ${uuid(3)} Cancelled`]);
  });

  it("accepts a Cancelled container whose instance ended under its running crunch-run (pool mode), and only that one", () => {
    const lost = container(1, { state: "Cancelled", instanceLost: true });
    const r = everyContainerEnded(outcome({ containers: [lost, container(3, { state: "Cancelled" })] }));
    expect(r.figures).toBe(
      "2 containers: Cancelled (instance ended while it ran) 1, wrong: Cancelled without an upstream reason 1",
    );
    expect(
      everyContainerEnded(outcome({ containers: [container(1, { state: "Running", instanceLost: true })] })).pass,
    ).toBe(false);
  });

  it("fails for an unsatisfiable container that was not Cancelled with upstream's error", () => {
    const wrong = container(2, { unsatisfiable: true, state: "Cancelled", runtimeError: "something else" });
    expect(everyContainerEnded(outcome({ containers: [wrong] })).pass).toBe(false);
  });
});

describe("nothing duplicated: at most one instance per container lock", () => {
  it("reads the container and lock attempt from the ClientToken", () => {
    expect(lockOfClientToken(token(7, 3))).toEqual({ uuid: uuid(7), attempt: 3 });
    expect(lockOfClientToken("not-a-token")).toBeUndefined();
    expect(lockOfClientToken(undefined)).toBeUndefined();
  });

  it("accepts one instance per lock, two locks of one container included", () => {
    const r = oneInstancePerLock(outcome({ instances: [instance(1, 1, 1), instance(2, 1, 2)] }));
    expect(r.pass).toBe(true);
    expect(r.figures).toContain("2 one-container instances created for 2 locks of 1 containers");
  });

  it("counts pool workers apart: one carries many locks and names none in its tag or ClientToken", () => {
    const worker: CreatedInstance = {
      instanceId: "i-9",
      clientToken: "f".repeat(64),
      state: "terminated",
      worker: true,
    };
    const r = oneInstancePerLock(outcome({ instances: [instance(1, 1, 1), worker] }));
    expect({ pass: r.pass, figures: r.figures }).toEqual({
      pass: true,
      figures:
        "1 one-container instances created for 1 locks of 1 containers (and 1 pool workers); locks with more than one: 0; instances without a container tag and ClientToken to match: 0",
    });
  });

  it("fails for two instances of one lock, even with different types or subnets (different token variants)", () => {
    const second = instance(2, 1, 1, { clientToken: token(1, 1, "fedcba9876543210") });
    const r = oneInstancePerLock(outcome({ instances: [instance(1, 1, 1), second] }));
    expect(r.pass).toBe(false);
    expect(r.examples).toEqual([`${uuid(1)} lock 1: i-1, i-2`]);
  });

  it("fails for an instance whose tag and ClientToken do not name the same container", () => {
    const r = oneInstancePerLock(outcome({ instances: [instance(1, 1, 1, { containerUuid: uuid(2) })] }));
    expect(r.pass).toBe(false);
  });
});

describe("nothing leaked", () => {
  it("fails for an instance still pending, running or stopped; accepts shutting-down", () => {
    for (const state of ["pending", "running", "stopped"]) {
      expect({ state, pass: noInstanceLeft(outcome({ instances: [instance(1, 1, 1, { state })] })).pass }).toEqual({
        state,
        pass: false,
      });
    }
    expect(noInstanceLeft(outcome({ instances: [instance(1, 1, 1, { state: "shutting-down" })] })).pass).toBe(true);
  });

  it("fails for a queue entry left behind by a finished container", () => {
    const r = noEntryForFinished(outcome({ queueEntries: new Set([uuid(1)]) }));
    expect(r.pass).toBe(false);
    expect(r.figures).toBe("1 of 2 finished containers still in the queue table (1 entries in all)");
  });
});

describe("no churn: lock_count stays below MaxDispatchAttempts", () => {
  it("reports the highest lock_count and fails once one reaches the limit", () => {
    const ok = lockCountBelowMax(
      outcome({ containers: [container(1, { lockCount: 9 }), container(3, { lockCount: 2 })] }),
    );
    expect(ok.pass).toBe(true);
    expect(ok.figures).toBe("max lock_count 9; containers by lock_count: 2: 1, 9: 1");
    expect(lockCountBelowMax(outcome({ containers: [container(1, { lockCount: 10 })] })).pass).toBe(false);
  });
});

describe("no secret out: the token in no log line or request", () => {
  const rootToken = "v2/zzzzz-gj3su-000000000000000/3kg6k6lzmp9kj5cpkcoxie963cmvjahbt2fod9zru30k1jqdmi";
  const scanOf = (texts: [(typeof tokenScanPlaces)[number], string][]) => {
    const scan = new SecretScan(rootToken);
    for (const place of tokenScanPlaces) scan.check(place, `${place}: nothing secret`);
    for (const [place, text] of texts) scan.check(place, text);
    return scan;
  };

  it("passes when every place was checked and nothing found", () => {
    const r = tokenNowhere(outcome({ tokenScan: scanOf([]) }));
    expect({ pass: r.pass, figures: r.figures }).toEqual({
      pass: true,
      figures: "0 found in 1 log lines, 1 Arvados requests, 1 EC2 requests, 1 DynamoDB requests",
    });
  });

  it("fails, naming the place and the form but never the token, for a leak in a log line, a request URL or user data", () => {
    const userData = encodeURIComponent(
      Buffer.from(`#!/bin/sh\nexport ARVADOS_API_TOKEN=${rootToken}\n`).toString("base64"),
    );
    const r = tokenNowhere(
      outcome({
        tokenScan: scanOf([
          [
            "log line",
            JSON.stringify({ level: "ERROR", message: "lock failed", error: { message: `bad token ${rootToken}` } }),
          ],
          ["Arvados request", `GET /arvados/v1/containers?api_token=${rootToken.split("/")[2]}`],
          ["EC2 request", `POST /\nAction=RunInstances&UserData=${userData}`],
        ]),
      }),
    );
    expect({ pass: r.pass, examples: r.examples }).toEqual({
      pass: false,
      examples: [
        "log line: the whole token",
        "Arvados request: the token's secret",
        "EC2 request: the whole token, base64-encoded",
      ],
    });
    expect(r.examples.join(" ") + r.figures).not.toContain(rootToken.split("/")[2]);
  });

  it("fails when a place was never checked: a tap that saw nothing proves nothing", () => {
    const checked = Object.fromEntries(tokenScanPlaces.filter((p) => p !== "EC2 request").map((p) => [p, 5]));
    const r = tokenNowhere(outcome({ tokenScan: { checked, leaks: [] } }));
    expect({ pass: r.pass, examples: r.examples }).toEqual({ pass: false, examples: ["EC2 request: none checked"] });
  });
});
