#!/usr/bin/env bash
# How fast is mqtt5-shared-subscription next to mosquitto's own clients, and at what CPU cost?
#
#   scripts/bench.sh                                   # full size: about 2½ minutes after the build
#   BENCH_ROUNDS=5 BENCH_SCALE=1 scripts/bench.sh      # what README.md's "Results" shows
#   BENCH_COUNT=5000 BENCH_ROUNDS=1 BENCH_MILLION=0 scripts/bench.sh   # a quick check that it works
#
# Four ways move BENCH_COUNT messages through one `$share/bench/t` group of BENCH_MEMBERS members,
# over mutual TLS, through a local mosquitto, with as many connections each as its match:
#
#   clients   mosquitto's own clients: BENCH_MEMBERS `mosquitto_sub` and one `mosquitto_pub -l`.
#             Time from starting the publisher to the last receipt (the members connect before).
#   tool1     this binary, `--subscribers M --publishers 1 --json`: the whole process, connects
#             included; its exit code must be 0 (every message reached the group exactly once).
#   ceiling   mosquitto's clients with 4 `mosquitto_pub -l` in parallel: about as fast as the
#             broker goes.
#   tool4     this binary with `--publishers 4`.
#
# Every message must reach mosquitto's clients too, exactly once, or the benchmark fails: a
# baseline that lost messages would be a baseline that did less work.
#
# For each: msg/s; CPU seconds per 100,000 messages, user+sys of every client process (this
# binary's whole process; every mosquitto_sub and mosquitto_pub); and the broker's CPU share (its
# CPU seconds during the measurement ÷ the wall time): on a 2-core machine the clients' CPU is the
# broker's loss. `--json` is on for the tool (a line per message, to a file), as mosquitto_sub prints
# a line per message too.
#
# Loopback throughput on a shared machine drifts by minutes (see ../README.md, "Speed"), so a single
# figure means little. The four run interleaved (clients, tool1, ceiling, tool4, ...), each on a fresh
# broker, for BENCH_ROUNDS rounds at QoS 1 and at QoS 0; the tables show medians, and the ratios are
# medians of each round's ratio: those are what to compare across machines. Then this binary's peak
# memory at BENCH_COUNT and at a million messages, the wall time of a default run, and (BENCH_SCALE=1)
# how wall time and memory grow from 10 to 10,000 members.
#
# Environment:
#   BENCH_COUNT    messages per measurement                         (default 100000)
#   BENCH_MEMBERS  members in the group                             (default 3)
#   BENCH_ROUNDS   interleaved rounds; the tables show medians      (default 3)
#   BENCH_MILLION  0 skips the 1,000,000-message memory run         (default 1)
#   BENCH_SCALE    1 adds the 10 to 10,000 members table            (default 0)
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
SCALE=${BENCH_SCALE:-0}
LIMIT=${BENCH_TIMEOUT:-300}
CHUNK=50000               # mosquitto_pub -l at QoS>0 stops after 65,535 lines (its packet ids wrap)
CEILING_PUBLISHERS=4
STALL=10                  # seconds without a new receipt before a clients measurement fails
TOPIC=t                   # what the publishers publish to
FILTER="\$share/bench/$TOPIC" # what the members subscribe to: share group 'bench', topic 't'
# mosquitto_sub -F '%U %p' writes "1796490711.615058347 00000001": seconds with 9 decimals (10
# digits until the year 2286), a space, the 8-digit payload, a newline. Fixed length, so the
# size of the member files says how many messages arrived without reading them while it runs.
LINE_BYTES=30
SCALE_MEMBERS=(10 100 1000 10000)
SCALE_MESSAGES=1000

say() { printf '%s\n' "$*" >&2; }
die() { say "bench.sh: $*"; exit 1; }

# A typo in a BENCH_ variable should stop the run at once, not after minutes of measuring.
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a whole number above 0, not '$2'"; }
positive BENCH_COUNT "$COUNT"
positive BENCH_MEMBERS "$MEMBERS"
positive BENCH_ROUNDS "$ROUNDS"
positive BENCH_TIMEOUT "$LIMIT"
[[ $SCALE == [01] ]] || die "BENCH_SCALE must be 0 or 1, not '$SCALE'"
[[ $MILLION == [01] ]] || die "BENCH_MILLION must be 0 or 1, not '$MILLION'"

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

# --- CPU time ---------------------------------------------------------------------------------------

TICKS=$(getconf CLK_TCK)

