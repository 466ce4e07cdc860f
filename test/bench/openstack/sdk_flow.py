"""The benchmark flow done with Debian's python3-openstacksdk, for comparison with the driver.

Boots N servers at once, polls each every POLL seconds until ACTIVE, then deletes them all
and polls until each is gone, counting every HTTP request by phase. Prints one JSON object.
Usage: sdk_flow.py <osci-env.json> <n> <poll seconds> <ownership tag>
"""
import json
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openstack
import requests

env = json.load(open(sys.argv[1]))
N = int(sys.argv[2])
POLL = float(sys.argv[3])
TAG = sys.argv[4]

lock = threading.Lock()
counts = {"create": 0, "remove": 0}
polls = {"create": 0, "remove": 0}
phase = ["create"]
_send = requests.Session.send
# A status poll: GET of one server (not the listing /servers/detail).
POLL_PATH = re.compile(r"/servers/(?!detail)[^/?]+$")


def counting_send(self, request, **kwargs):
    with lock:
        counts[phase[0]] += 1
        if request.method == "GET" and POLL_PATH.search(request.url):
            polls[phase[0]] += 1
    return _send(self, request, **kwargs)


# Every keystoneauth/openstacksdk request goes through requests.Session.send.
requests.Session.send = counting_send

pool = ThreadPoolExecutor(max_workers=N)
t0 = time.monotonic()
conn = openstack.connect(
    auth_url=env["auth_url"],
    auth_type="v3applicationcredential",
    application_credential_id=env["application_credential"]["id"],
    application_credential_secret=env["application_credential"]["secret"],
    region_name=env["region"],
    interface="public",
)


def boot(i):
    amphora = "sdk-%d-%s" % (i, TAG)
    s = conn.compute.create_server(
        name="amphora-" + amphora,
        image_id=env["image_id"],
        flavor_id=env["flavor_id"],
        networks=[{"uuid": env["network_id"]}],
        tags=[TAG, "amphora-id:" + amphora],
        metadata={"amphora_id": amphora, "managed_by": TAG},
    )
    return s.id


ids = list(pool.map(boot, range(N)))
pending = set(ids)
while pending:
    time.sleep(POLL)
    statuses = dict(zip(pending, pool.map(lambda i: conn.compute.get_server(i).status, list(pending))))
    bad = [i for i, s in statuses.items() if s == "ERROR"]
    if bad:
        sys.exit("servers went to ERROR: %s" % bad)
    pending = {i for i, s in statuses.items() if s != "ACTIVE"}
create_s = time.monotonic() - t0

phase[0] = "remove"
t1 = time.monotonic()
list(pool.map(conn.compute.delete_server, ids))


def gone(i):
    try:
        conn.compute.get_server(i)
        return False
    except openstack.exceptions.ResourceNotFound:
        return True


pending = set(ids)
while pending:
    time.sleep(POLL)
    done = dict(zip(pending, pool.map(gone, list(pending))))
    pending = {i for i, g in done.items() if not g}
remove_s = time.monotonic() - t1

print(json.dumps({
    "createRequests": counts["create"],
    "removeRequests": counts["remove"],
    "createPolls": polls["create"],
    "removePolls": polls["remove"],
    "createSeconds": create_s,
    "removeSeconds": remove_s,
}))
