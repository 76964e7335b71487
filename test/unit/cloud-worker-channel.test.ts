import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { InvalidContainerUuidError } from "../../lib/model/container-uuid.js";
import { longestBootDeployment, maxUserDataBytes } from "../../lib/cloud/launch-user-data.js";
import { buildWorkerUserData, WorkerUserDataTooLargeError, workerUserDataRoom } from "../../lib/cloud/worker-agent.js";
import {
  assignmentTagBudget,
  buildOrderTagsInput,
  buildUnassignTagsInput,
  effectiveOrders,
  isImdsTagKey,
  maxTagValueLength,
  orderTagKey,
  orderTagValue,
  parseOrderTags,
  parseUserDataAssignments,
  userDataAssignments,
  WorkerChannelError,
} from "../../lib/cloud/worker-channel.js";
import { containerUuid } from "../support/fixtures.js";
import { agentArgs, posixShell } from "../support/worker-agent-harness.js";

const [c1, c2, c3] = [containerUuid(1), containerUuid(2), containerUuid(3)];

describe("user data assigns containers by ami-launch-index, one comment line per index", () => {
  it("writes `#arvados-run <index> <uuid>:<attempt> …` for each index with containers", () => {
    const text = userDataAssignments([
      [
        { containerUuid: c1, attempt: 1 },
        { containerUuid: c2, attempt: 2 },
      ],
      [],
      [{ containerUuid: c3, attempt: 1 }],
    ]);
    expect(text).toBe(`#arvados-run 0 ${c1}:1 ${c2}:2\n#arvados-run 2 ${c3}:1\n`);
  });

  it("reads back each index's own line only (index 1 is not index 10)", () => {
    const byIndex = Array.from({ length: 11 }, (_, i) => [{ containerUuid: containerUuid(i), attempt: i }]);
    const userData = `#!/bin/sh\necho hi\n${userDataAssignments(byIndex)}`;
    expect(parseUserDataAssignments(userData, 1)).toEqual([{ containerUuid: containerUuid(1), attempt: 1 }]);
    expect(parseUserDataAssignments(userData, 10)).toEqual([{ containerUuid: containerUuid(10), attempt: 10 }]);
    expect(parseUserDataAssignments(userData, 11)).toEqual([]);
  });

  it("refuses a value that is not a container uuid, or an attempt that is not an integer >= 0", () => {
    expect(() => userDataAssignments([[{ containerUuid: "zzzzz-dz642-x; reboot", attempt: 1 }]])).toThrow(
      InvalidContainerUuidError,
    );
    for (const attempt of [-1, 1.5, Number.NaN]) {
      expect(() => userDataAssignments([[{ containerUuid: c1, attempt }]])).toThrow(WorkerChannelError);
    }
  });
});

