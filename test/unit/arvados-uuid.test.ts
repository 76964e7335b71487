import { describe, expect, it } from "vitest";
import {
  InvalidContainerUuidError,
  checkContainerUuid,
  containerUuidPattern,
  isContainerUuid,
} from "../../lib/model/container-uuid.js";

describe("a container uuid is <5 lowercase alphanumerics>-dz642-<15 lowercase alphanumerics>", () => {
  it("the pattern is upstream's shape with the containers' infix", () => {
    expect(containerUuidPattern.source).toBe("^[a-z0-9]{5}-dz642-[a-z0-9]{15}$");
  });

  it.each(["zzzzz-dz642-000000000000001", "x1y2z-dz642-abcdefghij12345", "9tee4-dz642-lyh7ouqrzv1i3ku"])(
    "accepts %s",
    (uuid) => {
      expect(isContainerUuid(uuid)).toBe(true);
      expect(checkContainerUuid(uuid)).toBe(uuid);
    },
  );

  it.each([
    ["another object type (a container request)", "zzzzz-xvhdp-000000000000001"],
    ["14 characters after the infix", "zzzzz-dz642-00000000000001"],
    ["16 characters after the infix", "zzzzz-dz642-0000000000000001"],
    ["upper case", "ZZZZZ-dz642-000000000000001"],
    ["a trailing newline", "zzzzz-dz642-000000000000001\n"],
    ["an option", "--help"],
    ["shell", "zzzzz-dz642-00000000000000$(id)"],
    ["empty", ""],
  ])("refuses %s", (_name, uuid) => {
    expect(isContainerUuid(uuid)).toBe(false);
    expect(() => checkContainerUuid(uuid)).toThrow(InvalidContainerUuidError);
  });

  it.each([undefined, null, 42, { uuid: "zzzzz-dz642-000000000000001" }])("refuses the non-string %j", (value) => {
    expect(isContainerUuid(value)).toBe(false);
    expect(() => checkContainerUuid(value)).toThrow(InvalidContainerUuidError);
  });
});

describe("the error says where the uuid was going and shows it quoted and cut short", () => {
  it("names the use and quotes the value, control characters escaped", () => {
    const err = new InvalidContainerUuidError("bad\nuuid", "EC2 instance tag");
    expect(err.message).toBe(
      'EC2 instance tag: "bad\\nuuid" is not an Arvados container uuid (xxxxx-dz642-<15 lowercase letters or digits>)',
    );
    expect(err).toMatchObject({ value: "bad\nuuid", use: "EC2 instance tag" });
  });

  it("shows at most 64 characters of a long value", () => {
    expect(() => checkContainerUuid("y".repeat(10_000), "ClientToken")).toThrow(`"${"y".repeat(64)}…"`);
  });

  it("names the kind of a non-string value, not its contents", () => {
    expect(() => checkContainerUuid(42)).toThrow("container uuid: number is not an Arvados container uuid");
  });
});
