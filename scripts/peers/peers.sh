# shellcheck shell=bash
# The relays that scripts/loadtest.sh measures funnel against, each in its best reasonable
# configuration for the cores at hand. Sourced by scripts/loadtest.sh; the settings and the
# reasons for them are in the templates beside this file and in scripts/peers/README.md.
#
#   peer_packages NAME                       the Debian packages NAME needs
#   peer_supports NAME KIND                  whether NAME takes KIND: bulk, line or length
#   peer_start NAME DIR LISTEN TARGET CORES  starts NAME in the background, in a process group
#                                            of its own, relaying 127.0.0.1:LISTEN to
#                                            127.0.0.1:TARGET; sets peer_pid, peer_log
#   peer_version NAME                        one line
#   peers_install ARGS...                    scripts/install-deps.sh ARGS (names, or "bench")

peers_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # for the scripts that source this file
peer_names="haproxy nginx socat carbon-c-relay rsyslog"

peer_packages() {
    case $1 in
        haproxy) echo haproxy ;;
        nginx) echo nginx libnginx-mod-stream ;;
        socat) echo socat ;;
        carbon-c-relay) echo carbon-c-relay ;;
        rsyslog) echo rsyslog ;;
    esac
}

# HAProxy, nginx and socat forward bytes blindly, so they take anything. carbon-c-relay and
# rsyslog read newline-terminated lines: they take line scenarios only.
peer_supports() { # NAME KIND
    case $1 in
        carbon-c-relay | rsyslog) [ "$2" = line ] ;;
        *) return 0 ;;
    esac
}

peer_version() {
    case $1 in
        haproxy) haproxy -v 2>&1 | awk '{print "HAProxy " $3; exit}' ;;
        nginx) nginx -v 2>&1 | sed 's|.*nginx/|nginx |' ;;
        socat) socat -V 2>/dev/null | awk '/socat version/ {print "socat " $3; exit}' ;;
        carbon-c-relay) carbon-c-relay -v 2>&1 | awk '{print "carbon-c-relay " $2; exit}' ;;
        rsyslog) rsyslogd -v 2>&1 | awk '{print "rsyslog " $2; exit}' ;;
    esac
}

# The most connections a relay should be set up for: 4000, or less where the descriptor limit
# is lower (HAProxy refuses to start when maxconn needs more descriptors than it may open; each
# connection takes about 3: client, server and half a splice pipe).
peer_max_connections() {
    local hard
    hard=$(ulimit -Hn)
    [ "$hard" = unlimited ] && { echo 4000; return; }
    hard=$(( (hard - 200) / 3 ))
    echo $(( hard > 4000 ? 4000 : (hard < 100 ? 100 : hard) ))
}

# Fills in a template from this directory: @LISTEN_PORT@, @TARGET_PORT@, @THREADS@, @DIR@,
# @MAXCONN@.
peer_render() { # TEMPLATE DIR LISTEN TARGET THREADS -> DIR/TEMPLATE
    sed -e "s|@LISTEN_PORT@|$3|g" -e "s|@TARGET_PORT@|$4|g" -e "s|@THREADS@|$5|g" \
        -e "s|@DIR@|$2|g" -e "s|@MAXCONN@|$(peer_max_connections)|g" "$peers_dir/$1" > "$2/$1"
}

peer_start() { # NAME DIR LISTEN TARGET CORES
    local name=$1 dir=$2 listen=$3 target=$4 cores=$5
    peer_log=$dir/$name.log
    case $name in
        haproxy)
            # -db: stay in the foreground, one process (nbthread threads).
            peer_render haproxy.cfg "$dir" "$listen" "$target" "$cores"
            setsid haproxy -db -f "$dir/haproxy.cfg" > "$peer_log" 2>&1 &
            ;;
        nginx)
            # A master and CORES workers; -p and -e keep every path (pid, logs) inside DIR.
            peer_render nginx.conf "$dir" "$listen" "$target" "$cores"
            setsid nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/nginx-error.log" \
                > "$peer_log" 2>&1 &
            ;;
        socat)
            # The classic one-liner, one forked process per connection. -b 65536: read and
            # write 64 KiB at a time (default 8 KiB: stream-64 on 2 cores ran at a third of the
            # throughput, at 3x the CPU per GB); nodelay on both sides, as HAProxy and nginx
            # do, so that Nagle's algorithm does not hold small lines back.
            setsid socat -b 65536 \
                "TCP-LISTEN:$listen,bind=127.0.0.1,fork,reuseaddr,backlog=4096,nodelay" \
                "TCP:127.0.0.1:$target,nodelay" > "$peer_log" 2>&1 &
            ;;
        carbon-c-relay)
            # -w CORES dispatchers (workers); -B 4096 listen backlog (default 32 refuses a burst
            # of 512 clients); -q 2000000 a deep server queue (default 25000 metrics) and -L 15
            # the most stalls (client slow-downs) before dropping, to lose as little as it can;
            # -b 5000 metrics per batch to the server (default 2500); -E no idle disconnects.
            # Its statistics (received, discarded, dropped, sent) go to DIR/carbon-c-relay.stats
            # every second (see carbon-c-relay.conf).
            peer_render carbon-c-relay.conf "$dir" "$listen" "$target" "$cores"
            setsid carbon-c-relay -f "$dir/carbon-c-relay.conf" -w "$cores" -B 4096 \
                -q 2000000 -L 15 -b 5000 -E > "$peer_log" 2>&1 &
            ;;
        rsyslog)
            mkdir -p "$dir/rsyslog-work"
            peer_render rsyslog.conf "$dir" "$listen" "$target" "$cores"
            setsid rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/rsyslog.pid" > "$peer_log" 2>&1 &
            ;;
        *)
            echo "unknown relay: $name" >&2
            return 1
            ;;
    esac
    # shellcheck disable=SC2034 # for the caller
    peer_pid=$!
}

# Installs what is missing with scripts/install-deps.sh (ARGS: package names or "bench"). As
# root, without a policy-rc.d of the system's own, the packages' services (nginx on port 80, a
# system rsyslogd, ...) are kept from starting while apt-get runs: they would only compete with
# the runs for the cores.
peers_install() { # ARGS...
    local policy=/usr/sbin/policy-rc.d made=0 status=0
    if [ "$(id -u)" -eq 0 ] && [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# scripts/peers/peers.sh: no service starts while it installs\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        made=1
    fi
    "$peers_dir/../install-deps.sh" "$@" || status=$?
    [ "$made" = 1 ] && rm -f "$policy"
    return "$status"
}
