#!/usr/bin/env bash
# The README's "Try it" walkthrough, run and checked: starts the three nodes of cluster/local.json
# in the background (like `npm start`, data in a temp dir), writes and reads with curl, shows
# `raftkv status`, SIGKILLs the leader of the key's shard while a writer runs, checks that writes
# resume on a new leader and that status and the dashboard's state show it, restarts the node and
# checks it catches up and leads its shard again. Exits non-zero at the first mismatch. Every
# process it started is stopped by its PID at the end, on failure too.
set -euo pipefail
cd "$(dirname "$0")/.."

# RAFTKV_DEMO_CONFIG: another cluster file (other ports), e.g. while something else holds 7001-7003.
CONFIG=${RAFTKV_DEMO_CONFIG:-cluster/local.json}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/raftkv-demo.XXXXXX")
declare -A PID=()
WRITER=""
CHECKS=0

say() { printf '\n== %s\n' "$*"; }
ok() { CHECKS=$((CHECKS + 1)); printf '   ok: %s\n' "$*"; }
fail() { printf '\n   FAILED: %s\n' "$*" >&2; exit 1; }
# Prints a command as the user would type it, runs it, and indents what it printed.
run() { printf '   $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/     /'; }
json() { node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{const v=JSON.parse(s);const r=($1);process.stdout.write(typeof r==='string'?r:JSON.stringify(r))})"; }
now_ms() { node -e 'process.stdout.write(String(Date.now()))'; }

cleanup() {
  local code=$?
  trap - EXIT
  [ -n "$WRITER" ] && kill "$WRITER" 2>/dev/null || true
  for id in "${!PID[@]}"; do kill -9 "${PID[$id]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$code" -ne 0 ]; then
    for id in "${!PID[@]}"; do
      printf '\n--- last lines of %s (%s/%s.log) ---\n' "$id" "$WORK" "$id" >&2
      tail -n 15 "$WORK/$id.log" >&2 || true
    done
  fi
  rm -rf "$WORK"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

