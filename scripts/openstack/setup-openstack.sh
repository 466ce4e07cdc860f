#!/bin/bash
# setup-openstack.sh - install, configure and start a minimal REAL OpenStack (Zed)
# control plane from Debian 12 (bookworm) packages, bound to 127.0.0.1 only, for the
# openstack driver's real test tier and benchmark (Keystone, Placement, Glance, Neutron,
# Nova with a fake virt driver). The project's own copy of a verified recipe.
#
#   npm run openstack:up     (= sudo bash scripts/openstack/setup-openstack.sh; idempotent)
#   npm run openstack:down   (= bash scripts/openstack/stop-openstack.sh [--purge])
#
# Needs: root, Debian 12, Debian apt repos reachable. No systemd needed (daemons are
# started directly in the background; pidfiles in $OSCI_STATE/pids). Every failure exits
# non-zero with a message naming the step and its log; nothing is skipped silently.
# Writes $OSCI_STATE/osci-env.json (auth_url, credentials, endpoints, image/flavor/network ids).
# Env overrides: OSCI_PASSWORD, OSCI_STATE (/var/lib/osci), OSCI_LOG_DIR
# (/var/log/osci), OSCI_SMOKE=1 (boot+delete test servers at the end),
# OSCI_SKIP_INSTALL=1.
set -Eeuo pipefail

PW="${OSCI_PASSWORD:-osci-secret}"
STATE="${OSCI_STATE:-/var/lib/osci}"
LOG="${OSCI_LOG_DIR:-/var/log/osci}"
PIDS="$STATE/pids"
SMOKE="${OSCI_SMOKE:-1}"
PY=/usr/bin/python3            # always Debian's python (a pyenv shim may shadow python3)
HOSTNAME_NOVA=osci-compute
REGION=RegionOne
KS=http://127.0.0.1:5000
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive
T0=$(date +%s)

mkdir -p "$STATE" "$LOG" "$PIDS"
chmod 755 "$LOG"
log() { echo "[$(date +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG/setup.log"; }
die() { log "ERROR: $*"; echo "setup-openstack.sh FAILED: $*" >&2; exit 1; }
# any unexpected failing command aborts loudly with its line, never silently
trap 'rc=$?; die "command failed (rc=$rc) at line $LINENO: $BASH_COMMAND"' ERR

########################################################################### 0. preflight
[ "$(id -u)" = 0 ] || die "must run as root (installs Debian packages and starts daemons)"
[ -r /etc/os-release ] && . /etc/os-release
[ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = 12 ] || die "needs Debian 12 (bookworm); found ${PRETTY_NAME:-unknown}"
# one setup at a time (the test tier's globalSetup and an operator may race): wait for the lock
exec 9> "$STATE/setup.lock"
flock -w 1800 9 || die "another setup-openstack.sh held $STATE/setup.lock for 30 min"

# python3-openstacksdk: the benchmark's reference client; python3-requests: the helper scripts below
PKGS="mariadb-server rabbitmq-server keystone placement-api glance-api nova-api
nova-conductor nova-scheduler python3-nova neutron-server python3-openstackclient
python3-openstacksdk python3-requests crudini curl uwsgi-plugin-python3"

########################################################################### 1. packages
install_packages() {
  local missing=""
  for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"; done
  if [ -z "$missing" ]; then log "packages already installed"; return; fi
  log "installing:$missing"
  # never let maintainer scripts start daemons (no systemd here anyway)
  local created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created_policy=1; fi
  local s=$(date +%s)
  # a fresh machine may have empty or stale package lists: refresh when a package has no candidate
  local p
  for p in $missing; do
    if [[ "$(apt-cache policy "$p" 2>/dev/null)" != *"Candidate: "[0-9]* ]]; then
      log "refreshing apt lists ($p has no install candidate)"
      apt-get update -q > "$LOG/apt-update.log" 2>&1 || die "apt-get update failed, see $LOG/apt-update.log"
      break
    fi
  done
  apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold $missing > "$LOG/apt-install.log" 2>&1 \
    || { if [ $created_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; die "apt-get failed, see $LOG/apt-install.log"; }
  if [ $created_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  log "apt install took $(( $(date +%s) - s ))s"
}
[ "${OSCI_SKIP_INSTALL:-0}" = 1 ] || install_packages

########################################################################### 2. CI-only python shims
# (a) ML2 mechanism driver that binds every port without any agent/OVS/kernel module
# (b) Nova FakeDriver subclass whose snapshot really uploads bytes to Glance, so
#     createImage produces an 'active' image (upstream FakeDriver leaves it 'queued').
SITE=/usr/local/lib/python3.11/dist-packages
mkdir -p "$SITE/osci_fake" "$SITE/osci_fake-0.1.dist-info"
cat > "$SITE/osci_fake/__init__.py" <<'EOF'
"""CI-only fakes for running a real OpenStack control plane without hypervisor/SDN."""
EOF
cat > "$SITE/osci_fake/mech.py" <<'EOF'
from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


class FakeBindMechanismDriver(api.MechanismDriver):
    """Binds every port on the first segment, marks it ACTIVE. No agents."""

    def initialize(self):
        pass

    @property
    def connectivity(self):
        return portbindings.CONNECTIVITY_L2

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID], portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True,
                 portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE)
            return
