#!/usr/bin/env bash
# Run a real single-node Apache Kafka (KRaft, combined broker+controller) for tests,
# from Maven Central jars, without Docker. Binds to 127.0.0.1 only.
#
# Usage:
#   kafka.sh fetch             download the broker jars into $KAFKA_CACHE/jars (idempotent)
#   kafka.sh start  <workdir>  start (or restart) the broker whose state lives in <workdir>;
#                              prints "127.0.0.1:<port>" on stdout once it is ready
#   kafka.sh stop   <workdir>  SIGTERM, wait up to $KAFKA_STOP_TIMEOUT s (30), then SIGKILL
#   kafka.sh kill   <workdir>  SIGKILL (crash tests)
#   kafka.sh status <workdir>  prints the address and exits 0 if the broker answers, else exits 1
#
# Environment:
#   KAFKA_CACHE          jar cache (default $HOME/.cache/referral-router/kafka/<version>)
#   KAFKA_PORT           broker port for a new workdir (default: a free port); the controller
#   KAFKA_CONTROLLER_PORT  port likewise. Ports are remembered in <workdir>/ports.
#   KAFKA_START_TIMEOUT  seconds to wait for readiness (default 60)
#   KAFKA_STOP_TIMEOUT   seconds to wait after SIGTERM before SIGKILL (default 30)
#   KAFKA_HEAP_OPTS      JVM heap flags (default "-Xmx512m -Xms256m")
#   KAFKA_JVM_OPTS       other JVM flags (default: see DEFAULT_JVM_OPTS below)
#   KAFKA_LOG_LEVEL      root log level written to <workdir>/kafka.log (default WARN)
#   KAFKA_CDS            1 (default) = use/build an AppCDS class archive in $KAFKA_CACHE;
#                        it is written when the first broker exits via "stop" and cuts
#                        later starts by ~1-1.5 s. 0 = off. A stale archive is ignored by the JVM.
#   KAFKA_BROKER_SESSION_TIMEOUT_MS, KAFKA_BROKER_HEARTBEAT_INTERVAL_MS
#                        the broker's session with its controller (default 3000/500: a killed
#                        broker re-registers fast in the crash tests; Kafka's own are 9000/2000)
#   JAVA, MVN, PYTHON    executables (default java, mvn, python3)
#
# "Ready" means: the broker port answers ApiVersions, a Metadata request lists the broker,
# and FindCoordinator for a group succeeds (this also creates __consumer_offsets, so the
# first consumer-group join in a test does not pay for it).
set -euo pipefail

KAFKA_VERSION=4.3.1   # keep in step with kafka.version in pom.xml

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM="$SCRIPT_DIR/pom.xml"
LOG4J_CONF="$SCRIPT_DIR/log4j2.properties"
KAFKA_CACHE=${KAFKA_CACHE:-$HOME/.cache/referral-router/kafka/$KAFKA_VERSION}
JARS="$KAFKA_CACHE/jars"
MARKER="$JARS/.fetched"
JAVA=${JAVA:-java}
MVN=${MVN:-mvn}
PYTHON=${PYTHON:-python3}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-60}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
HOST=127.0.0.1
# Serial GC + C1-only JIT start ~1 s faster than G1/C2 on 2 cores; plenty for tests.
DEFAULT_JVM_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1"

die() {
    echo "kafka.sh: error: $*" >&2
    exit 1
}

note() {
    echo "kafka.sh: $*" >&2
}

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
    exit 2
}

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH ($2)"
}

pom_sum() {
    sha256sum "$POM" | cut -d' ' -f1
}

jars_ready() {
    [[ -f "$MARKER" ]] && [[ "$(cat "$MARKER")" == "$(pom_sum)" ]]
}