# CPU seconds (user+sys) a running process has used so far, from /proc/PID/stat.
cpu_of() {
    local stat fields
    read -r stat <"/proc/$1/stat" || die "process $1 is gone: cannot read its CPU time"
    # Fields after "PID (name) ": state is the 1st, utime the 12th, stime the 13th (proc(5)).
    read -ra fields <<<"${stat##*) }"
    awk -v u="${fields[11]}" -v s="${fields[12]}" -v t="$TICKS" 'BEGIN { printf "%.3f", (u + s) / t }'
}

# Prints the CPU seconds (user+sys) of the calling shell's waited-for children, from `times`.
children_cpu() {
    times | awk 'NR == 2 {
        for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); sum += t[1] * 60 + t[2] }
        printf "%.3f\n", sum }'
}

# --- mosquitto's clients: the baseline and the ceiling --------------------------------------------

# The messages, one 8-byte payload a line (00000001 ...), written once per size.
lines_file() {
    local count=$1 file=$work/lines-$1.txt
    [[ -f $file ]] || seq -f '%08.0f' 1 "$count" >"$file"
    echo "$file"
}

# Feeds each chunk file to its own `mosquitto_pub -l` connection, one after the other, then writes
# their CPU seconds to CPU_FILE. Runs in the background; a TERM stops the mosquitto_pub running now too.
publish_chunks() {
    local qos=$1 id=$2 cpu_file=$3 n=0 chunk child=
    shift 3
    trap '[[ -n $child ]] && { kill -KILL "$child"; wait "$child"; } 2>/dev/null || true; exit 143' TERM
    for chunk in "$@"; do
        # A distinct client id per connection: reusing one for back-to-back QoS 0 publishers
        # loses messages (the broker is still reading the old connection when the new one takes
        # its id over, and closes it with the rest unread). Counted here, not in the command
        # line below: a background command expands its words in the forked shell, so an `++n`
        # there never reaches this one, and every chunk got the same id (that lost 30-40 % of the
        # messages at QoS 0 before 2026-12-05).
        ((++n))
        mosquitto_pub "${tls[@]}" -i "$id-$n" -q "$qos" -t "$TOPIC" -l <"$chunk" &
        child=$!
        wait "$child" || exit
    done
    children_cpu >"$cpu_file"
}

# Waits until the member files hold COUNT lines in all; the measurement fails if they stop
# growing for STALL seconds or it takes longer than LIMIT. At QoS 0 too: a baseline that lost
# messages would be faster for doing less.
wait_for_receipts() {
    local count=$1 bytes last_bytes=-1 last_change=$SECONDS deadline=$((SECONDS + LIMIT))
    shift
    while :; do
        bytes=$(stat -c %s "$@" | awk '{ sum += $1 } END { print sum }')
        ((bytes >= count * LINE_BYTES)) && return 0
        if ((bytes != last_bytes)); then
            last_bytes=$bytes last_change=$SECONDS
        fi
        ((SECONDS - last_change < STALL)) ||
            die "mosquitto's clients: only $((bytes / LINE_BYTES)) of $count messages arrived (nothing new for ${STALL} s): $(missing "$count" "$@"); a baseline that loses messages is no baseline"
        ((SECONDS < deadline)) || die "only $((bytes / LINE_BYTES)) of $count messages arrived within ${LIMIT}s"
        sleep 0.02
    done
}