EOF
cat > "$SITE/osci_fake/nova_driver.py" <<'EOF'
import io

from nova.image import glance
from nova.virt import fake


class SnapshotFakeDriver(fake.FakeDriver):
    """FakeDriver whose snapshot uploads a few bytes so the image goes active."""

    def snapshot(self, context, instance, image_id, update_task_state):
        super().snapshot(context, instance, image_id, update_task_state)
        glance.API().update(
            context, image_id,
            {'disk_format': 'raw', 'container_format': 'bare'},
            data=io.BytesIO(b'osci fake snapshot of %s\n' % instance.uuid.encode()),
            purge_props=False)
EOF
cat > "$SITE/osci_fake-0.1.dist-info/METADATA" <<'EOF'
Metadata-Version: 2.1
Name: osci-fake
Version: 0.1
EOF
cat > "$SITE/osci_fake-0.1.dist-info/entry_points.txt" <<'EOF'
[neutron.ml2.mechanism_drivers]
osci_fakebind = osci_fake.mech:FakeBindMechanismDriver
EOF
echo osci_fake > "$SITE/osci_fake-0.1.dist-info/top_level.txt"

# nova-compute entry point without the nova-compute .deb (which drags in qemu/libvirt/open-iscsi/ovmf)
mkdir -p "$STATE/bin"
# Zed only loads compute drivers from the nova.virt namespace -> alias our module there
cat > "$STATE/bin/nova-compute" <<EOF
#!$PY
import sys
from nova.cmd.compute import main   # (nova.cmd import does the eventlet monkey patching)
import osci_fake.nova_driver
sys.modules['nova.virt.osci_fake'] = osci_fake.nova_driver
sys.exit(main())
EOF
chmod +x "$STATE/bin/nova-compute"

########################################################################### 3. config files
backup() { [ -e "$1" ] && [ ! -e "$1.dist" ] && cp -a "$1" "$1.dist" || true; }
ksauth() { # $1 = username
cat <<EOF
www_authenticate_uri = $KS
auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $PW
region_name = $REGION
# Validate every token with Keystone (itself cached in-process, ~10 ms): keystonemiddleware's
# own per-worker cache would keep accepting a revoked token for minutes on some API workers.
token_cache_time = -1
EOF
}
TRANSPORT="rabbit://openstack:$PW@127.0.0.1:5672/"
DB() { echo "mysql+pymysql://$1:$PW@127.0.0.1/$2?charset=utf8"; }

mkdir -p /etc/mysql/mariadb.conf.d
cat > /etc/mysql/mariadb.conf.d/99-osci.cnf <<EOF
[mysqld]
bind-address = 127.0.0.1
port = 3306
skip-name-resolve
max_connections = 1000
innodb_flush_log_at_trx_commit = 2
innodb_buffer_pool_size = 128M
performance_schema = OFF
character-set-server = utf8
collation-server = utf8_general_ci
EOF

cat > /etc/rabbitmq/rabbitmq-env.conf <<EOF
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=5672
DIST_PORT=25672
LOG_BASE=$LOG/rabbitmq
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export ERL_EPMD_ADDRESS=127.0.0.1
EOF
mkdir -p "$LOG/rabbitmq"; chown rabbitmq:rabbitmq "$LOG/rabbitmq"