describe("a tag per container carries later orders: <prefix>Container:<uuid> = run:<attempt> | kill:<attempt>", () => {
  it("names the tag after the container and holds the action and attempt in the value", () => {
    expect(orderTagKey("Arvados", c1)).toBe(`ArvadosContainer:${c1}`);
    expect(orderTagValue("run", 3)).toBe("run:3");
    expect(orderTagValue("kill", 3)).toBe("kill:3");
  });

  it("makes keys IMDS can serve (letters, digits, + - = . , _ : @) and refuses a prefix that cannot", () => {
    expect(isImdsTagKey(orderTagKey("Arvados", c1))).toBe(true);
    expect(() => orderTagKey("Arvados ", c1)).toThrow(WorkerChannelError);
    expect(() => orderTagKey("arvados/", c1)).toThrow(WorkerChannelError);
    expect(() => orderTagKey("x".repeat(100), c1)).toThrow(WorkerChannelError);
  });

  it("fits a value in EC2's 256 characters whatever the attempt", () => {
    expect(orderTagValue("kill", Number.MAX_SAFE_INTEGER).length).toBeLessThanOrEqual(maxTagValueLength);
  });

  it("assigns with CreateTags and removes with DeleteTags naming the value, so a newer order survives", () => {
    const orders = [
      { containerUuid: c1, attempt: 2, action: "run" as const },
      { containerUuid: c2, attempt: 1, action: "kill" as const },
    ];
    const expected = {
      Resources: ["i-0123"],
      Tags: [
        { Key: `ArvadosContainer:${c1}`, Value: "run:2" },
        { Key: `ArvadosContainer:${c2}`, Value: "kill:1" },
      ],
    };
    expect(buildOrderTagsInput("Arvados", "i-0123", orders)).toEqual(expected);
    expect(buildUnassignTagsInput("Arvados", "i-0123", orders)).toEqual(expected);
  });

  it("parses orders back from tags, leaving out other tags and malformed orders", () => {
    const tags = {
      ArvadosInstanceSetID: "x",
      [`ArvadosContainer:${c1}`]: "run:2",
      [`ArvadosContainer:${c2}`]: "kill:7",
      [`ArvadosContainer:${c3}`]: "start:1",
      "ArvadosContainer:not-a-uuid": "run:1",
      [`OtherContainer:${c3}`]: "run:1",
    };
    expect(parseOrderTags("Arvados", tags)).toEqual([
      { containerUuid: c1, action: "run", attempt: 2 },
      { containerUuid: c2, action: "kill", attempt: 7 },
    ]);
  });

  it("a tag replaces the user data order of the same container (a kill reaches a user data container)", () => {
    const userData = userDataAssignments([
      [
        { containerUuid: c1, attempt: 1 },
        { containerUuid: c2, attempt: 1 },
      ],
    ]);
    const tags = { [`ArvadosContainer:${c2}`]: "kill:1", [`ArvadosContainer:${c3}`]: "run:5" };
    expect(effectiveOrders("Arvados", userData, 0, tags)).toEqual([
      { containerUuid: c1, attempt: 1, action: "run" },
      { containerUuid: c2, attempt: 1, action: "kill" },
      { containerUuid: c3, attempt: 5, action: "run" },
    ]);
  });

  it("leaves room for 50 tags per instance minus the dispatcher's own", () => {
    expect(assignmentTagBudget(5)).toBe(45);
    expect(assignmentTagBudget(60)).toBe(0);
  });
});

describe(`the worker's user data fits EC2's ${maxUserDataBytes} bytes, checked when it is built`, () => {
  it("leaves room for over 250 assignments at the longest deployment values", () => {
    const { assignments: _none, ...args } = agentArgs({
      apiHost: longestBootDeployment.apiHost,
      tokenParameterName: longestBootDeployment.tokenParameterName,
      region: longestBootDeployment.region,
    });
    const perContainer = `${c1}:1 `.length;
    expect(Math.floor(workerUserDataRoom(args) / perContainer)).toBeGreaterThan(250);
  });

  it("is exactly as large as the room says, and refused one byte past it", () => {
    const { assignments: _none, ...args } = agentArgs();
    const room = workerUserDataRoom(args);
    const line = (n: number) => [
      Array.from({ length: n }, (_, i) => ({ containerUuid: containerUuid(i), attempt: 1 })),
    ];
    const fits = Math.floor((room - "#arvados-run 0\n".length) / (c1.length + 3));
    expect(Buffer.byteLength(buildWorkerUserData({ ...args, assignments: line(fits) }))).toBeLessThanOrEqual(
      maxUserDataBytes,
    );
    let thrown: unknown;
    try {
      buildWorkerUserData({ ...args, assignments: line(fits + 1) });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(WorkerUserDataTooLargeError);
    expect((thrown as WorkerUserDataTooLargeError).bytes).toBeGreaterThan(maxUserDataBytes);
  });

  it("is a valid POSIX shell program for the shell instances run (sh -n)", () => {
    const script = buildWorkerUserData(
      agentArgs({
        instanceSecret: "x'; reboot; '",
        crunchRunArgs: ["$(id)", "a b"],
        assignments: [[{ containerUuid: c1, attempt: 1 }]],
      }),
    );
    expect(() => execFileSync(posixShell, ["-n", "-c", script])).not.toThrow();
  });

  it("refuses a TagKeyPrefix that makes tag keys IMDS cannot serve, and a poll interval that is not positive", () => {
    expect(() => buildWorkerUserData(agentArgs({ tagKeyPrefix: "Arvados Dev" }))).toThrow(WorkerChannelError);
    expect(() => buildWorkerUserData(agentArgs({ pollSeconds: 0 }))).toThrow(/pollSeconds/);
  });
});
