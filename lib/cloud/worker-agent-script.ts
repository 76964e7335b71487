/**
 * The body of the worker agent (POSIX sh), run after the settings `buildWorkerUserData` writes
 * before it. Text here rather than a .sh file, so the Lambda bundle needs no loader; in this
 * template literal `\${` is the shell's `${` and `\\` a backslash.
 *
 * The settings it reads: `state_dir`, `poll_seconds`, `timeout_idle`, `timeout_term`,
 * `tag_prefix` (`<TagKeyPrefix>Container:`), `idle_behavior_key`, `ssm_region`, `ssm_name`;
 * `env_json_0..2`, the §4.1 stdin JSON around the instance's address and the token; the functions
 * `crunch_run_start <uuid>`, `crunch_run_list`, `crunch_run_kill <uuid>` and `is_uuid <word>`.
 *
 * Why this shape: one loop polls IMDS (local to the instance, free) every `poll_seconds`; what was
 * started is one file per (uuid, attempt) in a root-only directory, so an order is acted on once
 * however often it is read. The token lives only in an unexported variable and reaches crunch-run
 * through printf (a shell builtin, so never in any argv) on a pipe.
 */
export const workerAgentBody = `
say() { printf 'arvados-agent: %s\\n' "$*" >&2; }
power_off() { say "powering off: $1"; shutdown -h now; exit "$2"; }

# IMDSv2: a session token from a PUT, renewed hourly (it is asked to live 6 h), and sent back on
# each GET through stdin (curl -H @-) so it stays out of argv. The endpoint is overridable like
# the AWS SDK's, for local runs and tests.
imds=\${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}
imds=\${imds%/}
imds_token=
imds_token_at=0
imds_refresh() {
  imds_now=$(date +%s)
  [ -n "$imds_token" ] && [ $((imds_now - imds_token_at)) -lt 3600 ] && return 0
  imds_token=$(curl -sf --max-time 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "$imds/latest/api/token") || { imds_token=; return 1; }
  imds_token_at=$imds_now
}
imds_get() { printf 'X-aws-ec2-metadata-token: %s\\n' "$imds_token" | curl -sf --max-time 5 -H @- "$imds/latest/$1"; }

(umask 077 && mkdir -p "$state_dir/started" "$state_dir/kill") || power_off "cannot create $state_dir" 1

imds_refresh || power_off "cannot get an IMDSv2 token" 1
launch_index=$(imds_get meta-data/ami-launch-index) || power_off "cannot read ami-launch-index from IMDS" 1
case $launch_index in ''|*[!0-9]*) power_off "ami-launch-index from IMDS is not a number" 1 ;; esac
local_ip=$(imds_get meta-data/local-ipv4) || power_off "cannot read local-ipv4 from IMDS" 1
case $local_ip in ''|*[!0-9.]*) power_off "local-ipv4 from IMDS is not an IPv4 address" 1 ;; esac
# Orders come in tags: an instance launched without tags in IMDS could never learn them.
imds_get meta-data/tags/instance >/dev/null || power_off "cannot read tags from IMDS (InstanceMetadataTags must be enabled)" 1
user_data=$(imds_get user-data) || power_off "cannot read user data from IMDS" 1
# This instance's first containers: the user data line for its launch index (worker-channel.ts).
initial=$(printf '%s\\n' "$user_data" | sed -n "s/^#arvados-run $launch_index //p")
unset user_data

# The token comes from SSM with the instance role's credentials, into a variable that is never
# exported. If it cannot be read the instance powers off, which terminates it
# (InstanceInitiatedShutdownBehavior), and the dispatcher requeues its containers.
token=$(aws ssm get-parameter --region "$ssm_region" --name "$ssm_name" --with-decryption --query Parameter.Value --output text) || power_off "cannot read the API token from SSM" 1
case $token in ''|*[!A-Za-z0-9/_.+=-]*) power_off "the API token from SSM is empty or has characters it should not" 1 ;; esac
# No local keepstore: its Cluster config holds the volumes' credentials, which must not travel
# in user data (DESIGN "Workers that outlive containers").
say "crunch-run runs without a local keepstore (no Cluster config delivered)"
say "worker agent started: launch index $launch_index"

# Prints "<uuid> <action> <attempt>" per order: user data first, then tags, so a tag replaces the
# user data line of its container. Fails if IMDS cannot be read: a poll then decides nothing.
orders() {
  for item in $initial; do printf '%s run %s\\n' "\${item%%:*}" "\${item#*:}"; done
  keys=$(imds_get meta-data/tags/instance) || return 1
  for key in $keys; do
    case $key in "$tag_prefix"*) ;; *) continue ;; esac
    value=$(imds_get "meta-data/tags/instance/$key") || return 1
    printf '%s %s %s\\n' "\${key#"$tag_prefix"}" "\${value%%:*}" "\${value#*:}"
  done
}

# The last order of each container, in first-seen order.
last_orders() { awk '{ if (!($1 in last)) seq[++n] = $1; last[$1] = $0 } END { for (i = 1; i <= n; i++) print last[seq[i]] }'; }

# §4.1: crunch-run reads its config (Env with the token) from stdin.
start() {
  printf '%s%s%s%s%s' "$env_json_0" "$local_ip" "$env_json_1" "$token" "$env_json_2" | crunch_run_start "$1" >/dev/null ||
    say "crunch-run --detach failed for $1"
}

# Seconds since crunch-run was first told to kill $1 (empty if never).
killing_for() { [ -e "$state_dir/kill/$1" ] && echo $((now - $(cat "$state_dir/kill/$1"))); }

idle_since=
while :; do
  now=$(date +%s)
  imds_refresh
  # Upstream's IdleBehavior tag, set through the dispatch API: run; hold (start nothing new, never
  # power off); drain (start nothing new, power off once idle).
  behavior=$(imds_get "meta-data/tags/instance/$idle_behavior_key") || behavior=run
  case $behavior in hold | drain) ;; *) behavior=run ;; esac
  listed=$(crunch_run_list </dev/null) && list_ok=1 || list_ok=
  broken=
  printf '%s\\n' "$listed" | grep -qx broken && broken=1
  # A partial read could miss a kill that replaces a user data order: act on all orders or none.
  all=$(orders) && orders_ok=1 || { orders_ok= && all=; }
  started=
  while read -r uuid action attempt; do
    is_uuid "$uuid" || continue
    case $attempt in ''|*[!0-9]*) continue ;; esac
    case $action in
    run)
      [ -e "$state_dir/started/$uuid:$attempt" ] && continue
      # A broken, held or draining worker starts nothing new (the order waits for "run").
      [ -n "$broken" ] || [ "$behavior" != run ] && continue
      : >"$state_dir/started/$uuid:$attempt"
      rm -f "$state_dir/kill/$uuid"
      say "starting $uuid (attempt $attempt)"
      start "$uuid"
      started=1
      ;;
    kill)
      # This attempt never starts; crunch-run is signalled every poll while it lists the container.
      : >"$state_dir/started/$uuid:$attempt"
      printf '%s\\n' "$listed" | grep -qx "$uuid" || continue
      [ -e "$state_dir/kill/$uuid" ] || { echo "$now" >"$state_dir/kill/$uuid"; say "killing $uuid"; }
      # Upstream gives up after TimeoutTERM (SIGKILL would only hide the container).
      [ "$(killing_for "$uuid")" -ge "$timeout_term" ] && continue
      crunch_run_kill "$uuid" </dev/null >/dev/null 2>&1 || say "crunch-run --kill failed for $uuid"
      ;;
    esac
  done <<EOF
$(printf '%s\\n' "$all" | last_orders)
EOF
  # Busy: crunch-run lists a container (not stale, not given up on after TimeoutTERM).
  busy=
  for uuid in $(printf '%s\\n' "$listed" | awk 'NF == 1 && $1 != "broken" { print $1 }'); do
    is_uuid "$uuid" || continue
    given_up=$(killing_for "$uuid")
    [ -n "$given_up" ] && [ "$given_up" -ge "$timeout_term" ] && continue
    busy=1
  done
  if [ -n "$started" ] || [ -n "$busy" ] || [ -z "$list_ok" ] || [ -z "$orders_ok" ] || [ "$behavior" = hold ]; then
    # Unknown counts as busy: a failed read never powers a worker off.
    idle_since=
  elif [ -n "$broken" ]; then
    power_off "idle, and crunch-run reports the node broken" 0
  elif [ "$behavior" = drain ]; then
    power_off "idle and draining" 0
  else
    idle_since=\${idle_since:-$now}
    [ $((now - idle_since)) -ge "$timeout_idle" ] && power_off "idle for $((now - idle_since)) s" 0
  fi
  sleep "$poll_seconds"
done
`;
