import { checkContainerUuid } from "../model/container-uuid.js";

/** Everything the boot script of one instance needs. No secret but the instance secret goes in. */
export interface UserDataArgs {
  /** §4.1 instance secret, written to /var/run/arvados-instance-secret. */
  instanceSecret: string;
  /** `CloudVMs.InstanceInitCommand`: the operator's own shell, inserted verbatim. */
  initCommand: string;
  /** SSM SecureString parameter holding the Arvados API token; read on the instance by its role. */
  tokenParameterName: string;
  /** AWS region of that parameter. */
  region: string;
  /** `ARVADOS_API_HOST` for crunch-run. */
  apiHost: string;
  /** Sets `ARVADOS_API_HOST_INSECURE=1` (§4.1 runner env). */
  apiHostInsecure?: boolean;
  /** The container this instance runs. */
  containerUuid: string;
  /** `Containers.CrunchRunCommand`, one word (a path or a command name). */
  crunchRunCommand: string;
  /** `Containers.RuntimeEngine`. */
  runtimeEngine: string;
  /** `Containers.CrunchRunArgumentsList`. */
  crunchRunArgs?: readonly string[];
  /** More environment for crunch-run, e.g. `InstanceType` as JSON (§4.1 runner env). Not secrets. */
  env?: Readonly<Record<string, string>>;
  /** §4.1 `EC2SpotCheck`: crunch-run watches for the spot interruption notice (preemptible types). */
  spotCheck?: boolean;
  /** Where the §4.1 instance secret is written; tests run the script elsewhere. */
  secretPath?: string;
}

/** Thrown for a value the boot script cannot carry (an invalid variable name, a NUL byte). */
export class UserDataError extends Error {
  override readonly name = "UserDataError";
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`user data: ${field}: ${reason}`);
  }
}

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A single-quoted POSIX shell word for `value`: safe for any string without NUL, because
 * nothing is special inside single quotes except the quote itself, written as '\''.
 */
export function shellQuote(value: string, field = "value"): string {
  if (value.includes("\0")) throw new UserDataError(field, "contains a NUL byte");
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The boot script of an instance that runs one container: upstream's secret file and
 * InstanceInitCommand (§4.1), then crunch-run for the container with the Arvados token read
 * from SSM on the instance, so the token is never in user data, tags or the launch request.
 * Every interpolated value is shell-quoted, except InstanceInitCommand, which is shell by
 * definition. The container uuid must be one (InvalidContainerUuidError otherwise) and follows
 * `--`, so crunch-run can never read it as an option.
 */
export function buildUserData(a: UserDataArgs): string {
  checkContainerUuid(a.containerUuid, "crunch-run argument");
  const env: [string, string][] = [["ARVADOS_API_HOST", a.apiHost]];
  if (a.apiHostInsecure) env.push(["ARVADOS_API_HOST_INSECURE", "1"]);
  for (const [k, v] of Object.entries(a.env ?? {})) {
    if (!envName.test(k)) throw new UserDataError(`env.${k}`, "not a shell variable name");
    env.push([k, v]);
  }
  const crunchRun = [
    shellQuote(a.crunchRunCommand, "crunchRunCommand"),
    "--detach",
    "--stdin-config",
    shellQuote(`--runtime-engine=${a.runtimeEngine}`, "runtimeEngine"),
    ...(a.crunchRunArgs ?? []).map((arg) => shellQuote(arg, "crunchRunArgs")),
    // Go's flag package (crunch-run's) ends options at "--".
    "--",
    shellQuote(a.containerUuid, "containerUuid"),
  ].join(" ");
  // §4.1 --stdin-config: crunch-run reads {"Env": {...}, ...} from stdin, so the token never
  // sits in any process's environment or arguments. The JSON is written around the token,
  // which the script checks holds only characters a JSON string carries as they are.
  const [before, after] = stdinConfigAround(env, a.spotCheck === true);
  const fail = (message: string) => `{ echo ${shellQuote(`arvados: ${message}`)} >&2; shutdown -h now; exit 1; }`;
  return [
    "#!/bin/sh",
    // §4.1: the secret file, readable by root only. A subshell keeps the umask from applying
    // to crunch-run; printf, unlike dash's echo, never interprets the value.
    `(umask 0177 && printf '%s' ${shellQuote(a.instanceSecret, "instanceSecret")} >${shellQuote(a.secretPath ?? "/var/run/arvados-instance-secret", "secretPath")})`,
    a.initCommand,
    // The token comes from SSM with the instance role's credentials, into a variable that is
    // never exported. If it cannot be read the instance powers off, which terminates it
    // (InstanceInitiatedShutdownBehavior), and cleanup requeues the container.
    `token=$(aws ssm get-parameter --region ${shellQuote(a.region, "region")} --name ${shellQuote(a.tokenParameterName, "tokenParameterName")} --with-decryption --query Parameter.Value --output text) || ${fail("cannot read the API token from SSM")}`,
    `case $token in ''|*[!A-Za-z0-9/_.+=-]*) ${fail("the API token from SSM is empty or has characters it should not")} ;; esac`,
    // No local keepstore: its Cluster config holds the volumes' credentials, which must not
    // travel in user data (DESIGN "Workers that outlive containers").
    "echo 'arvados: starting crunch-run without a local keepstore (no Cluster config delivered)' >&2",
    `printf '%s%s%s' ${shellQuote(before)} "$token" ${shellQuote(after)} | ${crunchRun}`,
    "",
  ].join("\n");
}

/**
 * The stdin JSON of §4.1 in two pieces, to be written around the token: `Env` (the API host,
 * InstanceType, ARVADOS_API_HOST_INSECURE when set) with `ARVADOS_API_TOKEN` last, then
 * `EC2SpotCheck` for a preemptible type.
 */
function stdinConfigAround(env: readonly [string, string][], spotCheck: boolean): [string, string] {
  const marker = "\u0000token\u0000";
  const config = {
    Env: { ...Object.fromEntries(env), ARVADOS_API_TOKEN: marker },
    ...(spotCheck ? { EC2SpotCheck: true } : {}),
  };
  const [before = "", after = ""] = JSON.stringify(config).split(JSON.stringify(marker).slice(1, -1));
  return [before, after];
}