backup /etc/keystone/keystone.conf
cat > /etc/keystone/keystone.conf <<EOF
[DEFAULT]
[database]
connection = $(DB keystone keystone)
[token]
provider = fernet
expiration = 3600
[cache]
# in-process cache: without it every token validation runs ~700 SQL queries (~1 s on 2 vCPUs).
# Keystone therefore runs as ONE uwsgi process (8 threads) so the cache stays coherent
# (revocations / role changes are seen immediately).
enabled = true
backend = dogpile.cache.memory
[identity]
# CI only: cheap bcrypt so token issuance is fast on 2 vCPUs
password_hash_rounds = 4
[fernet_tokens]
key_repository = /etc/keystone/fernet-keys/
[credential]
key_repository = /etc/keystone/credential-keys/
EOF

backup /etc/placement/placement.conf
cat > /etc/placement/placement.conf <<EOF
[DEFAULT]
[api]
auth_strategy = keystone
[keystone_authtoken]
$(ksauth placement)
[placement_database]
connection = $(DB placement placement)
EOF

backup /etc/glance/glance-api.conf
mkdir -p /var/lib/glance/images /var/lib/glance/staging /var/lib/glance/tasks_work_dir
cat > /etc/glance/glance-api.conf <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
workers = 1
enabled_backends = fs:file
show_image_direct_url = false
[database]
connection = $(DB glance glance)
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = /var/lib/glance/images/
[os_glance_staging_store]
filesystem_store_datadir = /var/lib/glance/staging/
[os_glance_tasks_store]
filesystem_store_datadir = /var/lib/glance/tasks_work_dir/
[keystone_authtoken]
$(ksauth glance)
[paste_deploy]
flavor = keystone
[oslo_concurrency]
lock_path = /var/lib/glance/lock
EOF

backup /etc/neutron/neutron.conf
backup /etc/neutron/plugins/ml2/ml2_conf.ini
mkdir -p /var/lib/neutron/tmp
cat > /etc/neutron/neutron.conf <<EOF
[DEFAULT]
host = $HOSTNAME_NOVA
bind_host = 127.0.0.1
bind_port = 9696
core_plugin = ml2
service_plugins =
auth_strategy = keystone
transport_url = $TRANSPORT
api_workers = 2
rpc_workers = 1
rpc_state_report_workers = 0
dhcp_agent_notification = false
allow_overlapping_ips = true
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
state_path = /var/lib/neutron
[database]
connection = $(DB neutron neutron)
[keystone_authtoken]
$(ksauth neutron)
[nova]
auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
region_name = $REGION
project_name = service
username = nova
password = $PW
[quotas]
quota_network = -1
quota_subnet = -1
quota_port = -1
quota_security_group = -1
quota_security_group_rule = -1
[oslo_concurrency]
lock_path = /var/lib/neutron/tmp
EOF
cat > /etc/neutron/plugins/ml2/ml2_conf.ini <<EOF
[ml2]
type_drivers = flat,vxlan,local
tenant_network_types = vxlan
mechanism_drivers = osci_fakebind
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
[ml2_type_vxlan]
vni_ranges = 1:10000
EOF

backup /etc/nova/nova.conf
mkdir -p /var/lib/nova/instances /var/lib/nova/tmp
cat > /etc/nova/nova.conf <<EOF
[DEFAULT]
host = $HOSTNAME_NOVA
my_ip = 127.0.0.1
transport_url = $TRANSPORT
compute_driver = osci_fake.SnapshotFakeDriver
state_path = /var/lib/nova
instances_path = /var/lib/nova/instances
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_workers = 1
metadata_listen = 127.0.0.1
# fake driver: make periodic resource updates frequent, allow big pools
heal_instance_info_cache_interval = -1
[api]
auth_strategy = keystone
[api_database]
connection = $(DB nova nova_api)
[database]
connection = $(DB nova nova)
[keystone_authtoken]
$(ksauth nova)
[glance]
region_name = $REGION
[neutron]
auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
region_name = $REGION
project_name = service
username = neutron
password = $PW
[placement]
auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
region_name = $REGION
project_name = service
username = placement
password = $PW
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 30
[conductor]
workers = 1
[quota]
instances = -1
cores = -1
ram = -1
key_pairs = -1
metadata_items = 1000
[vnc]
enabled = false
[oslo_concurrency]
lock_path = /var/lib/nova/tmp
[wsgi]
api_paste_config = /etc/nova/api-paste.ini
EOF

