#!/usr/bin/env bash
# How fast is mqtt5-shared-subscription next to mosquitto's own clients, on the same broker?
#
#   scripts/bench.sh                                   # full size: 1 to 3 minutes after the build
#   BENCH_COUNT=5000 BENCH_ROUNDS=1 BENCH_MILLION=0 scripts/bench.sh   # a quick check that it works
#
# Three things move BENCH_COUNT messages through one `$share/bench/t` group of BENCH_MEMBERS members,
# over mutual TLS, through a local mosquitto:
#
#   clients  mosquitto's own clients: BENCH_MEMBERS `mosquitto_sub` and one `mosquitto_pub -l`.
#            Time from starting the publisher to the last receipt (the members connect before).
#   ceiling  the same with 4 `mosquitto_pub -l` in parallel: about as fast as the broker goes.
#   tool     this binary, `--count N --subscribers M --qos Q`: the whole process, connects
#            included, and its exit code must be 0 (every message reached the group exactly once).
#
# Loopback throughput on a shared machine drifts by minutes (see ../README.md, "Speed"), so a single
# figure means little. The three run interleaved, each on a fresh broker, for BENCH_ROUNDS rounds at
# QoS 1 and at QoS 0, and the table shows medians and the ratios between them: the ratios are what
# to compare across machines. Then this binary's peak memory at BENCH_COUNT and at a million
# messages, and the wall time of a default run (10 messages) and of a 100-member group.
#
# Environment:
#   BENCH_COUNT    messages per measurement                         (default 100000)
#   BENCH_MEMBERS  members in the group                             (default 3)
#   BENCH_ROUNDS   interleaved rounds; the table shows medians      (default 3)
#   BENCH_MILLION  0 skips the 1,000,000-message memory run         (default 1)
#   BENCH_TIMEOUT  seconds any one measurement may take             (default 300)
#   BENCH_BIN      a binary to measure instead of `cargo build --release`'s
#
# Needs mosquitto, mosquitto_pub/mosquitto_sub, openssl and GNU time; as root on Debian/Ubuntu it
# installs the missing ones with apt-get. Everything runs on 127.0.0.1, in a temp dir that is
# removed at the end, with every process it started stopped, also on Ctrl-C or failure.

set -euo pipefail
export LC_ALL=C # a '.' in $EPOCHREALTIME and in awk's numbers, whatever the user's locale

COUNT=${BENCH_COUNT:-100000}
MEMBERS=${BENCH_MEMBERS:-3}
ROUNDS=${BENCH_ROUNDS:-3}
MILLION=${BENCH_MILLION:-1}
LIMIT=${BENCH_TIMEOUT:-300}
CHUNK=50000               # mosquitto_pub -l at QoS>0 stops after 65,535 lines (its packet ids wrap)
CEILING_PUBLISHERS=4
STALL=10                  # seconds without a new receipt before a clients measurement gives up
TOPIC=t                   # what the publishers publish to
FILTER="\$share/bench/$TOPIC" # what the members subscribe to: share group 'bench', topic 't'

say() { printf '%s\n' "$*" >&2; }
die() { say "bench.sh: $*"; exit 1; }

# A typo in a BENCH_ variable should stop the run at once, not after minutes of measuring.
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a whole number above 0, not '$2'"; }
positive BENCH_COUNT "$COUNT"
positive BENCH_MEMBERS "$MEMBERS"
positive BENCH_ROUNDS "$ROUNDS"
positive BENCH_TIMEOUT "$LIMIT"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mqtt5-bench.XXXXXX")
pids=()                   # background processes started and not yet stopped
measurement=0             # numbers each measurement's directory and client ids

# --- cleanup: runs on every exit, normal, failed or interrupted -----------------------------------