IDS=()
declare -A API=()
declare -A PEER=()
while read -r id api peer; do IDS+=("$id"); API[$id]=$api; PEER[$id]=$peer; done < <(
  node -e 'for (const n of require(require("node:path").resolve(process.argv[1])).nodes) console.log(n.id, n.api, n.peer)' "$CONFIG"
)
ENDPOINTS=$(IFS=,; for id in "${IDS[@]}"; do printf '%s,' "${API[$id]}"; done)
ENDPOINTS=${ENDPOINTS%,}
export RAFTKV_ENDPOINTS=$ENDPOINTS
# The demo's nodes authenticate each other with a secret of their own (README "Securing a cluster").
RAFTKV_CLUSTER_SECRET=${RAFTKV_CLUSTER_SECRET:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
export RAFTKV_CLUSTER_SECRET
raftkv() { node dist/cli.js "$@"; }

# curl exits 7 when nothing listens; anything else means the port is taken.
for id in "${IDS[@]}"; do
  for url in "${API[$id]}" "${PEER[$id]}"; do
    set +e
    curl -s -m 2 -o /dev/null "$url/healthz"
    CODE=$?
    set -e
    [ "$CODE" = 7 ] || fail "something already listens on $url (is \`npm start\` or a compose cluster running?); the demo needs the ports of $CONFIG"
  done
done
[ -f dist/cli.js ] || npm run build

start_node() {
  local id=$1
  node dist/cli.js serve --config "$CONFIG" --id "$id" --data "$WORK/$id" >>"$WORK/$id.log" 2>&1 &
  PID[$id]=$!
}

# Polls `$2` (a shell condition) every 100 ms for at most $1 seconds.
wait_until() {
  local deadline=$(($(date +%s) + $1))
  until eval "$2"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
all_ready() {
  for id in "${!PID[@]}"; do
    kill -0 "${PID[$id]}" 2>/dev/null || fail "$id (pid ${PID[$id]}) exited: $(tail -n 3 "$WORK/$id.log")"
  done
  for id in "${IDS[@]}"; do
    [ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "${API[$id]}/readyz")" = 200 ] || return 1
  done
}

say "1. Start the cluster (like npm start: ${#IDS[@]} nodes from $CONFIG, data in a temp dir)"
for id in "${IDS[@]}"; do start_node "$id"; echo "   $id  API ${API[$id]}  pid ${PID[$id]}"; done
wait_until 30 all_ready || fail "the nodes did not all become ready (GET /readyz) within 30 s"
ok "every node answers GET /readyz with 200"
# Right after start-up the nodes hand each shard to its preferred member; let that settle, so the
# walkthrough's first requests do not land in the moment a leader changes.
balanced() {
  for id in "${IDS[@]}"; do
    node -e '
      fetch(process.argv[1] + "/v1/cluster").then((r) => r.json()).then((c) => {
        process.exit(c.shards.every((s) => s.leader === s.members[0]) ? 0 : 1);
      }, () => process.exit(1));' "${API[$id]}" || return 1
  done
}
wait_until 15 balanced || fail "leadership did not settle on each shard's preferred member within 15 s"
ok "each shard is led by its preferred member"

FIRST=${IDS[0]}
SECOND=${IDS[1]}
say "2. Write and read with curl (any node takes any request)"
printf '   $ curl -X PUT --data-binary hello %s/v1/kv/greeting\n' "${API[$FIRST]}"
PUT=$(curl -s -D "$WORK/put.headers" -X PUT --data-binary hello "${API[$FIRST]}/v1/kv/greeting")
echo "     $PUT"
[[ "$PUT" =~ ^\{\"key\":\"greeting\",\"version\":\"[0-9]+\"\}$ ]] || fail "PUT answered $PUT"
ok "PUT answered {\"key\":\"greeting\",\"version\":...}"
SHARD=$(tr -d '\r' <"$WORK/put.headers" | awk -F': ' 'tolower($1)=="x-raft-shard"{print $2}')
[ -n "$SHARD" ] || fail "the PUT answer has no X-Raft-Shard header"
printf '   $ curl %s/v1/kv/greeting\n' "${API[$SECOND]}"
GOT=$(curl -s "${API[$SECOND]}/v1/kv/greeting")
echo "     $GOT"
[ "$GOT" = hello ] || fail "GET through $SECOND answered '$GOT', not 'hello'"
ok "GET through $SECOND answered hello (the key lives in shard $SHARD)"

say "3. raftkv status: who leads what"
run raftkv status
STATUS=$(raftkv status --json)
UP=$(json 'v.nodes.filter(n=>n.up).length' <<<"$STATUS")
LEADERLESS=$(json 'v.shards.filter(s=>s.leader===null).length' <<<"$STATUS")
[ "$UP" = "${#IDS[@]}" ] || fail "status shows $UP nodes up, not ${#IDS[@]}"
[ "$LEADERLESS" = 0 ] || fail "status shows $LEADERLESS shards without a leader"
ok "status shows ${#IDS[@]} nodes up and a leader for every shard"

say "4. Find the leader of shard $SHARD and its PID"
printf '   $ curl %s/v1/cluster   # shards[%s].leader\n' "${API[$FIRST]}" "$SHARD"
LEADER=$(curl -s "${API[$FIRST]}/v1/cluster" | json "v.shards[$SHARD].leader")
printf '   $ curl %s/v1/status    # its pid\n' "${API[$LEADER]}"
LEADER_PID=$(curl -s "${API[$LEADER]}/v1/status" | json 'String(v.pid)')
echo "     shard $SHARD is led by $LEADER, pid $LEADER_PID"
[ "$LEADER_PID" = "${PID[$LEADER]}" ] || fail "/v1/status of $LEADER says pid $LEADER_PID, but it runs as ${PID[$LEADER]}"
ok "/v1/status names the leader's PID ($LEADER_PID)"
SURVIVOR=""
for id in "${IDS[@]}"; do [ "$id" != "$LEADER" ] && [ -z "$SURVIVOR" ] && SURVIVOR=$id; done

say "5. Kill the leader (SIGKILL) while a writer keeps writing through $SURVIVOR"
(
  i=0
  while [ ! -f "$WORK/stop-writer" ] && [ "$i" -lt 3000 ]; do
    curl -s -m 3 -o /dev/null -X PUT --data-binary "tick $i" "${API[$SURVIVOR]}/v1/kv/demo/tick-$((i % 8))" || true
    i=$((i + 1))
    sleep 0.03
  done
) &
WRITER=$!
sleep 2
echo "   \$ kill -9 $LEADER_PID"
KILLED_MS=$(now_ms)
kill -9 "$LEADER_PID"
wait "$LEADER_PID" 2>/dev/null || true
unset "PID[$LEADER]"
put_again() {
  [ "$(curl -s -m 3 -o /dev/null -w '%{http_code}' -X PUT --data-binary 'hello again' "${API[$SURVIVOR]}/v1/kv/greeting")" = 200 ]
}
wait_until 15 put_again || fail "writes to shard $SHARD did not resume within 15 s"
RESUMED_MS=$(now_ms)
echo "   \$ curl -X PUT --data-binary 'hello again' ${API[$SURVIVOR]}/v1/kv/greeting   # succeeded $((RESUMED_MS - KILLED_MS)) ms after the kill"
ok "writes to shard $SHARD resumed $((RESUMED_MS - KILLED_MS)) ms after the kill"
GOT=$(curl -s "${API[$SURVIVOR]}/v1/kv/greeting")
[ "$GOT" = "hello again" ] || fail "GET after the failover answered '$GOT'"
ok "GET after the failover answers 'hello again'"

say "6. status and the dashboard show the new leader"
new_leader_known() {
  STATUS=$(raftkv status --json --endpoints "${API[$SURVIVOR]}")
  NEW_LEADER=$(json "v.shards[$SHARD].leader ?? ''" <<<"$STATUS")
  [ -n "$NEW_LEADER" ] && [ "$NEW_LEADER" != "$LEADER" ]
}
wait_until 10 new_leader_known || fail "status does not show a new leader of shard $SHARD"
run raftkv status --endpoints "${API[$SURVIVOR]}"
DOWN=$(json "v.nodes.find(n=>n.id==='$LEADER').up ? 'up' : 'down'" <<<"$STATUS")
[ "$DOWN" = down ] || fail "status shows $LEADER $DOWN"
ok "status shows $LEADER down and $NEW_LEADER leading shard $SHARD"
PAGE=$(curl -s "${API[$SURVIVOR]}/ui")
[[ "$PAGE" == *"<title>raftkv"* ]] || fail "GET /ui did not answer the dashboard page"
ok "the dashboard is at ${API[$SURVIVOR]}/ui"
failover_measured() {
  WINDOW=$(curl -s "${API[$SURVIVOR]}/v1/ui/state" |
    json "(v.leaderChanges.find(c=>c.shard===$SHARD&&c.from==='$LEADER'&&c.kind==='failover'&&c.window==='measured')||{}).windowMs ?? ''")
  [ -n "$WINDOW" ]
}
wait_until 10 failover_measured || fail "the dashboard's state shows no measured failover of shard $SHARD"
echo "   the dashboard's timeline: shard $SHARD  $LEADER -> $NEW_LEADER  failover  unavailable $WINDOW ms"
ok "the dashboard shows the failover of shard $SHARD with its window ($WINDOW ms)"

say "7. Restart $LEADER: it catches up and gets its shard back"
start_node "$LEADER"
echo "   $LEADER restarted, pid ${PID[$LEADER]}"
wait_until 30 all_ready || fail "$LEADER did not become ready after its restart"
ok "$LEADER is ready again"
leads_again() {
  STATUS=$(raftkv status --json)
  [ "$(json "v.shards[$SHARD].leader ?? ''" <<<"$STATUS")" = "$LEADER" ] &&
    [ "$(json 'v.nodes.filter(n=>n.up).length' <<<"$STATUS")" = "${#IDS[@]}" ]
}
wait_until 30 leads_again || fail "$LEADER did not get shard $SHARD back within 30 s"
run raftkv status
ok "$LEADER leads shard $SHARD again and every node is up"
stale_caught_up() { [ "$(raftkv get greeting --stale --endpoints "${API[$LEADER]}" 2>/dev/null)" = "hello again" ]; }
wait_until 10 stale_caught_up || fail "$LEADER's own replica does not have 'hello again'"
run raftkv get greeting --stale --endpoints "${API[$LEADER]}"
ok "$LEADER's own replica has the write made while it was down"
set +e
raftkv get no-such-key >/dev/null 2>&1
CODE=$?
set -e
[ "$CODE" = 3 ] || fail "raftkv get of an absent key exited $CODE, not 3"
ok "raftkv get of an absent key exits 3"

say "8. Stop everything (SIGTERM by PID: leaders hand over, nodes flush and exit 0)"
touch "$WORK/stop-writer"
wait "$WRITER" 2>/dev/null || true
WRITER=""
for id in "${!PID[@]}"; do kill -TERM "${PID[$id]}"; done
for id in "${!PID[@]}"; do
  set +e
  wait "${PID[$id]}"
  CODE=$?
  set -e
  [ "$CODE" = 0 ] || fail "$id exited with $CODE after SIGTERM"
  unset "PID[$id]"
done
ok "every node exited 0"

printf '\ndemo: all %d checks passed\n' "$CHECKS"
