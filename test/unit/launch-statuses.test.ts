import { describe, expect, it } from "vitest";
import { exactPositionsUpTo, statusChanged } from "../../lib/launch/statuses.js";
import { instanceTypeAtCapacityStatus, newInstanceStatus, queuePositionStatus } from "../../lib/scheduler/status.js";

const atPosition = (n: number) => queuePositionStatus(n, false);

describe("a scheduling status is stored when it tells the user something new", () => {
  it("stores a first status, and any change of wording or type", () => {
    expect(statusChanged(undefined, atPosition(500))).toBe(true);
    expect(statusChanged(atPosition(5), newInstanceStatus("m5.large"))).toBe(true);
    expect(statusChanged(atPosition(500), queuePositionStatus(500, true))).toBe(true);
    expect(statusChanged(instanceTypeAtCapacityStatus(40, ["a"]), instanceTypeAtCapacityStatus(40, ["a", "b"]))).toBe(
      true,
    );
  });

  it("stores nothing when the status is the same", () => {
    expect(statusChanged(atPosition(500), atPosition(500))).toBe(false);
    expect(statusChanged(newInstanceStatus("m5.large"), newInstanceStatus("m5.large"))).toBe(false);
  });

  it("keeps positions at the head of the line exact", () => {
    for (let n = 1; n <= exactPositionsUpTo; n++) expect(statusChanged(atPosition(n + 1), atPosition(n))).toBe(true);
  });

  it("rewrites a position past the head only once it drifts by a quarter", () => {
    expect(statusChanged(atPosition(400), atPosition(399))).toBe(false);
    expect(statusChanged(atPosition(400), atPosition(301))).toBe(false);
    expect(statusChanged(atPosition(400), atPosition(300))).toBe(true);
    expect(statusChanged(atPosition(400), atPosition(500))).toBe(true);
    expect(statusChanged(instanceTypeAtCapacityStatus(40, ["a"]), instanceTypeAtCapacityStatus(39, ["a"]))).toBe(false);
  });

  it("writes a draining backlog's positions a few dozen times per container, not once per pass", () => {
    // 740 waiting, 5 leave the head per pass: count one container's writes from the back of the line.
    let stored = atPosition(740);
    let writes = 1;
    for (let position = 735; position >= 1; position -= 5) {
      if (statusChanged(stored, atPosition(position))) {
        stored = atPosition(position);
        writes++;
      }
    }
    expect(writes).toBeLessThan(30);
  });
});
