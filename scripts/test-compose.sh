#!/usr/bin/env bash
# npm run test:compose: the container cluster of docker-compose.yml, end to end, the way a user
# drives it. Needs a Docker engine with compose v2 and the ports 127.0.0.1:7001-7005 free.
#   1. up -d --build --wait; writes and reads through every published port
#   2. kill the container leading a shard; writes to that shard resume (the window is measured)
#   3. start it again: ready, back in its groups under its (possibly new) address
#   4. restart all three at once; every acknowledged write is still there
#   5. down, then up with the volumes kept; every acknowledged write is still there
#   6. down -v, then up: a fresh, empty, working cluster
#   7. --profile grow up -d node4 node5: they join, the rebalancer spreads the replicas over five
#      nodes; then node5 and node4 are drained (the CLI in a container, DELETE /v1/admin/nodes)
#      until the table has three nodes again; a key written on five nodes reads back on three
#      (node4 is restarted once in between: it comes back from its volume, no second join)
#   8. raftkv backup from the host, down -v, restore each node in a one-shot container (docker
#      compose run) into a new cluster (cluster/compose-restored.json), up: every acknowledged
#      write reads back, and the restored cluster takes writes
# Always ends with `down -v` of its own project (raftkv-test), also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

project=raftkv-test
dc() { docker compose -p "$project" "$@"; }
grow_ports=(7004 7005) # node4, node5 of the "grow" profile (docker-compose.yml)
work=$(mktemp -d)
acked="$work/acked"     # "key<TAB>value" of every acknowledged write, later lines win
unknown="$work/unknown" # "key<TAB>value" of writes whose outcome is unknown (504, no answer)
: >"$acked"
: >"$unknown"
writer_pid=""
now_ms() { # without a process: the writer below calls it between requests
  local t=${EPOCHREALTIME/[.,]/}
  echo "${t:0:-3}"
}
T0=$(now_ms)
say() { printf '[test:compose +%5.1fs] %s\n' "$(awk "BEGIN{print ($(now_ms) - $T0) / 1000}")" "$*"; }
step() { echo; say "== $*"; }
ok() { say "   ok: $*"; }
fail() { # also from inside $(…): the message goes to stderr
  say "   FAILED: $*" >&2
  exit 1
}

cleanup() {
  local rc=$?
  trap - EXIT
  if [ -n "$writer_pid" ]; then
    touch "$work/writer.stop"
    wait "$writer_pid" 2>/dev/null || true
  fi
  if [ "$rc" != 0 ]; then
    echo
    say "failed (exit $rc); last log lines of each node:"
    dc ps -a || true
    for c in $(dc ps -aq 2>/dev/null); do
      docker inspect -f '{{.Name}} health: {{if .State.Health}}{{.State.Health.Status}} {{range .State.Health.Log}}[{{.ExitCode}} {{.Output}}] {{end}}{{end}}' "$c" || true
    done
    dc logs --no-color --tail 30 || true
  fi
  docker rm -f "$project-squatter" >/dev/null 2>&1 || true
  echo
  say "== cleanup: docker compose -p $project down -v"
  dc --profile grow down -v --remove-orphans --timeout 10 >"$work/down.log" 2>&1 || cat "$work/down.log"
  rm -rf "$work"
  if [ "$rc" = 0 ]; then say "PASSED"; else say "FAILED"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Node id, service name (the host of its api URL) and published port (its api port), from the
# cluster file the containers use: "n1 node1 7001" per line.
mapfile -t nodes < <(node -e '
  const c = JSON.parse(require("fs").readFileSync("cluster/compose.json", "utf8"));
  for (const n of c.nodes) { const u = new URL(n.api); console.log(n.id, u.hostname, u.port); }')
field() { # field ID COLUMN: the service (2) or port (3) of node ID
  local l
  for l in "${nodes[@]}"; do
    read -r id svc port <<<"$l"
    if [ "$id" = "$1" ]; then
      case "$2" in 2) echo "$svc" ;; 3) echo "$port" ;; esac
      return 0
    fi
  done
  fail "node $1 is not in cluster/compose.json"
}
ports=()
for l in "${nodes[@]}"; do
  read -r _ _ port <<<"$l"
  ports+=("$port")
