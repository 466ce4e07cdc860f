#!/bin/bash
# stop-openstack.sh - stop the stack started by setup-openstack.sh (by recorded PID /
# process group only; never by name).   --purge: also drop the databases, users,
# RabbitMQ state, Glance images, Keystone keys, state dir and logs, so that the
# next setup-openstack.sh run starts from scratch (packages stay installed).
#
#   npm run openstack:down [-- --purge]
set -uo pipefail
STATE="${OSCI_STATE:-/var/lib/osci}"
LOG="${OSCI_LOG_DIR:-/var/log/osci}"
PIDS="$STATE/pids"
PURGE=0
case "${1:-}" in
  "") ;;
  --purge) PURGE=1 ;;
  *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "stop-openstack.sh: must run as root" >&2; exit 1; }
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

stop_group() { # name  -> SIGTERM the process group/session leader recorded at start
  local f="$PIDS/$1.pid"; [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for i in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null; fi
    echo "stopped $1 (pgid $pid)"
  fi
  # stragglers of the same session (e.g. forked workers)
  for p in $(ps -eo pid=,sid= | awk -v s="$pid" '$2==s{print $1}'); do kill -KILL "$p" 2>/dev/null; done
  rm -f "$f"
}

for s in nova-compute nova-scheduler nova-conductor nova-api neutron-server glance-api placement keystone; do
  stop_group "$s"
done

# RabbitMQ: graceful stop through its own CLI, then the recorded group; epmd via its own protocol
if [ -f "$PIDS/rabbitmq.pid" ]; then
  su rabbitmq -s /bin/sh -c "cd /var/lib/rabbitmq && HOME=/var/lib/rabbitmq /usr/lib/rabbitmq/bin/rabbitmqctl -q stop" >/dev/null 2>&1
  stop_group rabbitmq
  ERL_EPMD_ADDRESS=127.0.0.1 epmd -kill >/dev/null 2>&1 || true
fi

if [ $PURGE = 1 ] && mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1; then
  SQL=""
  for db in keystone placement glance neutron nova nova_api nova_cell0; do SQL="$SQL DROP DATABASE IF EXISTS $db;"; done
  for u in keystone placement glance neutron nova; do SQL="$SQL DROP USER IF EXISTS '$u'@'127.0.0.1'; DROP USER IF EXISTS '$u'@'localhost';"; done
  mysql --protocol=socket -uroot -e "$SQL" && echo "dropped OpenStack databases and DB users"
fi
if [ -f "$PIDS/mariadb.pid" ]; then
  mysqladmin --protocol=socket -uroot shutdown >/dev/null 2>&1
  stop_group mariadb
fi

if [ $PURGE = 1 ]; then
  rm -rf /var/lib/rabbitmq/mnesia /var/lib/rabbitmq/.erlang.cookie
  rm -rf /var/lib/glance/images/* /var/lib/glance/staging/* /var/lib/glance/tasks_work_dir/*
  rm -rf /etc/keystone/fernet-keys /etc/keystone/credential-keys
  rm -rf /var/lib/nova/instances/* /var/lib/nova/tmp/* /var/lib/neutron/tmp/*
  rm -rf "$STATE" "$LOG"
  echo "purged state ($STATE, $LOG, rabbitmq mnesia, glance images, keystone keys)"
fi
echo "done"