cmd_fetch() {
    if jars_ready; then
        echo "$JARS"
        return 0
    fi
    need "$MVN" "Maven is needed to fetch the Kafka jars"
    mkdir -p "$KAFKA_CACHE"
    # Serialise concurrent fetches (e.g. parallel test sessions) when flock exists.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$KAFKA_CACHE/.fetch.lock"
        flock 9
        if jars_ready; then
            echo "$JARS"
            return 0
        fi
    fi
    local tmp="$KAFKA_CACHE/jars.tmp.$$"
    rm -rf "$tmp"
    note "fetching Kafka $KAFKA_VERSION jars into $JARS"
    if ! "$MVN" -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$KAFKA_CACHE/fetch.log" 2>&1; then
        cat "$KAFKA_CACHE/fetch.log" >&2
        rm -rf "$tmp"
        die "mvn dependency:copy-dependencies failed (output above, also in $KAFKA_CACHE/fetch.log)"
    fi
    compgen -G "$tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null \
        || die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
    pom_sum >"$tmp/.fetched"
    rm -rf "$JARS"
    mv "$tmp" "$JARS"
    echo "$JARS"
}

ensure_jars() {
    jars_ready || cmd_fetch >/dev/null
}

# --- AppCDS (class data sharing) archive, one per JDK -----------------------

cds_archive() {
    local java_path
    java_path=$(readlink -f "$(command -v "$JAVA")")
    echo "$KAFKA_CACHE/cds/kafka-$(printf '%s' "$java_path" | cksum | cut -d' ' -f1).jsa"
}

cds_opts() {  # prints JVM flags, one per line; $1 workdir or "" (read-only use)
    local wd=${1:-} archive tmp
    [[ "${KAFKA_CDS:-1}" != 0 ]] || return 0
    archive=$(cds_archive)
    echo "-Xlog:cds*=off"
    if [[ -s "$archive" ]]; then
        echo "-XX:SharedArchiveFile=$archive"
    elif [[ -n "$wd" ]]; then
        mkdir -p "$(dirname "$archive")"
        tmp="$archive.$$.tmp"
        echo "$tmp" >"$wd/cds.pending"
        echo "-XX:ArchiveClassesAtExit=$tmp"
    fi
}

cds_finish() {  # $1 workdir, $2 "keep" after a clean exit, anything else discards
    local wd=$1 tmp archive
    [[ -f "$wd/cds.pending" ]] || return 0
    tmp=$(cat "$wd/cds.pending")
    rm -f "$wd/cds.pending"
    archive=${tmp%.*.tmp}
    if [[ "$2" == keep && -s "$tmp" && ! -s "$archive" ]]; then
        mv -f "$tmp" "$archive"
    else
        rm -f "$tmp"
    fi
}

# --- workdir helpers -------------------------------------------------------

abs_workdir() {
    [[ -n "${1:-}" ]] || usage
    mkdir -p "$1"
    (cd "$1" && pwd)
}

read_pid() {  # prints the pid recorded in $1/kafka.pid if that process is our broker
    local wd=$1 pid state
    [[ -f "$wd/kafka.pid" ]] || return 1
    pid=$(cat "$wd/kafka.pid")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    # Only a java running kafka.Kafka on this workdir's server.properties counts.
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF "$wd/server.properties" || return 1
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ "$state" != Z && "$state" != X ]] || return 1
    echo "$pid"
}

