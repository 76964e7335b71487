import { describe, expect, it } from "vitest";
import type { Json } from "../../local/event-filter.js";
import { EventRules, type RuleTarget } from "../../local/runner/event-rules.js";
import { scheduledEvent } from "../../local/runner/schedules.js";
import { readServerlessSpec } from "../../local/runner/serverless-mappings.js";
import { spotInterruptionWarning } from "../../local/runner/spot-reclaimer.js";

/** serverless.yml's own eventBridge rules, with targets that record what they were given. */
function rulesFromServerlessYml() {
  const received: { name: string; event: unknown }[] = [];
  const spec = readServerlessSpec({ overrides: { clusterId: "zzzzz" } });
  const target = (name: string): RuleTarget => ({
    name,
    invoke: async (event) => {
      received.push({ name, event });
    },
  });
  return {
    rules: new EventRules(spec.functions.map((f) => ({ target: target(f.name), patterns: f.eventBridgePatterns }))),
    received,
  };
}

describe("serverless.yml's EventBridge rules, run locally", () => {
  it("deliver a spot interruption warning to cleanup only", async () => {
    const { rules, received } = rulesFromServerlessYml();
    const warning = spotInterruptionWarning("i-0123456789abcdef0", "us-east-1");
    expect(rules.publish(warning)).toEqual(["cleanup"]);
    await Promise.resolve();
    expect(received).toEqual([{ name: "cleanup", event: warning }]);
    expect(rules.stats.get("cleanup")).toEqual({ delivered: 1, failed: 0 });
  });

  it("deliver nothing for events no pattern names (schedules have their own timers)", () => {
    const { rules } = rulesFromServerlessYml();
    const tick = JSON.parse(JSON.stringify(scheduledEvent("cleanup-schedule", "us-east-1"))) as Json;
    expect(rules.publish(tick)).toEqual([]);
    expect(
      rules.publish({ source: "aws.ec2", "detail-type": "EC2 Instance State-change Notification", detail: {} }),
    ).toEqual([]);
  });

  it("count a failed invocation and tell the runner", async () => {
    const errors: string[] = [];
    const failing: RuleTarget = { name: "cleanup", invoke: () => Promise.reject(new Error("boom")) };
    const rules = new EventRules([{ target: failing, patterns: [{ source: ["aws.ec2"] }] }], (name, err) =>
      errors.push(`${name}: ${(err as Error).message}`),
    );
    rules.publish({ source: "aws.ec2" });
    await new Promise((resolve) => setImmediate(resolve));
    expect(rules.stats.get("cleanup")).toEqual({ delivered: 1, failed: 1 });
    expect(errors).toEqual(["cleanup: boom"]);
  });
});
