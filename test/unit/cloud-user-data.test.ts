import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { InvalidContainerUuidError } from "../../lib/arvados/uuid.js";
import { buildUserData, shellQuote, type UserDataArgs, UserDataError } from "../../lib/cloud/user-data.js";

function userDataArgs(over: Partial<UserDataArgs> = {}): UserDataArgs {
  return {
    instanceSecret: "a1b2c3d4",
    initCommand: "mount /dev/xvdt /tmp",
    tokenParameterName: "/arvados/zzzzz/dispatch-token",
    region: "us-east-1",
    apiHost: "zzzzz.example.org",
    containerUuid: "zzzzz-dz642-000000000000001",
    crunchRunCommand: "crunch-run",
    runtimeEngine: "docker",
    ...over,
  };
}

/** Run `sh -c` with a word list built by shellQuote and return the words as sh saw them. */
function wordsAsShellSeesThem(values: string[]): string[] {
  const script = `for w in ${values.map((v) => shellQuote(v)).join(" ")}; do printf '%s\\0' "$w"; done`;
  return execFileSync("sh", ["-c", script]).toString("utf8").split("\0").slice(0, -1);
}

describe("the boot script starts like upstream's: shebang, secret file, InstanceInitCommand (§4.1)", () => {
  it("begins with #!/bin/sh and writes the secret with umask 0177 before the init command", () => {
    const lines = buildUserData(userDataArgs()).split("\n");
    expect(lines[0]).toBe("#!/bin/sh");
    expect(lines[1]).toBe("(umask 0177 && printf '%s' 'a1b2c3d4' >/var/run/arvados-instance-secret)");
    expect(lines[2]).toBe("mount /dev/xvdt /tmp");
  });
});

describe("the Arvados token is read on the instance from SSM and never carried in user data", () => {
  it("fetches the SecureString parameter with decryption in the configured region", () => {
    const script = buildUserData(userDataArgs());
    expect(script).toContain(
      "aws ssm get-parameter --region 'us-east-1' --name '/arvados/zzzzz/dispatch-token' --with-decryption",
    );
  });

  it("assigns ARVADOS_API_TOKEN only from that SSM call", () => {
    const assignments = buildUserData(userDataArgs({ env: { InstanceType: '{"Name":"a"}' } }))
      .split("\n")
      .filter((l) => l.includes("ARVADOS_API_TOKEN="));
    expect(assignments).toHaveLength(1);
    expect(assignments[0]).toMatch(/^ARVADOS_API_TOKEN=\$\(aws ssm get-parameter /);
  });

  it("powers the instance off when the token cannot be read, so it terminates instead of idling", () => {
    expect(buildUserData(userDataArgs())).toMatch(/--output text\) \|\| \{ .*shutdown -h now; exit 1; \}/);
  });
});

describe("crunch-run is started for the container with upstream's arguments (§4.1)", () => {
  it("runs <CrunchRunCommand> --detach --runtime-engine=<engine> <args> -- <uuid>", () => {
    const script = buildUserData(userDataArgs({ crunchRunArgs: ["--cgroup-parent-subsystem=cpuset"] }));
    expect(script).toContain(
      "exec 'crunch-run' --detach '--runtime-engine=docker' '--cgroup-parent-subsystem=cpuset' -- 'zzzzz-dz642-000000000000001'",
    );
  });

  it("exports ARVADOS_API_HOST, and ARVADOS_API_HOST_INSECURE=1 only when asked", () => {
    expect(buildUserData(userDataArgs())).toContain("ARVADOS_API_HOST='zzzzz.example.org'; export ARVADOS_API_HOST");
    expect(buildUserData(userDataArgs())).not.toContain("ARVADOS_API_HOST_INSECURE");
    expect(buildUserData(userDataArgs({ apiHostInsecure: true }))).toContain("ARVADOS_API_HOST_INSECURE='1'");
  });

  it("rejects an env name that is not a shell variable name", () => {
    expect(() => buildUserData(userDataArgs({ env: { "X;rm -rf /": "1" } }))).toThrow(UserDataError);
  });
});

describe("every interpolated value is shell-quoted", () => {
  it("keeps hostile values as single words when sh parses them", () => {
    const hostile = ["it's", "$(reboot)", "`id`", "a b\tc\nd", "'; rm -rf / #", "\\", '"', "", "é"];
    expect(wordsAsShellSeesThem(hostile)).toEqual(hostile);
  });

  it("quotes a hostile secret and parameter name so the script stays a valid shell program", () => {
    const script = buildUserData(userDataArgs({ instanceSecret: "x'; reboot; '", tokenParameterName: "$(id)" }));
    expect(script).toContain(`printf '%s' 'x'\\''; reboot; '\\''' >`);
    expect(script).toContain("--name '$(id)'");
    expect(() => execFileSync("sh", ["-n", "-c", script])).not.toThrow();
  });

  it("rejects a value with a NUL byte, which no shell word can hold", () => {
    expect(() => buildUserData(userDataArgs({ tokenParameterName: "a\0b" }))).toThrow(UserDataError);
  });
});

describe("the container uuid is checked before it becomes crunch-run's argument", () => {
  it.each(["--list", "zzzzz-dz642-00000000000001", "zzzzz-dz642-000000000000001'; reboot; '", "ZZZZZ-dz642-000000000000001", "a\0b"])(
    "refuses %j with InvalidContainerUuidError naming the crunch-run argument",
    (containerUuid) => {
      let thrown: unknown;
      try {
        buildUserData(userDataArgs({ containerUuid }));
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(InvalidContainerUuidError);
      expect(thrown).toMatchObject({ value: containerUuid, use: "crunch-run argument" });
      expect((thrown as Error).message).toMatch(/^crunch-run argument: ".*" is not an Arvados container uuid/);
    },
  );
});