# Stops what is still running (brokers, members, publishers) and removes the temp dir, so an
# interrupted benchmark leaves no broker holding a port and no keys in /tmp.
cleanup() {
    ((${#pids[@]} == 0)) || stop "${pids[@]}"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT # exit runs the EXIT trap, so Ctrl-C cleans up too
trap 'exit 143' TERM

# Remembers a background process so that cleanup stops it.
track() { pids+=("$1"); }

# Forgets a process that has ended: the system may give its pid to another one now.
forget() {
    local pid=$1 kept=() p
    for p in "${pids[@]}"; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    pids=("${kept[@]}")
}

# Stops the given background processes: SIGTERM, then SIGKILL for any still there after 2 s.
# The KILL is needed: a mosquitto_sub whose broker goes away at the same moment keeps trying to
# reconnect and ignores the TERM.
stop() {
    local pid deadline=$((SECONDS + 2))
    for pid in "$@"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "$@"; do
        # bash reaps its children as they end, so `kill -0` fails once this one is gone.
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
        forget "$pid"
    done
}

# --- what the benchmark needs ---------------------------------------------------------------------

# Makes sure COMMAND exists, installing PACKAGE with apt-get when we can (root on Debian/Ubuntu).
need() {
    local command=$1 package=$2
    command -v "$command" >/dev/null && return
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
        say "installing $package (for $command)"
        apt-get install -y -qq "$package" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null && apt-get install -y -qq "$package" >/dev/null; }
    fi
    command -v "$command" >/dev/null || die "$command is missing: install the $package package"
}

# Builds the release binary (or takes BENCH_BIN) and sets $bin.
find_binary() {
    if [[ -n ${BENCH_BIN:-} ]]; then
        bin=$BENCH_BIN
    else
        say "building: cargo build --release"
        (cd "$repo" && cargo build --release --quiet)
        local target=${CARGO_TARGET_DIR:-target}
        [[ $target == /* ]] || target=$repo/$target
        bin=$target/release/mqtt5-shared-subscription
    fi
    [[ -x $bin ]] || die "no binary at $bin"
}

# A throw-away CA, a server certificate for 127.0.0.1 and a client certificate, with openssl:
# mosquitto and the tool both check the other side against the CA, as in production.
make_pki() {
    local dir=$work/pki ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    mkdir "$dir"
    {
        openssl req -x509 "${ec[@]}" -days 2 -subj /CN=bench-ca \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
            -keyout "$dir/ca.key" -out "$dir/ca.pem"
        openssl req "${ec[@]}" -subj /CN=localhost -keyout "$dir/server.key" -out "$dir/server.csr"
        openssl x509 -req -in "$dir/server.csr" -days 2 -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
            -CAcreateserial -out "$dir/server.pem" -extfile <(printf '%s\n' \
            'subjectAltName=DNS:localhost,IP:127.0.0.1' 'extendedKeyUsage=serverAuth')
        openssl req "${ec[@]}" -subj /CN=bench-client -keyout "$dir/client.key" -out "$dir/client.csr"
        openssl x509 -req -in "$dir/client.csr" -days 2 -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
            -CAcreateserial -out "$dir/client.pem" -extfile <(printf '%s\n' \
            'extendedKeyUsage=clientAuth')
    } >"$dir/openssl.log" 2>&1 || die "openssl failed: $(tail -n 5 "$dir/openssl.log")"
    ca=$dir/ca.pem server_cert=$dir/server.pem server_key=$dir/server.key
    client_cert=$dir/client.pem client_key=$dir/client.key
}

# --- the broker -----------------------------------------------------------------------------------

# Starts a fresh mosquitto with mutual TLS on a free 127.0.0.1 port in DIR; sets $port, $broker.
# Fresh for every measurement: a long-lived broker looked slower round after round.
start_broker() {
    local dir=$1 attempt
    for ((attempt = 1; attempt <= 5; attempt++)); do
        port=$((20000 + RANDOM % 30000))
        (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null && continue # taken
        cat >"$dir/mosquitto.conf" <<EOF
listener $port 127.0.0.1
cafile $ca
certfile $server_cert
keyfile $server_key
require_certificate true
use_identity_as_username true
allow_anonymous true
persistence false
# unlimited queue: the default silently drops QoS 1 messages beyond 1000 queued per client
max_queued_messages 0
# as root, mosquitto drops to user mosquitto, who could not read our 0600 keys
user root
# send PUBACKs at once instead of waiting out TCP's delayed ACK
set_tcp_nodelay true
log_dest file $dir/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
log_type subscribe
EOF
        "$mosquitto" -c "$dir/mosquitto.conf" >/dev/null 2>&1 &
        broker=$!
        track "$broker"
        if broker_accepting "$dir/mosquitto.log"; then
            return
        fi
        stop "$broker" # e.g. the port was taken between our look and its bind: try another
    done
    die "mosquitto did not start; its log: $(tail -n 5 "$dir/mosquitto.log" 2>/dev/null)"
}

# True once mosquitto logged " running" and its port takes a TCP connection (within 10 s).
broker_accepting() {
    local log=$1 deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        kill -0 "$broker" 2>/dev/null || return 1
        if grep -q ' running' "$log" 2>/dev/null && (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.02
    done
    return 1
}

# The flags mosquitto_pub and mosquitto_sub need to reach the broker over mutual TLS.
client_flags() {
    tls=(-V mqttv5 -h 127.0.0.1 -p "$port" --cafile "$ca" --cert "$client_cert" --key "$client_key")
}

# --- mosquitto's clients: the baseline and the ceiling --------------------------------------------

# The messages, one 8-byte payload a line (00000001 ...), written once per size.
lines_file() {
    local count=$1 file=$work/lines-$1.txt
    [[ -f $file ]] || seq -f '%08.0f' 1 "$count" >"$file"
    echo "$file"
}

# Feeds each chunk file to its own `mosquitto_pub -l` connection, one after the other. Runs in the
# background; a TERM stops the mosquitto_pub running now too.
publish_chunks() {
    local qos=$1 id=$2 n=0 chunk child=
    shift 2
    trap '[[ -n $child ]] && { kill -KILL "$child"; wait "$child"; } 2>/dev/null || true; exit 143' TERM
    for chunk in "$@"; do
        # A distinct client id per connection: reusing one for back-to-back QoS 0 publishers
        # loses messages (the broker is still flushing the old session when the new one takes over).
        mosquitto_pub "${tls[@]}" -i "$id-$((++n))" -q "$qos" -t "$TOPIC" -l <"$chunk" &
        child=$!
        wait "$child"
    done
}

# Waits until the member files hold COUNT lines in all; dies if they stop growing for STALL
# seconds or the measurement takes longer than LIMIT.
wait_for_receipts() {
    local count=$1 qos=$2 total last_total=-1 last_change=$SECONDS deadline=$((SECONDS + LIMIT))
    shift 2
    while :; do
        total=$(cat "$@" | wc -l)
        ((total >= count)) && return 0
        if ((total != last_total)); then
            last_total=$total last_change=$SECONDS
        fi
        # At QoS 0 the broker may drop messages for a subscriber that falls behind (mosquitto
        # does, and mosquitto_sub, which prints every line, falls behind): a stall ends the wait,
        # and the caller counts what arrived.
        if ((qos == 0 && SECONDS - last_change >= 2)); then
            say "  QoS 0: $((count - total)) of $count messages never reached mosquitto_sub (the broker dropped them)"
            return 0
        fi
        ((SECONDS - last_change < STALL)) || die "only $total of $count messages arrived (stalled ${STALL}s)"
        ((SECONDS < deadline)) || die "only $total of $count messages arrived within ${LIMIT}s"
        sleep 0.05
    done
}

# Waits until the broker logged one `$share` subscription per member.
wait_for_subscriptions() {
    local log=$1 deadline=$((SECONDS + 10))
    until (($(grep -cF " $FILTER" "$log") >= MEMBERS)); do
        ((SECONDS < deadline)) || die "the members did not subscribe within 10 s: $(tail -n 5 "$log")"
        sleep 0.02
    done
}

# One measurement of mosquitto's clients: MEMBERS mosquitto_sub on the group, PUBLISHERS
# mosquitto_pub -l sharing the messages, each fed at most CHUNK lines per connection.
# Sets $rate (msg/s) from the publishers' start to the last receipt, as mosquitto_sub stamped it,
# and $first_ms, the time to the first receipt.
measure_clients() {
    local qos=$1 publishers=$2 dir=$work/m$((++measurement))
    local k part start first last members=() member_pids=() publisher_pids=()
    mkdir "$dir"
    start_broker "$dir"
    client_flags

    # Each member prints "<receipt time, ns> <payload>" per message, flushed as it arrives, so we
    # can count progress while they run. Not `-C`: which member gets the odd message out varies
    # run to run, so no fixed count per member is right. Not `-W`: it counts from the start, not
    # from the last message. We stop them once all COUNT lines are in.
    for ((k = 1; k <= MEMBERS; k++)); do
        members+=("$dir/member-$k.txt")
        mosquitto_sub "${tls[@]}" -i "bench-$measurement-member-$k" -q "$qos" -t "$FILTER" \
            -F '%U %p' >"$dir/member-$k.txt" 2>"$dir/member-$k.err" &
        member_pids+=($!)
        track $!
    done
    wait_for_subscriptions "$dir/mosquitto.log"

    # Split the messages into one contiguous share per publisher, each share into chunks.
    split -n "l/$publishers" -d -a 2 "$(lines_file "$COUNT")" "$dir/share-"
    for part in "$dir"/share-??; do
        split -l "$CHUNK" -d -a 3 "$part" "$part-chunk-"
    done

    start=$EPOCHREALTIME
    for part in "$dir"/share-??; do
        publish_chunks "$qos" "bench-$measurement-pub-${part##*-}" "$part"-chunk-* &
        publisher_pids+=($!)
        track $!
    done
    wait_for_receipts "$COUNT" "$qos" "${members[@]}"
    for k in "${publisher_pids[@]}"; do
        wait "$k" || die "a mosquitto_pub failed (exit $?); its error is above"
        forget "$k"
    done
    stop "${member_pids[@]}"
    stop "$broker"

    # Exactly once: COUNT lines and COUNT distinct payloads.
    local total unique
    total=$(cat "${members[@]}" | wc -l)
    unique=$(cut -d' ' -f2 "${members[@]}" | sort -u | wc -l)
    if ((qos == 0)); then
        # What arrived, arrived once; the rate below counts only that.
        ((total == unique)) || die "mosquitto's clients: $total receipts, only $unique distinct"
    else
        ((total == COUNT && unique == COUNT)) ||
            die "mosquitto's clients: $total receipts, $unique distinct, expected $COUNT of each"
    fi
    read -r first last < <(sort -g "${members[@]}" | awk 'NR == 1 { f = $1 } END { print f, $1 }')
    rate=$(awk -v n="$total" -v s="$start" -v e="$last" 'BEGIN { printf "%.0f", n / (e - s) }')
    # How long mosquitto_pub took to get its first message through: part of its time above, and
    # the reason small counts make mosquitto's clients look slow.
    first_ms=$(awk -v s="$start" -v f="$first" 'BEGIN { printf "%.0f", (f - s) * 1000 }')
    rm -rf "$dir"
}

# --- this tool ------------------------------------------------------------------------------------

# One run of this binary against a fresh broker: `--count COUNT` and the other flags given.
# Sets $rate (msg/s over the whole process), $seconds and $rss_kb (peak RSS).
measure_tool() {
    local count=$1 dir=$work/m$((++measurement)) start end code=0
    shift
    mkdir "$dir"
    start_broker "$dir"
    start=$EPOCHREALTIME
    # time outside, so it reports the binary's peak RSS (wait4 counts a child's waited-for
    # children); timeout --foreground so that Ctrl-C reaches the binary straight away.
    /usr/bin/time -v -o "$dir/time.txt" timeout --foreground "$LIMIT" "$bin" \
        --endpoint 127.0.0.1 --port "$port" \
        --cert "$client_cert" --key "$client_key" --ca_file "$ca" \
        --client_id "bench-$measurement" --count "$count" "$@" \
        >"$dir/report.txt" 2>"$dir/log.txt" || code=$?
    end=$EPOCHREALTIME
    stop "$broker"
    ((code == 0)) || die "the tool exited with $code; its last output: $(tail -q -n 5 "$dir/log.txt" "$dir/report.txt")"
    seconds=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
    rate=$(awk -v n="$count" -v t="$seconds" 'BEGIN { printf "%.0f", n / t }')
    rss_kb=$(awk '/Maximum resident set size/ { print $NF }' "$dir/time.txt")
    rm -rf "$dir"
}

# --- numbers --------------------------------------------------------------------------------------

# The median of the arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

# --- the run --------------------------------------------------------------------------------------

main() {
    need openssl openssl
    need /usr/bin/time time
    need mosquitto_pub mosquitto-clients
    mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
    [[ -x $mosquitto ]] || { need mosquitto mosquitto; mosquitto=$(command -v mosquitto); }
    find_binary
    make_pki

    say "$("$bin" --version | head -n 1), $("$mosquitto" -h 2>/dev/null | head -1 || true)"
    say "$COUNT messages, $MEMBERS members, $ROUNDS rounds, mutual TLS on 127.0.0.1, $(nproc) cores"

    # The tool's flags for throughput: `-q` and the text report keep its own output cheap
    # (`--json` would print a line per message); `--message m` makes 8-byte-ish payloads, "m [123]".
    local tool_flags=(--subscribers "$MEMBERS" --message m -q)

    # Interleaved: clients, ceiling, tool, clients, ceiling, tool, ... so that a slow minute on
    # the machine hits all three alike.
    declare -A results=()
    local round qos what
    for ((round = 1; round <= ROUNDS; round++)); do
        for qos in 1 0; do
            measure_clients "$qos" 1
            results[clients$qos]+=" $rate"
            results[first]+=" $first_ms"
            say "round $round/$ROUNDS  QoS $qos  mosquitto clients  $rate msg/s"
            measure_clients "$qos" "$CEILING_PUBLISHERS"
            results[ceiling$qos]+=" $rate"
            say "round $round/$ROUNDS  QoS $qos  broker ceiling     $rate msg/s"
            measure_tool "$COUNT" "${tool_flags[@]}" --qos "$qos"
            results[tool$qos]+=" $rate"
            results[rss$qos]+=" $rss_kb"
            say "round $round/$ROUNDS  QoS $qos  this tool          $rate msg/s  $(mb "$rss_kb")"
        done
    done

    local million=""
    if [[ $MILLION != 0 ]]; then
        measure_tool 1000000 "${tool_flags[@]}" --qos 0
        million="$(mb "$rss_kb") at 1,000,000 (QoS 0: ${seconds} s, $rate msg/s)"
        say "1,000,000 messages QoS 0: $seconds s, $(mb "$rss_kb")"
    fi

    measure_tool 10 # the default run: 2 members, QoS 1, info logs (to a file)
    local default_run
    default_run="${seconds} s wall, $(mb "$rss_kb") peak RSS"

    # A big group: 100 TLS connections and SUBACKs before the first message, then 100 messages.
    measure_tool 100 --subscribers 100 -q
    local big_group
    big_group="${seconds} s wall, $(mb "$rss_kb") peak RSS"

    declare -A m=()
    # shellcheck disable=SC2086 # the lists are space-separated numbers on purpose
    for what in clients1 clients0 ceiling1 ceiling0 tool1 tool0 rss1 rss0 first; do
        m[$what]=$(median ${results[$what]})
    done

    printf '\n%s messages, %s members, mutual TLS on 127.0.0.1; msg/s, median of %s rounds\n\n' \
        "$COUNT" "$MEMBERS" "$ROUNDS"
    printf '%-36s %10s %10s\n' "" "QoS 1" "QoS 0"
    printf '%-36s %10s %10s\n' "mosquitto clients (1 publisher)" "${m[clients1]}" "${m[clients0]}"
    printf '%-36s %10s %10s\n' "broker ceiling ($CEILING_PUBLISHERS publishers)" "${m[ceiling1]}" "${m[ceiling0]}"
    printf '%-36s %10s %10s\n' "this tool" "${m[tool1]}" "${m[tool0]}"
    printf '%-36s %10s %10s\n' "tool / clients" "$(ratio "${m[tool1]}" "${m[clients1]}")" \
        "$(ratio "${m[tool0]}" "${m[clients0]}")"
    printf '%-36s %10s %10s\n' "tool / ceiling" "$(ratio "${m[tool1]}" "${m[ceiling1]}")" \
        "$(ratio "${m[tool0]}" "${m[ceiling0]}")"
    printf '\nper round (msg/s):\n'
    for what in clients1 ceiling1 tool1 clients0 ceiling0 tool0; do
        printf '  %-10s%s\n' "$what" "${results[$what]}"
    done
    printf '\nthis tool, peak RSS: %s at %s messages (QoS 1), %s (QoS 0)%s\n' \
        "$(mb "${m[rss1]}")" "$COUNT" "$(mb "${m[rss0]}")" "${million:+; $million}"
    printf 'this tool, default run (--count 10, 2 members, QoS 1): %s\n' "$default_run"
    printf 'this tool, 100 members and 100 messages (QoS 1): %s\n' "$big_group"
    printf 'mosquitto_pub -l, start to first receipt: %s ms (included in its figures above)\n' "${m[first]}"
    say "bench.sh took ${SECONDS} s"
}

main "$@"