# uwsgi configs (Keystone, Placement, Nova API are WSGI-only / WSGI-preferred)
uwsgi_ini() { # name port wsgi-file processes threads
cat > "$STATE/$1-uwsgi.ini" <<EOF
[uwsgi]
plugins = python3
http-socket = 127.0.0.1:$2
wsgi-file = $3
master = true
processes = $4
threads = $5
enable-threads = true
lazy-apps = true
die-on-term = true
no-orphans = true
buffer-size = 65535
listen = 100
http-auto-chunked = true
http-chunked-input = true
http-raw-body = true
wsgi-manage-chunked-input = true
need-app = true
# uwsgi http-socket does not do keep-alive: tell clients so (avoids ECONNRESET on reused sockets)
add-header = Connection: close
name = $1
EOF
}
uwsgi_ini keystone 5000 /usr/bin/keystone-wsgi-public 1 8
uwsgi_ini placement 8778 /usr/bin/placement-api 2 4
uwsgi_ini nova-api 8774 /usr/bin/nova-api-wsgi 3 1

########################################################################### helpers
is_running() { local f="$PIDS/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }
start_bg() { # name cmd...   (own session => stop script kills whole group)
  local name=$1; shift
  if is_running "$name"; then log "$name already running (pid $(cat "$PIDS/$name.pid"))"; return; fi
  # 9>&-: daemons must not inherit the setup lock, or it would stay held after setup ends
  setsid "$@" >> "$LOG/$name.log" 2>&1 < /dev/null 9>&- &
  echo $! > "$PIDS/$name.pid"
  log "started $name pid $!"
}
wait_http() { # url timeout  -> any HTTP response
  local i=0
  until [ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$1")" != 000 ]; do
    i=$((i+1)); [ $i -gt "$2" ] && die "timeout waiting for $1"; sleep 1
  done
}
mysql_root() { mysql --protocol=socket -uroot "$@"; }

########################################################################### 4. MariaDB + RabbitMQ
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
if [ ! -d /var/lib/mysql/mysql ]; then
  log "initialising MariaDB datadir"
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql > "$LOG/mariadb-install-db.log" 2>&1
fi
if mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1; then log "mariadb already running"
else start_bg mariadb /usr/sbin/mariadbd --user=mysql; fi

if is_running rabbitmq || su rabbitmq -s /bin/sh -c "cd /var/lib/rabbitmq && /usr/lib/rabbitmq/bin/rabbitmqctl -q status" >/dev/null 2>&1; then
  log "rabbitmq already running"
else
  chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
  start_bg rabbitmq su rabbitmq -s /bin/sh -c "cd /var/lib/rabbitmq && exec /usr/lib/rabbitmq/bin/rabbitmq-server"
fi
rmqctl() { su rabbitmq -s /bin/sh -c "cd /var/lib/rabbitmq && HOME=/var/lib/rabbitmq /usr/lib/rabbitmq/bin/rabbitmqctl $*"; }

for i in $(seq 60); do mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1 && break; sleep 1; done
mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1 || die "mariadb did not start"
log "mariadb ready"
SQL=""
for db in keystone placement glance neutron nova nova_api nova_cell0; do
  SQL="$SQL CREATE DATABASE IF NOT EXISTS $db CHARACTER SET utf8;"
done
for u in keystone placement glance neutron nova; do
  SQL="$SQL CREATE USER IF NOT EXISTS '$u'@'127.0.0.1' IDENTIFIED BY '$PW'; CREATE USER IF NOT EXISTS '$u'@'localhost' IDENTIFIED BY '$PW';"
done
for pair in keystone:keystone placement:placement glance:glance neutron:neutron nova:nova nova:nova_api nova:nova_cell0; do
  u=${pair%%:*}; d=${pair##*:}
  SQL="$SQL GRANT ALL PRIVILEGES ON $d.* TO '$u'@'127.0.0.1'; GRANT ALL PRIVILEGES ON $d.* TO '$u'@'localhost';"
done
mysql_root -e "$SQL FLUSH PRIVILEGES;"

########################################################################### 5. DB schemas (in parallel)
log "syncing database schemas (parallel)"
(
  keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone
  keystone-manage credential_setup --keystone-user keystone --keystone-group keystone
  keystone-manage db_sync
) > "$LOG/dbsync-keystone.log" 2>&1 &
P1=$!
placement-manage db sync > "$LOG/dbsync-placement.log" 2>&1 &
P2=$!
glance-manage db_sync > "$LOG/dbsync-glance.log" 2>&1 &
P3=$!
neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade heads > "$LOG/dbsync-neutron.log" 2>&1 &
P4=$!
(
  set -e
  nova-manage api_db sync
  nova-manage cell_v2 map_cell0 --database_connection "$(DB nova nova_cell0)"
  CELLS=$(nova-manage cell_v2 list_cells 2>/dev/null); [[ "$CELLS" == *' cell1 '* ]] || nova-manage cell_v2 create_cell --name=cell1 --verbose
  nova-manage db sync
) > "$LOG/dbsync-nova.log" 2>&1 &
P5=$!
wait $P1 || die "keystone db sync failed ($LOG/dbsync-keystone.log)"
log "keystone schema ready"

########################################################################### 6. Keystone
start_bg keystone uwsgi --ini "$STATE/keystone-uwsgi.ini"
wait_http $KS/v3 120
log "keystone up"
keystone-manage bootstrap --bootstrap-password "$PW" \
  --bootstrap-admin-url $KS/v3/ --bootstrap-internal-url $KS/v3/ \
  --bootstrap-public-url $KS/v3/ --bootstrap-region-id $REGION >> "$LOG/keystone-bootstrap.log" 2>&1

cat > "$STATE/ks_bootstrap.py" <<'PYEOF'
import json, os, sys, requests
KS = os.environ['KS']; PW = os.environ['PW']; REGION = os.environ['REGION']; STATE = os.environ['STATE']
s = requests.Session()
def tok():
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": PW}}},
                     "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    r = s.post(KS + "/v3/auth/tokens", json=body); r.raise_for_status()
    s.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
tok()
def get(path, key, **q):
    r = s.get(KS + "/v3/" + path, params=q); r.raise_for_status(); return r.json()[key]
def ensure(path, key, match, body):
    found = get(path, key, **match)
    if found: return found[0]
    r = s.post(KS + "/v3/" + path, json={key[:-1]: body}); r.raise_for_status(); return r.json()[key[:-1]]
def grant(project, user, role):
    s.put(f"{KS}/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}").raise_for_status()
roles = {n: ensure("roles", "roles", {"name": n}, {"name": n}) for n in ("admin", "member", "reader", "service")}
service_p = ensure("projects", "projects", {"name": "service"}, {"name": "service", "domain_id": "default", "description": "Service project"})
demo_p = ensure("projects", "projects", {"name": "amphora"}, {"name": "amphora", "domain_id": "default", "description": "Test project"})
for u in ("nova", "glance", "placement", "neutron"):
    user = ensure("users", "users", {"name": u}, {"name": u, "domain_id": "default", "password": PW})
    grant(service_p, user, roles["admin"]); grant(service_p, user, roles["service"])
demo = ensure("users", "users", {"name": "amphora"}, {"name": "amphora", "domain_id": "default", "password": PW, "default_project_id": demo_p["id"]})
grant(demo_p, demo, roles["member"]); grant(demo_p, demo, roles["reader"])
admin_u = get("users", "users", name="admin")[0]
grant(demo_p, admin_u, roles["admin"])
catalog = [("nova", "compute", "http://127.0.0.1:8774/v2.1"), ("glance", "image", "http://127.0.0.1:9292"),
           ("neutron", "network", "http://127.0.0.1:9696"), ("placement", "placement", "http://127.0.0.1:8778")]
for name, typ, url in catalog:
    svc = ensure("services", "services", {"type": typ}, {"name": name, "type": typ, "enabled": True})
    have = {e["interface"] for e in get("endpoints", "endpoints", service_id=svc["id"])}
    for iface in ("public", "internal", "admin"):
        if iface not in have:
            s.post(KS + "/v3/endpoints", json={"endpoint": {"service_id": svc["id"], "interface": iface, "url": url, "region_id": REGION}}).raise_for_status()
# application credential for the demo user (secret only retrievable at creation -> cache in state file)
acf = os.path.join(STATE, "appcred.json")
ac = json.load(open(acf)) if os.path.exists(acf) else None
s2 = requests.Session()
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "amphora", "domain": {"id": "default"}, "password": PW}}},
                 "scope": {"project": {"name": "amphora", "domain": {"id": "default"}}}}}