done

# put PORT KEY VALUE: one PUT through 127.0.0.1:PORT; prints the HTTP status (000: no answer in
# time); an acknowledged write is recorded in $acked.
put() {
  local code
  code=$(curl -s -o "$work/put.body" -D "$work/put.headers" -w '%{http_code}' --max-time 2 \
    -X PUT --data-binary "$3" "http://127.0.0.1:$1/v1/kv/$2" || true)
  case "$code" in
    200) printf '%s\t%s\n' "$2" "$3" >>"$acked" ;;
    000 | 504) printf '%s\t%s\n' "$2" "$3" >>"$unknown" ;;
  esac
  echo "$code"
}
# put_ok PORT KEY VALUE: put, retried for up to 10 s while the answer is 503/504 or none (a
# leadership transfer or election in progress, as a client library would retry); fails the test
# otherwise. Retries are reported.
put_ok() {
  local code tries=0 deadline=$(($(now_ms) + 10000))
  while :; do
    code=$(put "$@")
    [ "$code" = 200 ] && break
    case "$code" in 503 | 504 | 000) ;; *) fail "PUT $2 on port $1 answered $code: $(cat "$work/put.body")" ;; esac
    [ "$(now_ms)" -lt "$deadline" ] || fail "PUT $2 on port $1 still answered $code after 10 s: $(cat "$work/put.body")"
    tries=$((tries + 1))
    sleep 0.1
  done
  [ "$tries" = 0 ] || say "   (PUT $2 on port $1 succeeded after $tries retried 503/504/timeouts)"
}
# get PORT KEY: the value (status 200), retried like put_ok; fails the test otherwise.
get() {
  local code tries=0 deadline=$(($(now_ms) + 10000))
  while :; do
    code=$(curl -s -o "$work/get.body" -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/v1/kv/$2" || true)
    [ "$code" = 200 ] && break
    case "$code" in 503 | 504 | 000) ;; *) fail "GET $2 on port $1 answered $code: $(cat "$work/get.body")" ;; esac
    [ "$(now_ms)" -lt "$deadline" ] || fail "GET $2 on port $1 still answered $code after 10 s: $(cat "$work/get.body")"
    tries=$((tries + 1))
    sleep 0.1
  done
  [ "$tries" = 0 ] || say "   (GET $2 on port $1 succeeded after $tries retried 503/504/timeouts)" >&2
  cat "$work/get.body"
}
# wait_ready PORT SECONDS: until /readyz on that port is 200.
wait_ready() {
  local deadline=$(($(now_ms) + $2 * 1000))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$1/readyz" || true)" = 200 ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "port $1 not ready after $2 s"
    sleep 0.2
  done
}
# check_all: every acknowledged write reads back (linearizable GET), each through a different
# port. A key may instead hold the value of one of its writes whose outcome was unknown (504 or
# no answer: it may or may not have taken effect), which is reported.
check_all() {
  local n=0 bad=0 maybe=0 key want others got port
  while IFS=$'\t' read -r key want others; do
    port=${ports[$((n % ${#ports[@]}))]}
    got=$(get "$port" "$key")
    if [ "$got" != "$want" ]; then
      if [[ " $others " == *" $got "* ]]; then
        say "   $key: read '$got' (a write with unknown outcome) instead of the last acknowledged '$want'"
        maybe=$((maybe + 1))
      else
        say "   $key: read '$got' on port $port, expected '$want'"
        bad=$((bad + 1))
      fi
    fi
    n=$((n + 1))
  done < <(node -e '
    const fs = require("fs");
    const lines = (f) => fs.readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => l.split("\t"));
    const last = new Map(lines(process.argv[1]));
    const unknown = new Map();
    for (const [k, v] of lines(process.argv[2])) unknown.set(k, [...(unknown.get(k) ?? []), v]);
    for (const [k, v] of last) console.log([k, v, (unknown.get(k) ?? []).join(" ")].join("\t"));' "$acked" "$unknown")
  [ "$bad" = 0 ] || fail "$bad of $n keys wrong"
  local note=""
  [ "$maybe" = 0 ] || note=" ($maybe of them hold a write of unknown outcome instead)"
  ok "all $n keys written so far read back with their last acknowledged value$note"
}
# write_keys PREFIX COUNT [PORT...]: COUNT writes spread over the ports (default: all), each read
# back through the next one.
write_keys() {
  local prefix=$1 count=$2 i port next code
  shift 2
  local via=("$@")
  [ $# -gt 0 ] || via=("${ports[@]}")
  for ((i = 0; i < count; i++)); do
    port=${via[$((i % ${#via[@]}))]}
    next=${via[$(((i + 1) % ${#via[@]}))]}
    put_ok "$port" "$prefix/$i" "$prefix-value-$i"
    [ "$(get "$next" "$prefix/$i")" = "$prefix-value-$i" ] || fail "GET $prefix/$i on port $next read another value"
  done
  ok "$count writes ($prefix/0..$((count - 1))) through ports ${via[*]}, each read back through another port"
}
# died_since UNIX_SECONDS: "container:exit-code" of this project's containers that stopped since then.
died_since() {
  docker events --since "$1" --until "$(($(date +%s) + 1))" --filter event=die \
    --filter "label=com.docker.compose.project=$project" \
    --format '{{.Actor.Attributes.name}}:{{.Actor.Attributes.exitCode}}' | sort | tr '\n' ' '
}
header() { grep -i "^$1:" "$work/put.headers" | tr -d '\r' | awk '{print $2}'; }

step "preflight"
docker compose version >/dev/null 2>&1 || fail "docker compose v2 is not available"
for p in "${ports[@]}" "${grow_ports[@]}"; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/"; then
    fail "127.0.0.1:$p already answers: stop what runs there (npm start? another compose project?)"
  fi
done
dc --profile grow down -v --remove-orphans >/dev/null 2>&1 || true
ok "docker $(docker version -f '{{.Server.Version}}'), $(docker compose version --short 2>/dev/null || echo compose), ports ${ports[*]} ${grow_ports[*]} free"

step "1. docker compose up -d --build --wait"
t=$(now_ms)
dc up -d --build --wait --wait-timeout 180 >"$work/up.log" 2>&1 || {
  cat "$work/up.log"
  fail "up did not bring three healthy containers"
}
ok "three healthy containers in $(($(now_ms) - t)) ms; image raftkv:local is $(docker image inspect -f '{{.Size}}' raftkv:local | awk '{printf "%.0f MB", $1/1e6}')"
dc ps --format '{{.Service}} {{.State}} {{.Status}} {{.Ports}}' | sed 's/^/      /'
for p in "${ports[@]}"; do wait_ready "$p" 30; done
write_keys first 12

# The nodes authenticate each other with the secret the first of them created on the shared
# volume; a peer request without its MAC, sent from inside the compose network, is refused.
mode=$(dc exec -T node1 stat -c '%a %U' /secrets/cluster.secret) || fail "no cluster secret on the shared volume"
[ "$mode" = "600 node" ] || fail "the cluster secret is '$mode', not 600 owned by node"
forged=$(dc exec -T node1 node -e 'fetch("http://node2:7102/raft/v1/batch", { method: "POST",
  headers: { "content-type": "application/msgpack" }, body: new Uint8Array([0x80]) })
  .then((r) => console.log(r.status), (e) => console.log(e.message))')
[ "$forged" = "401" ] || fail "an unsigned peer request got '$forged', not 401"
ok "peers share one generated secret (/secrets/cluster.secret, mode $mode); an unsigned peer request gets 401"

step "2. kill the container leading a shard; writes to that shard resume"
put_ok "${ports[0]}" failover/key v0
shard=$(header x-raft-shard)
leader=$(curl -s --max-time 2 "http://127.0.0.1:${ports[0]}/v1/status" |
  node -e 'const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const g = s.groups.find((x) => x.shard === Number(process.argv[1]));
    console.log(g?.leader ?? "");' "$shard")
[ -n "$leader" ] || fail "no leader known for shard $shard"
victim=$(field "$leader" 2)
victim_port=$(field "$leader" 3)
via=""
for p in "${ports[@]}"; do [ "$p" = "$victim_port" ] || { via=$p; break; }; done
old_ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(dc ps -q "$victim")")
ok "key failover/key is in shard $shard, led by $leader (service $victim, $old_ip); writing through port $via"
# A writer overwrites failover/key through $via as fast as it gets answers, before, during and
# after the kill; the window is the longest gap between two acknowledged writes.
writer() {
  local i=0 out
  while [ ! -e "$work/writer.stop" ]; do
    i=$((i + 1))
    out=$(curl -s -o /dev/null -w '%{http_code} %header{x-raft-node}' --max-time 1 \
      -X PUT --data-binary "w$i" "http://127.0.0.1:$via/v1/kv/failover/key" || true)
    echo "$(now_ms) ${out%% *} w$i ${out#* }" >>"$work/writer.log"
    case "${out%% *}" in
      200) printf 'failover/key\tw%s\n' "$i" >>"$acked" ;;
      000 | 504) printf 'failover/key\tw%s\n' "$i" >>"$unknown" ;;
    esac
  done
}
acks_after() { awk -v t="$1" '$2 == 200 && $1 > t' "$work/writer.log" 2>/dev/null | wc -l; }
: >"$work/writer.log"
writer &
writer_pid=$!
deadline=$(($(now_ms) + 10000))
until [ "$(acks_after 0)" -ge 5 ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "the writer got no 5 acknowledgements in 10 s"
  sleep 0.05
done
kill_start=$(now_ms)
since=$(date +%s)
dc kill "$victim" >"$work/kill.log" 2>&1 || {
  cat "$work/kill.log"
  fail "kill failed"
}
kill_end=$(now_ms)
deadline=$((kill_end + 30000))
until [ "$(acks_after "$kill_end")" -ge 5 ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "writes to shard $shard did not resume within 30 s: $(tail -5 "$work/writer.log" | tr '\n' ' ')"
  sleep 0.05
done
touch "$work/writer.stop"
wait "$writer_pid"
writer_pid=""
ok "exit code of the killed container: $(died_since "$since")"
# The longest gap between consecutive acknowledged writes from the last one before the kill on.
read -r gap from to failed codes typical < <(awk -v ks="$kill_start" '
  $2 == 200 {
    if (prev != "" && $1 >= ks && $1 - prev > gap) { gap = $1 - prev; from = prev; to = $1; failed = pending; codes = pcodes }
    if (prev != "" && $1 < ks) { n++; sum += $1 - prev }
    prev = $1; pending = 0; pcodes = ""; next
  }
  { pending++; pcodes = pcodes (pcodes == "" ? "" : ",") $2 }
  END { printf "%d %d %d %d %s %d\n", gap, from - ks, to - ks, failed, (codes == "" ? "-" : codes), (n ? sum / n : 0) }' "$work/writer.log")
new_leader=$(awk '$2 == 200 { n = $4 } END { print n }' "$work/writer.log")
ok "docker compose kill $victim took $((kill_end - kill_start)) ms; writes to shard $shard went on through $new_leader"
ok "unavailability window: $gap ms between the last acknowledged write before $victim died and the first after (from +$from ms to +$to ms of the kill command; $failed unacknowledged attempt(s) in between: $codes; a write takes $typical ms when all is well)"
survivors=()
for p in "${ports[@]}"; do [ "$p" = "$victim_port" ] || survivors+=("$p"); done
write_keys during-outage 6 "${survivors[@]}"

step "3. docker compose start $victim (on another address)"
# A stand-in container joins the network first and takes the lowest free address, the one the
# killed node had, so the node comes back on a new one and its peers must find it by name again.
docker run -d --rm --pull never --name "$project-squatter" --network "${project}_default" \
  --entrypoint sleep node:20-slim 600 >/dev/null
t=$(now_ms)
dc start "$victim" >"$work/start.log" 2>&1 || {
  cat "$work/start.log"
  fail "start failed"
}
wait_ready "$victim_port" 60
new_ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(dc ps -q "$victim")")
ok "$victim ready (/readyz 200) $(($(now_ms) - t)) ms after start; address $old_ip -> $new_ip"
docker rm -f "$project-squatter" >/dev/null
[ "$new_ip" != "$old_ip" ] || say "   note: $victim came back on its old address, so this run did not test a changed one"
# Replication reaches it at its current address: a new write shows up in its own local state.
put_ok "$via" failover/key after-restart
deadline=$(($(now_ms) + 10000))
until [ "$(curl -s --max-time 1 "http://127.0.0.1:$victim_port/v1/kv/failover/key?consistency=stale" || true)" = after-restart ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "$victim's replica did not receive a new write within 10 s"
  sleep 0.1
done
ok "$victim's own replica of shard $shard has the write made after its restart (stale read on port $victim_port)"
check_all

step "4. docker compose restart (all three at once)"
t=$(now_ms)
since=$(date +%s)
dc restart >"$work/restart.log" 2>&1 || {
  cat "$work/restart.log"
  fail "restart failed"
}
for p in "${ports[@]}"; do wait_ready "$p" 60; done
ok "all three stopped (SIGTERM) and ready again in $(($(now_ms) - t)) ms"
exits=$(died_since "$since")
ok "exit codes of the stopped containers: $exits"
[ "$(echo "$exits" | grep -o ':0' | wc -l)" = "${#ports[@]}" ] || fail "every node should exit 0 on SIGTERM"
check_all
write_keys after-restart 6

step "5. docker compose down (volumes kept), then up -d --wait"
t=$(now_ms)
dc down >"$work/down1.log" 2>&1 || {
  cat "$work/down1.log"
  fail "down failed"
}
volumes=$(docker volume ls -q --filter "label=com.docker.compose.project=$project" | tr '\n' ' ')
# One data volume per node, and the shared one holding the cluster secret.
[ "$(echo "$volumes" | wc -w)" = "$((${#ports[@]} + 1))" ] || fail "expected $((${#ports[@]} + 1)) kept volumes, found: $volumes"
ok "containers removed in $(($(now_ms) - t)) ms; volumes kept: $volumes"
t=$(now_ms)
dc up -d --wait --wait-timeout 120 >"$work/up2.log" 2>&1 || {
  cat "$work/up2.log"
  fail "up after down did not become healthy"
}
for p in "${ports[@]}"; do wait_ready "$p" 30; done
ok "healthy again in $(($(now_ms) - t)) ms on the kept volumes"
check_all

step "6. docker compose down -v, then up -d --wait: a fresh cluster"
dc down -v >"$work/down2.log" 2>&1 || {
  cat "$work/down2.log"
  fail "down -v failed"
}
[ -z "$(docker volume ls -q --filter "label=com.docker.compose.project=$project")" ] || fail "volumes left after down -v"
t=$(now_ms)
dc up -d --wait --wait-timeout 120 >"$work/up3.log" 2>&1 || {
  cat "$work/up3.log"
  fail "up after down -v did not become healthy"
}
for p in "${ports[@]}"; do wait_ready "$p" 30; done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${ports[0]}/v1/kv/first/0" || true)
[ "$code" = 404 ] || fail "first/0 on the fresh cluster answered $code, expected 404"
ok "fresh cluster healthy in $(($(now_ms) - t)) ms; first/0 is gone (404)"
: >"$acked"
write_keys fresh 6
check_all

step "7. docker compose --profile grow up -d node4 node5: the cluster grows to five nodes, then shrinks"
# node_table PORT: GET /v1/admin/nodes through that port, as one summary line:
#   "<active> <total> <all up: yes|no> <moving: none|list> <balanced: yes|no> <id:state:replicas ...>"
# balanced: every active node holds a replica count within ±1 of the mean over the active nodes.
node_table() {
  curl -s --max-time 3 "http://127.0.0.1:$1/v1/admin/nodes" | node -e '
    let t;
    try { t = JSON.parse(require("fs").readFileSync(0, "utf8")); } catch { console.log("? ? ? ? ? unreadable"); process.exit(0); }
    if (!Array.isArray(t.nodes)) { console.log("? ? ? ? ? " + JSON.stringify(t).slice(0, 200).replace(/\s/g, "")); process.exit(0); }
    const active = t.nodes.filter((n) => n.state === "active");
    const mean = active.reduce((s, n) => s + n.replicas, 0) / Math.max(1, active.length);
    const balanced = active.every((n) => Math.abs(n.replicas - mean) <= 1);
    console.log([active.length, t.nodes.length, t.nodes.every((n) => n.up === true) ? "yes" : "no",
      t.moving.length === 0 ? "none" : t.moving.join(","), balanced ? "yes" : "no",
      t.nodes.map((n) => `${n.id}:${n.state}:${n.replicas}`).join(" ")].join(" "));' 2>/dev/null || echo "? ? ? ? ? no-answer"
}
# wait_table SECONDS DESCRIPTION TEST [POLLS]: polls node_table on the first port until TEST (an
# awk condition on the summary's fields) holds in POLLS (default 3) polls in a row, a second apart
# (the rebalancer moves one replica at a time and "moving" is briefly empty between two moves);
# prints each change of the table on the way.
wait_table() {
  local deadline=$(($(now_ms) + $1 * 1000)) line last="" held=0
  while :; do
    line=$(node_table "${ports[0]}")
    [ "$line" = "$last" ] || say "   table: $line"
    last=$line
    if echo "$line" | awk "{ exit !($3) }"; then held=$((held + 1)); else held=0; fi
    [ "$held" -lt "${4:-3}" ] || break
    [ "$(now_ms)" -lt "$deadline" ] || fail "$2 not reached within $1 s (last: $line)"
    sleep 1
  done
}
t=$(now_ms)
dc --profile grow up -d node4 node5 >"$work/grow.log" 2>&1 || {
  cat "$work/grow.log"
  fail "--profile grow up -d node4 node5 failed"
}
for p in "${grow_ports[@]}"; do wait_ready "$p" 90; done
ok "node4 and node5 ready $(($(now_ms) - t)) ms after up"
wait_table 180 "five active nodes, all up, nothing moving, replicas balanced" \
  '$1 == 5 && $2 == 5 && $3 == "yes" && $4 == "none" && $5 == "yes"' 5
ok "five active nodes, replicas balanced, nothing moving $(($(now_ms) - t)) ms after up"
put_ok 7005 grow/key grown-to-five
[ "$(get 7004 grow/key)" = grown-to-five ] || fail "grow/key read through node4 is not what node5 wrote"
[ "$(get "${ports[0]}" grow/key)" = grown-to-five ] || fail "grow/key read through node1 is not what node5 wrote"
ok "grow/key written through node5, read back through node4 and node1"
# A joined node restarts from its volume alone: /data/joined.json holds the join's answer.
t=$(now_ms)
dc --profile grow restart node4 >"$work/restart4.log" 2>&1 || {
  cat "$work/restart4.log"
  fail "restart node4 failed"
}
dc exec -T node4 test -s /data/joined.json || fail "node4 has no /data/joined.json"
wait_ready 7004 60
wait_table 60 "five active nodes, all up, after node4's restart" '$1 == 5 && $2 == 5 && $3 == "yes"'
[ "$(get 7004 grow/key)" = grown-to-five ] || fail "grow/key read through node4 after its restart is wrong"
ok "node4 restarted from its volume (joined.json) and was ready again in $(($(now_ms) - t)) ms"

t=$(now_ms)
# The CLI in node1's container: it drains n5 and follows it until it is out of the table.
dc exec -T node1 timeout 240 node dist/cli.js node remove n5 >"$work/remove-n5.log" 2>&1 || {
  cat "$work/remove-n5.log"
  fail "raftkv node remove n5 failed"
}
sed 's/^/      /' "$work/remove-n5.log"
grep -q '^node n5 removed' "$work/remove-n5.log" || fail "raftkv node remove n5 did not say n5 was removed"
ok "raftkv node remove n5 drained and removed it in $(($(now_ms) - t)) ms"
wait_table 180 "four active nodes, nothing moving" '$1 == 4 && $2 == 4 && $4 == "none"'
t=$(now_ms)
# And n4 the way a script would: DELETE /v1/admin/nodes/n4 (202, leaving), then poll the table.
code=$(curl -s -o "$work/delete.body" -w '%{http_code}' --max-time 30 -X DELETE "http://127.0.0.1:${ports[1]}/v1/admin/nodes/n4" || true)
[ "$code" = 202 ] || fail "DELETE /v1/admin/nodes/n4 answered $code: $(cat "$work/delete.body")"
ok "DELETE /v1/admin/nodes/n4: $code $(cat "$work/delete.body")"
wait_table 180 "three active nodes, nothing moving" '$1 == 3 && $2 == 3 && $4 == "none"'
ok "n4 drained and removed in $(($(now_ms) - t)) ms; the table has three nodes again"
for p in "${ports[@]}"; do
  [ "$(get "$p" grow/key)" = grown-to-five ] || fail "grow/key read through port $p after the shrink is wrong"
done
ok "grow/key reads back through ports ${ports[*]} after node5 and node4 left"
t=$(now_ms)
dc --profile grow stop node4 node5 >"$work/stop.log" 2>&1 || {
  cat "$work/stop.log"
  fail "stopping node4 and node5 failed"
}
dc --profile grow rm -f node4 node5 >/dev/null 2>&1 || true
ok "node4 and node5 stopped and removed in $(($(now_ms) - t)) ms"
check_all

step "8. raftkv backup from the host; down -v; restore every node into a new cluster; up: every acknowledged write is there"
t=$(now_ms)
endpoints=$(printf 'http://127.0.0.1:%s,' "${ports[@]}")
node dist/cli.js backup --out "$work/raftkv.backup" --endpoints "${endpoints%,}" >"$work/backup.log" 2>&1 || {
  cat "$work/backup.log"
  fail "raftkv backup failed"
}
sed 's/^/      /' "$work/backup.log"
ok "backup taken and verified in $(($(now_ms) - t)) ms"
dc --profile grow down -v >"$work/down3.log" 2>&1 || {
  cat "$work/down3.log"
  fail "down -v before the restore failed"
}
# The containers run as the unprivileged `node` user: the backup must be readable by it.
chmod 755 "$work"
chmod 644 "$work/raftkv.backup"
t=$(now_ms)
for l in "${nodes[@]}"; do
  read -r id svc _ <<<"$l"
  # A one-shot container of the node's service: its own data volume on /data, the backup mounted.
  dc run --rm --no-deps -T -v "$work:/backup:ro" "$svc" \
    restore --from /backup/raftkv.backup --config /app/cluster/compose-restored.json --id "$id" --data /data \
    >"$work/restore-$id.log" 2>&1 || {
    cat "$work/restore-$id.log"
    fail "restore of $id failed"
  }
  sed 's/^/      /' "$work/restore-$id.log"
done
ok "three data volumes restored in $(($(now_ms) - t)) ms"
t=$(now_ms)
RAFTKV_CLUSTER_FILE=/app/cluster/compose-restored.json dc up -d --wait --wait-timeout 120 >"$work/up4.log" 2>&1 || {
  cat "$work/up4.log"
  fail "the restored cluster did not become healthy"
}
for p in "${ports[@]}"; do wait_ready "$p" 30; done
cluster_id=$(curl -s --max-time 3 "http://127.0.0.1:${ports[0]}/v1/cluster" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).clusterId)')
[ "$cluster_id" = raftkv-restored ] || fail "the restored cluster says its id is $cluster_id"
ok "restored cluster $cluster_id healthy in $(($(now_ms) - t)) ms"
check_all
write_keys restored 3
