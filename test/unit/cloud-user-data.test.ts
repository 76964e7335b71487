import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InvalidContainerUuidError } from "../../lib/model/container-uuid.js";
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
    expect(lines[1]).toBe("(umask 0177 && printf '%s' 'a1b2c3d4' >'/var/run/arvados-instance-secret')");
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

  it("holds the token only in an unexported variable assigned from that SSM call", () => {
    const script = buildUserData(userDataArgs({ env: { InstanceType: '{"Name":"a"}' } }));
    const assignments = script.split("\n").filter((l) => /\btoken=/.test(l));
    expect(assignments).toHaveLength(1);
    expect(assignments[0]).toMatch(/^token=\$\(aws ssm get-parameter /);
    expect(script).not.toMatch(/export (ARVADOS_API_TOKEN|token)/);
  });

  it("powers the instance off when the token cannot be read, so it terminates instead of idling", () => {
    expect(buildUserData(userDataArgs())).toMatch(/--output text\) \|\| \{ .*shutdown -h now; exit 1; \}/);
  });
});

describe("crunch-run is started for the container with upstream's arguments and stdin config (§4.1)", () => {
  const token = "v2/zzzzz-gj3su-000000000000000/s3cr3t+token=x";
  /** Runs the boot script under sh with fake aws, crunch-run and shutdown on PATH; returns what crunch-run got. */
  function boot(args: UserDataArgs, ssmToken = token) {
    const dir = mkdtempSync(join(tmpdir(), "boot-"));
    const bin = join(dir, "bin");
    mkdirSync(bin);
    const fake = (name: string, body: string) =>
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    fake("aws", `printf '%s\\n' "$@" >"${dir}/aws-args"; printf '%s\\n' '${ssmToken}'`);
    fake("crunch-run", `printf '%s\\n' "$@" >"${dir}/args"; env >"${dir}/env"; cat >"${dir}/stdin"`);
    fake("shutdown", `echo shutdown >"${dir}/shutdown"`);
    const script = buildUserData({ ...args, initCommand: "true", secretPath: join(dir, "secret") });
    const stderr = spawnSync("sh", ["-c", script], { env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: "utf8" }).stderr;
    const read = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), "utf8") : undefined);
    const out = {
      args: read("args")?.split("\n").slice(0, -1),
      env: read("env"),
      stdin: read("stdin"),
      shutdown: read("shutdown"),
      stderr,
    };
    rmSync(dir, { recursive: true });
    return out;
  }

  it("runs <CrunchRunCommand> --detach --stdin-config --runtime-engine=<engine> <args> -- <uuid>", () => {
    const ran = boot(userDataArgs({ crunchRunArgs: ["--cgroup-parent-subsystem=cpuset"] }));
    expect(ran.args).toEqual([
      "--detach",
      "--stdin-config",
      "--runtime-engine=docker",
      "--cgroup-parent-subsystem=cpuset",
      "--",
      "zzzzz-dz642-000000000000001",
    ]);
  });

  it("hands crunch-run the token, the API host and the type in its stdin JSON, never in its environment", () => {
    const ran = boot(userDataArgs({ env: { InstanceType: '{"Name":"m5.large","Preemptible":false}' } }));
    expect(JSON.parse(ran.stdin ?? "")).toEqual({
      Env: {
        ARVADOS_API_HOST: "zzzzz.example.org",
        InstanceType: '{"Name":"m5.large","Preemptible":false}',
        ARVADOS_API_TOKEN: token,
      },
    });
    expect(ran.env).not.toContain("s3cr3t");
    expect(ran.env).not.toContain("ARVADOS_API_TOKEN");
  });

  it("sets ARVADOS_API_HOST_INSECURE=1 only when asked, and EC2SpotCheck for a preemptible type", () => {
    const plain = JSON.parse(boot(userDataArgs()).stdin ?? "") as {
      Env: Record<string, string>;
      EC2SpotCheck?: boolean;
    };
    expect(plain.Env.ARVADOS_API_HOST_INSECURE).toBeUndefined();
    expect(plain.EC2SpotCheck).toBeUndefined();
    const spot = JSON.parse(boot(userDataArgs({ apiHostInsecure: true, spotCheck: true })).stdin ?? "") as typeof plain;
    expect(spot.Env.ARVADOS_API_HOST_INSECURE).toBe("1");
    expect(spot.EC2SpotCheck).toBe(true);
  });

  it("powers off rather than start crunch-run with a token that JSON could not carry as it is", () => {
    const ran = boot(userDataArgs(), 'v2/x/"},"Env":{"evil":"1');
    expect(ran.shutdown).toBe("shutdown\n");
    expect(ran.args).toBeUndefined();
    expect(ran.stderr).toContain("arvados: the API token from SSM is empty or has characters it should not");
  });

  it("says crunch-run runs without a local keepstore (the Cluster config is never in user data)", () => {
    expect(boot(userDataArgs()).stderr).toBe(
      "arvados: starting crunch-run without a local keepstore (no Cluster config delivered)\n",
    );
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
  it.each([
    "--list",
    "zzzzz-dz642-00000000000001",
    "zzzzz-dz642-000000000000001'; reboot; '",
    "ZZZZZ-dz642-000000000000001",
    "a\0b",
  ])("refuses %j with InvalidContainerUuidError naming the crunch-run argument", (containerUuid) => {
    let thrown: unknown;
    try {
      buildUserData(userDataArgs({ containerUuid }));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InvalidContainerUuidError);
    expect(thrown).toMatchObject({ value: containerUuid, use: "crunch-run argument" });
    expect((thrown as Error).message).toMatch(/^crunch-run argument: ".*" is not an Arvados container uuid/);
  });
});