r = s2.post(KS + "/v3/auth/tokens", json=body); r.raise_for_status(); s2.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
existing = s2.get(f"{KS}/v3/users/{demo['id']}/application_credentials", params={"name": "osci-appcred"}).json()["application_credentials"]
if not (ac and existing and existing[0]["id"] == ac["id"]):
    for e in existing: s2.delete(f"{KS}/v3/users/{demo['id']}/application_credentials/{e['id']}")
    r = s2.post(f"{KS}/v3/users/{demo['id']}/application_credentials", json={"application_credential": {"name": "osci-appcred", "description": "CI app cred"}})
    r.raise_for_status(); c = r.json()["application_credential"]
    ac = {"id": c["id"], "name": c["name"], "secret": c["secret"]}
    json.dump(ac, open(acf, "w"))
print(json.dumps({"demo_project_id": demo_p["id"], "demo_user_id": demo["id"], "service_project_id": service_p["id"]}))
PYEOF
KS=$KS PW=$PW REGION=$REGION STATE=$STATE $PY "$STATE/ks_bootstrap.py" > "$STATE/ks_ids.json" 2>> "$LOG/keystone-bootstrap.log" \
  || die "keystone bootstrap failed ($LOG/keystone-bootstrap.log)"
log "keystone users/projects/catalog ready"