# Which of the COUNT messages the member files lack, in a few words: how many, the first and the last.
missing() {
    local count=$1
    shift
    cut -d' ' -f2 "$@" | sort | comm -13 - "$(lines_file "$count")" |
        awk 'NR == 1 { f = $1 } { n++; l = $1 } END { printf "%d missing, #%d to #%d", n, f, l }'
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
# $cpu (CPU seconds of every mosquitto_sub and mosquitto_pub), $broker_share (the broker's CPU
# seconds over that time ÷ the time) and $first_ms, the time to the first receipt.
measure_clients() {
    local qos=$1 publishers=$2 dir=$work/m$((++measurement))
    local k part start first last broker_cpu members=() member_pids=() publisher_pids=()
    mkdir "$dir"
    start_broker "$dir"
    client_flags

    # Each member prints "<receipt time, ns> <payload>" per message (mosquitto_sub flushes every
    # line), to a file: cheaper than a pipe, and the script can follow the files' size. Not `-C`:
    # which member gets the odd message out varies run to run, so no fixed count per member is
    # right. Not `-W`: it counts from the start, not from the last message. We stop them once all
    # COUNT lines are in.
    for ((k = 1; k <= MEMBERS; k++)); do
        members+=("$dir/member-$k.txt")
        : >"$dir/member-$k.txt"
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

    broker_cpu=$(cpu_of "$broker")
    start=$EPOCHREALTIME
    for part in "$dir"/share-??; do
        publish_chunks "$qos" "bench-$measurement-pub-${part##*-}" "$part.cpu" "$part"-chunk-* &
        publisher_pids+=($!)
        track $!
    done
    wait_for_receipts "$COUNT" "${members[@]}"
    broker_cpu=$(awk -v a="$broker_cpu" -v b="$(cpu_of "$broker")" 'BEGIN { print b - a }')
    for k in "${publisher_pids[@]}"; do
        wait "$k" || die "a mosquitto_pub failed (exit $?); its error is above"
        forget "$k"
    done
    cpu=$(cat "$dir"/share-??.cpu)
    for k in "${member_pids[@]}"; do
        cpu+=" $(cpu_of "$k")"
    done
    stop "${member_pids[@]}"
    stop "$broker"

    # Exactly once: COUNT lines and COUNT distinct payloads.
    local total unique
    total=$(cat "${members[@]}" | wc -l)
    unique=$(cut -d' ' -f2 "${members[@]}" | sort -u | wc -l)
    ((total == COUNT && unique == COUNT)) ||
        die "mosquitto's clients: $total receipts, $unique distinct, expected $COUNT of each"
    read -r first last < <(sort -g "${members[@]}" | awk 'NR == 1 { f = $1 } END { print f, $1 }')
    # shellcheck disable=SC2086 # $cpu is a space-separated list of numbers
    cpu=$(printf '%s\n' $cpu | awk '{ sum += $1 } END { printf "%.3f", sum }')
    rate=$(awk -v n="$COUNT" -v s="$start" -v e="$last" 'BEGIN { printf "%.0f", n / (e - s) }')
    broker_share=$(awk -v c="$broker_cpu" -v s="$start" -v e="$last" 'BEGIN { printf "%.2f", c / (e - s) }')
    # How long mosquitto_pub took to get its first message through: part of its time above, and
    # the reason small counts make mosquitto's clients look slow.
    first_ms=$(awk -v s="$start" -v f="$first" 'BEGIN { printf "%.0f", (f - s) * 1000 }')
    rm -rf "$dir"
}

# --- this tool ------------------------------------------------------------------------------------

# One run of this binary against a fresh broker: `--count COUNT` and the other flags given.
# Sets $rate (msg/s over the whole process), $seconds, $rss_kb (peak RSS), $cpu (its CPU
# seconds, user+sys) and $broker_share (the broker's CPU seconds meanwhile ÷ $seconds).
measure_tool() {
    local count=$1 dir=$work/m$((++measurement)) start end code=0 broker_cpu
    shift
    mkdir "$dir"
    start_broker "$dir"
    broker_cpu=$(cpu_of "$broker")
    start=$EPOCHREALTIME
    # time outside, so it reports the binary's peak RSS and CPU (wait4 counts a child's waited-for
    # children); timeout --foreground so that Ctrl-C reaches the binary straight away.
    /usr/bin/time -v -o "$dir/time.txt" timeout --foreground "$LIMIT" "$bin" \
        --endpoint 127.0.0.1 --port "$port" \
        --cert "$client_cert" --key "$client_key" --ca_file "$ca" \
        --client_id "bench-$measurement" --count "$count" "$@" \
        >"$dir/report.txt" 2>"$dir/log.txt" || code=$?
    end=$EPOCHREALTIME
    broker_cpu=$(awk -v a="$broker_cpu" -v b="$(cpu_of "$broker")" 'BEGIN { print b - a }')
    stop "$broker"
    ((code == 0)) || die "the tool exited with $code; its last output: $(tail -q -n 5 "$dir/log.txt" "$dir/report.txt")"
    seconds=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
    rate=$(awk -v n="$count" -v t="$seconds" 'BEGIN { printf "%.0f", n / t }')
    broker_share=$(awk -v c="$broker_cpu" -v t="$seconds" 'BEGIN { printf "%.2f", c / t }')
    rss_kb=$(awk '/Maximum resident set size/ { print $NF }' "$dir/time.txt")
    cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ { sum += $2 } END { printf "%.3f", sum }' "$dir/time.txt")
    rm -rf "$dir"
}

# --- numbers --------------------------------------------------------------------------------------

# The median of the arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
per_100k() { awk -v c="$1" -v n="$COUNT" 'BEGIN { printf "%.3f", c * 100000 / n }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
# 123456.7 → 123,457; and 1.234 → 1.23 (fixed decimals, for the tables).
thousands() { printf "%.0f" "$1" | sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta'; }
fixed() { printf "%.${2:-2}f" "$1"; }

# --- the run --------------------------------------------------------------------------------------

# The throughput rounds. Adds to the results[...] lists: "<what><qos>" for msg/s, "cpu<what><qos>"
# for CPU s per 100k, "share<what><qos>" for the broker's share, "rss<qos>" for tool1's peak RSS, and
# each round's ratios: "speed1_<qos>" (tool1 / clients), "speed4_<qos>" (tool4 / ceiling), "cpu1_<qos>"
# and "cpu4_<qos>" (the same for CPU).
throughput_rounds() {
    # `--message m` makes small payloads, "m [123]"; `--json` prints a line per message, as
    # mosquitto_sub does (to a file: the report is not what is measured); `-q` leaves the log
    # (stderr) for warnings.
    local tool_flags=(--subscribers "$MEMBERS" --message m --json -q)
    local round qos what publishers
    for ((round = 1; round <= ROUNDS; round++)); do
        for qos in 1 0; do
            # Interleaved, so that a slow minute on the machine hits all four alike.
            for what in clients tool1 ceiling tool4; do
                case $what in
                clients) measure_clients "$qos" 1 ;;
                ceiling) measure_clients "$qos" "$CEILING_PUBLISHERS" ;;
                tool*)
                    publishers=${what#tool}
                    measure_tool "$COUNT" "${tool_flags[@]}" --qos "$qos" --publishers "$publishers"
                    [[ $what == tool1 ]] && results[rss$qos]+=" $rss_kb"
                    ;;
                esac
                [[ $what == clients ]] && results[first]+=" $first_ms"
                results[$what$qos]+=" $rate"
                results[cpu$what$qos]+=" $(per_100k "$cpu")"
                results[share$what$qos]+=" $broker_share"
                round_rate[$what]=$rate round_cpu[$what]=$cpu
                say "$(printf 'round %s/%s  QoS %s  %-8s %7s msg/s  %6s CPU s  broker %s' \
                    "$round" "$ROUNDS" "$qos" "$what" "$rate" "$cpu" "$broker_share")"
            done
            results[speed1_$qos]+=" $(ratio "${round_rate[tool1]}" "${round_rate[clients]}")"
            results[speed4_$qos]+=" $(ratio "${round_rate[tool4]}" "${round_rate[ceiling]}")"
            results[cpu1_$qos]+=" $(ratio "${round_cpu[tool1]}" "${round_cpu[clients]}")"
            results[cpu4_$qos]+=" $(ratio "${round_cpu[tool4]}" "${round_cpu[ceiling]}")"
        done
    done
}

# Wall time and peak memory from 10 to 10,000 members, SCALE_MESSAGES messages each, QoS 1.
scale_rows() {
    local members
    # Every member is a socket in this process and one in the broker: room for them all.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    for members in "${SCALE_MEMBERS[@]}"; do
        if (($(ulimit -n) != -1 && $(ulimit -n) < members + 64)); then
            say "members scale: $members members need $((members + 64)) open files, the limit is $(ulimit -n): skipped"
            continue
        fi
        measure_tool "$SCALE_MESSAGES" --subscribers "$members" -q
        say "$members members, $SCALE_MESSAGES messages: $seconds s, $(mb "$rss_kb")"
        scale_table+="| $(thousands "$members") | $(thousands "$SCALE_MESSAGES") | $(fixed "$seconds") s | $(mb "$rss_kb") |"$'\n'
    done
}

main() {
    need openssl openssl
    need /usr/bin/time time
    need mosquitto_pub mosquitto-clients
    mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
    [[ -x $mosquitto ]] || { need mosquitto mosquitto; mosquitto=$(command -v mosquitto); }
    find_binary
    make_pki

    local version broker_version load
    version=$("$bin" --version | head -n 1)
    broker_version=$("$mosquitto" -h 2>/dev/null | head -1 || true)
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    say "$version, $broker_version"
    say "$COUNT messages, $MEMBERS members, $ROUNDS rounds, mutual TLS on 127.0.0.1, $(nproc) cores, load $load"

    declare -A results=() round_rate=() round_cpu=()
    throughput_rounds

    local million=""
    if [[ $MILLION != 0 ]]; then
        measure_tool 1000000 --subscribers "$MEMBERS" --message m -q --qos 0
        million="| 1,000,000 messages, $MEMBERS members, QoS 0 | $(fixed "$seconds") s | $(mb "$rss_kb") |"
        say "1,000,000 messages QoS 0: $seconds s, $(mb "$rss_kb")"
    fi

    measure_tool 10 # the default run: 2 members, QoS 1, info logs (to a file)
    local default_run
    default_run="| default run (10 messages, 2 members, QoS 1) | $(fixed "$seconds" 3) s | $(mb "$rss_kb") |"

    local scale_table=""
    [[ $SCALE == 1 ]] && scale_rows

    declare -A m=()
    local what qos key
    for what in "${!results[@]}"; do
        # shellcheck disable=SC2086 # the lists are space-separated numbers on purpose
        m[$what]=$(median ${results[$what]})
    done

    printf '\n%s, %s; %s messages, %s members, mutual TLS on 127.0.0.1, %s cores, load %s at the start\n' \
        "$version" "$broker_version" "$(thousands "$COUNT")" "$MEMBERS" "$(nproc)" "$load"
    printf '\nMedians of %s interleaved rounds, a fresh broker for each measurement:\n\n' "$ROUNDS"
    printf '| | QoS 1 msg/s | CPU s per 100k | broker CPU share | QoS 0 msg/s | CPU s per 100k | broker CPU share |\n'
    printf '|---|---|---|---|---|---|---|\n'
    for what in clients tool1 ceiling tool4; do
        case $what in
        clients) printf '| mosquitto clients (1 mosquitto_pub) ' ;;
        tool1) printf '| this tool, --publishers 1 ' ;;
        ceiling) printf '| broker ceiling (%s mosquitto_pub) ' "$CEILING_PUBLISHERS" ;;
        tool4) printf '| this tool, --publishers %s ' "$CEILING_PUBLISHERS" ;;
        esac
        for qos in 1 0; do
            printf '| %s | %s | %s ' "$(thousands "${m[$what$qos]}")" "$(fixed "${m[cpu$what$qos]}")" \
                "$(fixed "${m[share$what$qos]}")"
        done
        printf '|\n'
    done
    printf '\n| median of the rounds'"'"' ratios | QoS 1 | QoS 0 |\n|---|---|---|\n'
    for key in speed1 speed4 cpu1 cpu4; do
        case $key in
        speed1) printf '| msg/s: tool --publishers 1 / clients ' ;;
        speed4) printf '| msg/s: tool --publishers %s / ceiling ' "$CEILING_PUBLISHERS" ;;
        cpu1) printf '| CPU: tool --publishers 1 / clients ' ;;
        cpu4) printf '| CPU: tool --publishers %s / ceiling ' "$CEILING_PUBLISHERS" ;;
        esac
        printf '| %s× | %s× |\n' "$(fixed "${m[${key}_1]}")" "$(fixed "${m[${key}_0]}")"
    done
    printf '\nper round (msg/s; CPU s per 100k):\n'
    for qos in 1 0; do
        for what in clients tool1 ceiling tool4; do
            printf '  QoS %s %-8s%s;%s\n' "$qos" "$what" "${results[$what$qos]}" "${results[cpu$what$qos]}"
        done
    done
    printf '\n| this tool | wall time | peak RSS |\n|---|---|---|\n'
    printf '%s\n' "$default_run"
    printf '| %s messages, %s members, QoS 1 / QoS 0, --json | %s s / %s s | %s / %s |\n' \
        "$(thousands "$COUNT")" "$MEMBERS" "$(fixed "$(ratio "$COUNT" "${m[tool11]}")")" \
        "$(fixed "$(ratio "$COUNT" "${m[tool10]}")")" "$(mb "${m[rss1]}")" "$(mb "${m[rss0]}")"
    [[ -z $million ]] || printf '%s\n' "$million"
    if [[ -n $scale_table ]]; then
        printf '\n| members (QoS 1) | messages | wall time | peak RSS |\n|---|---|---|---|\n%s' "$scale_table"
    fi
    printf '\nmosquitto_pub -l, start to first receipt: %s ms (included in its figures above)\n' \
        "$(fixed "${m[first]}" 0)"
    say "bench.sh took ${SECONDS} s"
}

main "$@"