alive() {
    local state
    [[ -r "/proc/$1/stat" ]] || return 1
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

load_ports() {  # sets BROKER_PORT and CONTROLLER_PORT, remembering them in $1/ports
    local wd=$1 free
    BROKER_PORT="" CONTROLLER_PORT=""
    if [[ -f "$wd/ports" ]]; then
        BROKER_PORT=$(sed -n 's/^broker=//p' "$wd/ports")
        CONTROLLER_PORT=$(sed -n 's/^controller=//p' "$wd/ports")
    fi
    if [[ -n "${KAFKA_PORT:-}" && "$KAFKA_PORT" != "$BROKER_PORT" ]]; then
        [[ -z "$BROKER_PORT" ]] || note "KAFKA_PORT=$KAFKA_PORT overrides stored broker port $BROKER_PORT"
        BROKER_PORT=$KAFKA_PORT
    fi
    # The controller port is part of the KRaft voter set recorded at format time:
    # once stored it is never changed.
    if [[ -z "$CONTROLLER_PORT" && -n "${KAFKA_CONTROLLER_PORT:-}" ]]; then
        CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
    fi
    if [[ -z "$BROKER_PORT" || -z "$CONTROLLER_PORT" ]]; then
        free=$("$PYTHON" -c '
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
')
        BROKER_PORT=${BROKER_PORT:-${free% *}}
        CONTROLLER_PORT=${CONTROLLER_PORT:-${free#* }}
        if [[ "$BROKER_PORT" == "$CONTROLLER_PORT" ]]; then
            CONTROLLER_PORT=${free% *}
        fi
    fi
    [[ "$BROKER_PORT" =~ ^[0-9]+$ && "$CONTROLLER_PORT" =~ ^[0-9]+$ ]] \
        || die "bad ports: broker=$BROKER_PORT controller=$CONTROLLER_PORT"
    [[ "$BROKER_PORT" != "$CONTROLLER_PORT" ]] || die "broker and controller ports are both $BROKER_PORT"
    printf 'broker=%s\ncontroller=%s\n' "$BROKER_PORT" "$CONTROLLER_PORT" >"$wd/ports"
}

write_config() {
    local wd=$1
    cat >"$wd/server.properties" <<EOF
# Written by deploy/kafka/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$BROKER_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$BROKER_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$wd/data

num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false

offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
# The default floor is 6 s; the tests' service processes ask for 3 s, so a SIGKILLed
# consumer's partitions move on sooner. Clients that ask for nothing keep their 10 s.
group.min.session.timeout.ms=1000

# After a SIGKILL the restarted broker cannot re-register until the controller expires
# its old session (DUPLICATE_BROKER_REGISTRATION): default 9 s, here 3 s for the crash tests.
# The idle benchmark runs with Kafka's defaults (9000/2000), as a production broker does.
broker.session.timeout.ms=${KAFKA_BROKER_SESSION_TIMEOUT_MS:-3000}
broker.heartbeat.interval.ms=${KAFKA_BROKER_HEARTBEAT_INTERVAL_MS:-500}

# Small machine (2 cores): fewer threads.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
EOF
}

# Probe: ApiVersions, Metadata (broker listed, cluster id = ours), FindCoordinator
# (group coordinator up). Plain stdlib Python speaking the Kafka wire protocol, so no
# client library is needed. $1 port, $2 expected cluster id ("" = don't check).
probe() {
    "$PYTHON" - "$HOST" "$1" "${2:-}" <<'PY'
import socket, struct, sys

host, port, want_cluster = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def recvn(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf

def call(sock, key, ver, body, cid):
    client = b"kafka.sh-probe"
    msg = struct.pack(">hhih", key, ver, cid, len(client)) + client + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (n,) = struct.unpack(">i", recvn(sock, 4))
    data = recvn(sock, n)
    if struct.unpack(">i", data[:4])[0] != cid:
        raise RuntimeError("correlation id mismatch")
    return data[4:]

try:
    with socket.create_connection((host, port), timeout=3) as s:
        r = call(s, 18, 0, b"", 1)  # ApiVersions v0
        err, n = struct.unpack(">hi", r[:6])
        if err:
            sys.exit("ApiVersions error %d" % err)
        ranges = {}
        for i in range(n):
            k, lo, hi = struct.unpack(">hhh", r[6 + 6 * i:12 + 6 * i])
            ranges[k] = (lo, hi)

        def pick(key, lo, hi):  # highest non-flexible version we implement
            a, b = ranges.get(key, (1, 0))
            v = min(b, hi)
            return v if v >= max(a, lo) else None

        mv = pick(3, 4, 8)  # Metadata (v9+ is flexible)
        if mv is None:
            sys.exit("no usable Metadata version in %r" % (ranges.get(3),))
        body = struct.pack(">i", -1) + b"\x00" + (b"\x00\x00" if mv >= 8 else b"")
        r = call(s, 3, mv, body, 2)
        _throttle, nbrokers = struct.unpack(">ii", r[:8])
        if nbrokers < 1:
            sys.exit("metadata lists no brokers yet")
        pos = 8
        for _ in range(nbrokers):  # node_id, host, port, rack
            pos += 4
            (hl,) = struct.unpack(">h", r[pos:pos + 2])
            pos += 2 + hl + 4
            (rl,) = struct.unpack(">h", r[pos:pos + 2])
            pos += 2 + max(rl, 0)
        (cl,) = struct.unpack(">h", r[pos:pos + 2])
        cluster = r[pos + 2:pos + 2 + cl].decode() if cl >= 0 else None
        if want_cluster and cluster != want_cluster:
            sys.exit("port %d is served by another Kafka cluster (%s, expected %s)"
                     % (port, cluster, want_cluster))

        fv = pick(10, 1, 2)  # FindCoordinator (v3+ is flexible)
        if fv is not None:
            key = b"kafka.sh-ready"
            r = call(s, 10, fv, struct.pack(">h", len(key)) + key + b"\x00", 3)
            _throttle, err = struct.unpack(">ih", r[:6])
            if err:
                sys.exit("group coordinator not ready (error %d)" % err)
except (OSError, EOFError, RuntimeError, struct.error) as e:
    sys.exit("probe failed: %s" % e)
PY
}

workdir_cluster_id() {  # cluster.id from the formatted storage, else ""
    sed -n 's/^cluster.id=//p' "$1/data/meta.properties" 2>/dev/null || true
}

ports_free() {  # fails if something already listens on one of the given loopback ports
    # SO_REUSEADDR as the JVM uses it: TIME_WAIT leftovers of a killed broker don't count.
    "$PYTHON" - "$HOST" "$@" <<'PY'
import socket, sys
host, busy = sys.argv[1], []
for p in sys.argv[2:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, int(p)))
    except OSError:
        busy.append(p)
    finally:
        s.close()
if busy:
    sys.exit("port(s) %s on %s already in use" % (", ".join(busy), host))
PY
}

new_cluster_id() {  # same format as StorageTool random-uuid, without a JVM start
    "$PYTHON" -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if not s.startswith("-"):
        print(s)
        break
'
}

fail_start() {
    local wd=$1 msg=$2
    echo "kafka.sh: error: $msg" >&2
    if [[ -f "$wd/kafka.log" ]]; then
        echo "---- last 40 lines of $wd/kafka.log ----" >&2
        tail -n 40 "$wd/kafka.log" >&2
    fi
    exit 1
}

wait_ready() {  # $1 workdir, $2 pid
    local wd=$1 pid=$2 deadline last="" cluster
    cluster=$(workdir_cluster_id "$wd")
    deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        alive "$pid" || fail_start "$wd" "broker process $pid exited during startup"
        if last=$(probe "$BROKER_PORT" "$cluster" 2>&1); then
            return 0
        fi
        if ((SECONDS >= deadline)); then
            # Don't leave a half-started broker behind.
            kill -TERM "$pid" 2>/dev/null || true
            wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || true
            rm -f "$wd/kafka.pid"
            cds_finish "$wd" discard
            fail_start "$wd" "broker not ready after ${START_TIMEOUT}s (last probe: $last); stopped it"
        fi
        sleep 0.25
    done
}

cmd_start() {
    local wd pid cluster_id heap jvm cds
    wd=$(abs_workdir "${1:-}")
    need "$JAVA" "install a JDK (17+) or set JAVA"
    need "$PYTHON" "python3 is used to pick ports and probe readiness"
    ensure_jars

    if pid=$(read_pid "$wd"); then  # already running: just wait until it answers
        BROKER_PORT=$(sed -n 's/^broker=//p' "$wd/ports")
        wait_ready "$wd" "$pid"
        echo "$HOST:$BROKER_PORT"
        return 0
    fi
    rm -f "$wd/kafka.pid"
    cds_finish "$wd" discard  # leftover from a broker that was killed

    load_ports "$wd"
    ports_free "$BROKER_PORT" "$CONTROLLER_PORT" \
        || die "cannot start the broker for $wd (ports stored in $wd/ports)"
    write_config "$wd"

    if [[ ! -f "$wd/data/meta.properties" ]]; then
        if [[ -f "$wd/cluster.id" ]]; then
            cluster_id=$(cat "$wd/cluster.id")
        else
            cluster_id=$(new_cluster_id)
            echo "$cluster_id" >"$wd/cluster.id"
        fi
        mapfile -t cds < <(cds_opts "")
        if ! "$JAVA" -Xmx256m "${cds[@]}" -cp "$JARS/*" -Dlog4j2.configurationFile="$LOG4J_CONF" \
            kafka.tools.StorageTool format --standalone \
            -t "$cluster_id" -c "$wd/server.properties" >>"$wd/kafka.log" 2>&1; then
            fail_start "$wd" "kafka-storage format failed"
        fi
    fi

    read -r -a heap <<<"${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
    echo "==== kafka.sh start $(date -u +%FT%TZ) broker=$HOST:$BROKER_PORT controller=$HOST:$CONTROLLER_PORT" >>"$wd/kafka.log"
    read -r -a jvm <<<"${KAFKA_JVM_OPTS:-$DEFAULT_JVM_OPTS}"
    mapfile -t cds < <(cds_opts "$wd")
    "$JAVA" "${heap[@]}" "${jvm[@]}" "${cds[@]}" \
        -Djava.awt.headless=true -Dlog4j2.shutdownHookEnabled=false \
        -Dlog4j2.configurationFile="$LOG4J_CONF" \
        -Dkafka.root.log.level="${KAFKA_LOG_LEVEL:-WARN}" \
        -cp "$JARS/*" kafka.Kafka "$wd/server.properties" \
        </dev/null >>"$wd/kafka.log" 2>&1 &
    pid=$!
    echo "$pid" >"$wd/kafka.pid"

    wait_ready "$wd" "$pid"
    echo "$HOST:$BROKER_PORT"
}

wait_gone() {  # $1 pid, $2 seconds; returns 1 if still alive
    local deadline=$((SECONDS + $2))
    while alive "$1"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

running_pid() {  # $1 workdir; prints the broker pid, or tidies up and returns 1 if none runs
    local pid
    if ! pid=$(read_pid "$1"); then
        rm -f "$1/kafka.pid"
        cds_finish "$1" discard
        note "no broker running for $1"
        return 1
    fi
    echo "$pid"
}

cmd_stop() {
    local wd pid outcome=keep
    wd=$(abs_workdir "${1:-}")
    pid=$(running_pid "$wd") || return 0
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
        note "broker $pid still running after ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 10 || die "broker $pid did not die after SIGKILL"
        outcome=discard
    fi
    rm -f "$wd/kafka.pid"
    cds_finish "$wd" "$outcome"
}

cmd_kill() {
    local wd pid
    wd=$(abs_workdir "${1:-}")
    pid=$(running_pid "$wd") || return 0
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "broker $pid did not die after SIGKILL"
    rm -f "$wd/kafka.pid"
    cds_finish "$wd" discard
}

cmd_status() {
    local wd port
    wd=$(abs_workdir "${1:-}")
    read_pid "$wd" >/dev/null || return 1
    port=$(sed -n 's/^broker=//p' "$wd/ports" 2>/dev/null) || return 1
    [[ -n "$port" ]] || return 1
    probe "$port" "$(workdir_cluster_id "$wd")" >/dev/null 2>&1 || return 1
    echo "$HOST:$port"
}

main() {
    local cmd=${1:-}
    shift || true
    case "$cmd" in
        fetch) cmd_fetch ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        kill) cmd_kill "$@" ;;
        status) cmd_status "$@" ;;
        *) usage ;;
    esac
}

main "$@"