########################################################################### 7. RabbitMQ user
for i in $(seq 90); do rmqctl -q await_startup >/dev/null 2>&1 && break; sleep 1; done
rmqctl -q await_startup >/dev/null 2>&1 || die "rabbitmq did not start (see $LOG/rabbitmq)"
RU=$(rmqctl -q list_users); [[ "$RU" == *openstack* ]] || rmqctl -q add_user openstack "$PW" >/dev/null
rmqctl -q set_permissions openstack "'.*'" "'.*'" "'.*'" >/dev/null
log "rabbitmq ready"

########################################################################### 8. API services
wait $P2 || die "placement db sync failed"
start_bg placement uwsgi --ini "$STATE/placement-uwsgi.ini"
wait $P3 || die "glance db sync failed"
start_bg glance-api glance-api --config-file /etc/glance/glance-api.conf
wait $P4 || die "neutron db sync failed ($LOG/dbsync-neutron.log)"
start_bg neutron-server neutron-server --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini
wait $P5 || die "nova db sync failed ($LOG/dbsync-nova.log)"
log "all schemas synced"
start_bg nova-api uwsgi --ini "$STATE/nova-api-uwsgi.ini"
start_bg nova-conductor nova-conductor --config-file /etc/nova/nova.conf
start_bg nova-scheduler nova-scheduler --config-file /etc/nova/nova.conf
wait_http http://127.0.0.1:8778/ 120
start_bg nova-compute "$STATE/bin/nova-compute" --config-file /etc/nova/nova.conf
wait_http http://127.0.0.1:9292/versions 120
wait_http http://127.0.0.1:9696/ 120
wait_http http://127.0.0.1:8774/ 120
log "all HTTP endpoints answer"

########################################################################### 9. wait for compute, map host, create test resources
cat > "$STATE/resources.py" <<'PYEOF'
import json, os, subprocess, sys, time, requests
KS = os.environ['KS']; PW = os.environ['PW']; STATE = os.environ['STATE']; HOST = os.environ['HOST']
def session(user, project):
    s = requests.Session()
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": PW}}},
                     "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
    r = s.post(KS + "/v3/auth/tokens", json=body); r.raise_for_status()
    s.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
    return s
adm = session("admin", "admin")
NOVA = "http://127.0.0.1:8774/v2.1"; GLANCE = "http://127.0.0.1:9292"; NEUTRON = "http://127.0.0.1:9696/v2.0"
# 1. nova-compute/conductor/scheduler up + host mapped + RP in placement
deadline = time.time() + 180
while True:
    svcs = adm.get(NOVA + "/os-services").json().get("services", [])
    up = {s["binary"] for s in svcs if s["state"] == "up"}
    if {"nova-compute", "nova-conductor", "nova-scheduler"} <= up: break
    for p in ("nova-compute", "nova-conductor", "nova-scheduler"):
        try: os.kill(int(open(f"{STATE}/pids/{p}.pid").read()), 0)
        except (OSError, ValueError): sys.exit(f"{p} process died, see its log")
    if time.time() > deadline: sys.exit("nova services not up: %s" % svcs)
    time.sleep(2)
while True:
    subprocess.run(["nova-manage", "cell_v2", "discover_hosts"], check=True, capture_output=True)
    hv = adm.get(NOVA + "/os-hypervisors").json().get("hypervisors", [])
    rps = adm.get("http://127.0.0.1:8778/resource_providers").json().get("resource_providers", [])
    if hv and rps: break
    if time.time() > deadline: sys.exit("compute host not discovered")
    time.sleep(2)
out = {}
# 2. image (public, tiny raw, tagged 'amphora')
imgs = adm.get(GLANCE + "/v2/images", params={"name": "amphora-fake"}).json()["images"]
imgs = [i for i in imgs if i["status"] == "active"]
if imgs: img = imgs[0]
else:
    img = adm.post(GLANCE + "/v2/images", json={"name": "amphora-fake", "disk_format": "raw", "container_format": "bare",
                   "visibility": "public", "tags": ["amphora"], "min_disk": 0, "min_ram": 0}).json()
    r = adm.put(f"{GLANCE}/v2/images/{img['id']}/file", data=b"\0" * 1048576, headers={"Content-Type": "application/octet-stream"}); r.raise_for_status()
out["image_id"] = img["id"]
# 3. flavors
flv = {f["name"]: f for f in adm.get(NOVA + "/flavors").json()["flavors"]}
for name, fid, ram, vcpus, disk in (("amphora", "osci-amphora", 1024, 1, 2), ("m1.tiny", "osci-tiny", 512, 1, 1)):
    if name not in flv:
        r = adm.post(NOVA + "/flavors", json={"flavor": {"name": name, "id": fid, "ram": ram, "vcpus": vcpus, "disk": disk, "os-flavor-access:is_public": True}})
        r.raise_for_status(); flv[name] = r.json()["flavor"]
out["flavor_id"] = flv["amphora"]["id"]; out["flavor_name"] = "amphora"
# 4. shared provider network + subnet
nets = adm.get(NEUTRON + "/networks", params={"name": "amphora-mgmt"}).json()["networks"]
if nets: net = nets[0]
else:
    r = adm.post(NEUTRON + "/networks", json={"network": {"name": "amphora-mgmt", "shared": True, "provider:network_type": "flat", "provider:physical_network": "physnet1"}})
    r.raise_for_status(); net = r.json()["network"]
if not net.get("subnets"):
    adm.post(NEUTRON + "/subnets", json={"subnet": {"name": "amphora-mgmt-subnet", "network_id": net["id"], "ip_version": 4, "cidr": "172.31.0.0/16", "gateway_ip": "172.31.0.1"}}).raise_for_status()
out["network_id"] = net["id"]
# 5. keypair for the demo user
demo = session("amphora", "amphora")
kp = demo.get(NOVA + "/os-keypairs/amphora-key")
if kp.status_code == 404:
    r = demo.post(NOVA + "/os-keypairs", json={"keypair": {"name": "amphora-key"}}, headers={"X-OpenStack-Nova-API-Version": "2.1"})
    r.raise_for_status(); open(os.path.join(STATE, "amphora-key.pem"), "w").write(r.json()["keypair"]["private_key"])
out["key_name"] = "amphora-key"
print(json.dumps(out))
PYEOF
KS=$KS PW=$PW STATE=$STATE HOST=$HOSTNAME_NOVA $PY "$STATE/resources.py" > "$STATE/resources.json" 2> "$LOG/resources.log" \
  || die "resource creation failed ($LOG/resources.log)"
log "compute host discovered; image/flavor/network/keypair ready"

########################################################################### 9b. warm up uwsgi workers (lazy-apps: each worker imports its app on its first request, ~5 s)
cat > "$STATE/warmup.py" <<'PYEOF'
import os, threading, requests
KS = os.environ['KS']; PW = os.environ['PW']
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": PW}}},
                 "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
tok = requests.post(KS + "/v3/auth/tokens", json=body).headers["X-Subject-Token"]
urls = ["http://127.0.0.1:8774/v2.1/servers"] * 8 + ["http://127.0.0.1:8778/resource_providers"] * 6 + [KS + "/v3/auth/tokens"] * 2
def hit(u):
    try: requests.get(u, headers={"X-Auth-Token": tok, "X-Subject-Token": tok}, timeout=60)
    except Exception: pass
for _ in range(2):
    th = [threading.Thread(target=hit, args=(u,)) for u in urls]; [t.start() for t in th]; [t.join() for t in th]
PYEOF
KS=$KS PW=$PW $PY "$STATE/warmup.py" >> "$LOG/setup.log" 2>&1 || true
log "uwsgi workers warmed up"

########################################################################### 10. smoke test (boot + delete)
if [ "$SMOKE" = 1 ]; then
cat > "$STATE/smoke.py" <<'PYEOF'
import json, os, sys, time, requests
KS = os.environ['KS']; PW = os.environ['PW']; R = json.load(open(os.environ['STATE'] + "/resources.json"))
s = requests.Session()
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "amphora", "domain": {"id": "default"}, "password": PW}}},
                 "scope": {"project": {"name": "amphora", "domain": {"id": "default"}}}}}
r = s.post(KS + "/v3/auth/tokens", json=body); r.raise_for_status(); s.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
N = "http://127.0.0.1:8774/v2.1"
import threading
res = {}
def one(i):  # one boot per nova-api worker: also warms the POST /servers code path of each worker
    t = time.time()
    r = s.post(N + "/servers", json={"server": {"name": "osci-smoke-%d" % i, "imageRef": R["image_id"], "flavorRef": R["flavor_id"], "networks": [{"uuid": R["network_id"]}]}})
    r.raise_for_status(); sid = r.json()["server"]["id"]
    while True:
        st = s.get(f"{N}/servers/{sid}").json()["server"]
        if st["status"] in ("ACTIVE", "ERROR") or time.time() - t > 180: break
        time.sleep(0.5)
    res[i] = (sid, st["status"], time.time() - t, st.get("fault"))
th = [threading.Thread(target=one, args=(i,)) for i in range(3)]; [x.start() for x in th]; [x.join() for x in th]
for sid, *_ in res.values(): s.delete(f"{N}/servers/{sid}")
t = time.time()
while any(s.get(f"{N}/servers/{sid}").status_code != 404 for sid, *_ in res.values()) and time.time() - t < 120: time.sleep(0.5)
bad = [v for v in res.values() if v[1] != "ACTIVE"]
if bad: sys.exit("smoke: servers not ACTIVE: %s" % bad)
print("smoke: 3 parallel servers ACTIVE in %s s, deleted" % [round(v[2], 1) for v in res.values()])
PYEOF
  KS=$KS PW=$PW STATE=$STATE $PY "$STATE/smoke.py" >> "$LOG/setup.log" 2>&1 || die "smoke test failed (see $LOG/setup.log, $LOG/nova-compute.log)"
  log "smoke test passed"
fi

########################################################################### 11. credentials for tests
AC_ID=$($PY -c "import json;print(json.load(open('$STATE/appcred.json'))['id'])")
AC_SECRET=$($PY -c "import json;print(json.load(open('$STATE/appcred.json'))['secret'])")
RES=$(cat "$STATE/resources.json")
cat > "$STATE/openrc-admin" <<EOF
export OS_AUTH_URL=$KS/v3 OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=$REGION
export OS_USERNAME=admin OS_PASSWORD=$PW OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
EOF
cat > "$STATE/openrc-amphora" <<EOF
export OS_AUTH_URL=$KS/v3 OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=$REGION
export OS_USERNAME=amphora OS_PASSWORD=$PW OS_PROJECT_NAME=amphora
export OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
EOF
cat > "$STATE/openrc-appcred" <<EOF
export OS_AUTH_URL=$KS/v3 OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=$REGION OS_AUTH_TYPE=v3applicationcredential
export OS_APPLICATION_CREDENTIAL_ID=$AC_ID OS_APPLICATION_CREDENTIAL_SECRET=$AC_SECRET
EOF
$PY - > "$STATE/osci-env.json" <<EOF
import json
r = json.loads('''$RES''')
ids = json.load(open("$STATE/ks_ids.json"))
print(json.dumps({
  "project_id": ids["demo_project_id"], "user_id": ids["demo_user_id"], "image_tag": "amphora",
  "auth_url": "$KS/v3", "region": "$REGION",
  "admin": {"username": "admin", "password": "$PW", "project": "admin", "domain": "Default"},
  "user": {"username": "amphora", "password": "$PW", "project": "amphora", "domain": "Default"},
  "application_credential": {"id": "$AC_ID", "secret": "$AC_SECRET"},
  "endpoints": {"identity": "$KS/v3", "compute": "http://127.0.0.1:8774/v2.1", "image": "http://127.0.0.1:9292",
                "network": "http://127.0.0.1:9696", "placement": "http://127.0.0.1:8778"},
  **r}, indent=2))
EOF
$PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['image_id'] and d['application_credential']['secret']" "$STATE/osci-env.json" \
  || die "$STATE/osci-env.json is incomplete"
log "READY in $(( $(date +%s) - T0 ))s"
echo "================ OpenStack (Zed, Debian 12) on 127.0.0.1 is ready ================"
cat "$STATE/osci-env.json"
echo "openrc files: $STATE/openrc-admin $STATE/openrc-amphora $STATE/openrc-appcred"
echo "logs: $LOG    stop: stop-openstack.sh [--purge]"
