#!/usr/bin/env python3
"""Lantern on a failing database: two nodes claiming under load through HAProxy to a Patroni
cluster (scripts/ha_cluster.py), while the database

1. fails over: the primary's postmaster is killed with SIGKILL and Patroni promotes the
   synchronous standby (the time from the kill to the first acknowledged claim must be < 15 s);
2. restarts in place (Patroni paused, so no failover): stopped with `pg_ctl -m immediate`,
   started again 4 s later; claims must succeed again within 5 s of it being back;
3. stalls: every process of the primary is stopped with SIGSTOP for 4 s, so connections are
   accepted but nothing answers; a third node connects to that member directly, without
   HAProxy in between. Every node must answer 503 within the deadline and succeed again within
   5 s of SIGCONT.

Clients retry a 503 (or a lost connection) with the same Idempotency-Key, on either node, until
the answer is final. About one in four users who get a card orders a drink with it, retried the
same way. Checked afterwards against the primary: every acknowledged card and order is in the
database, the audit (`lantern audit --acks`) holds, no user holds two welcome cards, issued
cards stay within the budget, and every answer was 201, 409, 410 or 503 (200 for an order's
replay), within the answer deadline, never a hang, every 503 with Retry-After. Exits non-zero
on any failure.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ha_cluster import Cluster, pg_bin, port_free  # noqa: E402
from lantern_http import free_port, request  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMPAIGN = "ha-rush"
VALUE = 2_500
BUDGET_CARDS = 200_000
DEADLINE = 2.0  # lantern serve's --deadline
SLACK = 0.75    # time over the deadline an answer may take on this loaded two-core machine
ORDER = {"items": [{"drink": "taro milk tea"}]}


def order_address():
    """Somewhere in the demo city's centre. With no riders nothing is delivered, so the stores
    of one brand in reach of one address fill their 30 minutes of work after about a thousand
    cups, which a fast run places (422 stores_at_capacity); spread over the centre and over
    every brand, the orders fit (too far out, some addresses have no store in reach)."""
    return {"lat": 31.2304 + random.uniform(-0.02, 0.02), "lng": 121.4737 + random.uniform(-0.025, 0.025),
            "text": "somewhere in the city"}


def free_base_port():
    """A base port whose cluster ports (base … base+21) are all free."""
    for base in range(15000, 30000, 100):
        if all(port_free(port) for port in range(base, base + 22)):
            return base
    sys.exit("no free ports for the database cluster")


class Log:
    """Every answer: (sent, answered, node, kind, status)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers = []
        self.acked_cards = {}   # user -> card id acknowledged (201)
        self.acked_orders = {}  # user -> order id acknowledged (201)
        self.codes = {}         # (kind, status, error code) -> count, for answers other than 201
        self.examples = []      # (user, kind, [(node, status, seconds)]) of unexpected answers
        self.without_retry_after = 0  # 503 answers that did not say when to retry

    def add(self, sent, node, kind, status):
        with self.lock:
            self.answers.append((sent, time.monotonic(), node, kind, status))

    def first_success_after(self, moment, node=None):
        with self.lock:
            times = [answered for sent, answered, n, kind, status in self.answers
                     if kind == "claim" and status == 201 and sent >= moment and (node is None or n == node)]
        return min(times) if times else None

    def window(self, start, end):
        with self.lock:
            return [a for a in self.answers if start <= a[0] < end]


class Load:
    """Workers claiming for fresh users on the live nodes, retrying 503 with the same key."""

    def __init__(self, nodes, tokens, log, workers=12):
        self.nodes = nodes  # list of (name, port), changed by the test
        self.tokens = tokens
        self.log = log
        self.next = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.work, daemon=True) for _ in range(workers)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def pick(self):
        with self.lock:
            return random.choice(self.nodes)

    def settle(self, kind, user, token, key, path, body):
        """Sends one request until its answer is final (not 503 and not lost), on random nodes."""
        tries = []
        while True:
            name, port = self.pick()
            sent = time.monotonic()
            status, headers, answer = request(port, "POST", path, token, body, {"Idempotency-Key": key})
            self.log.add(sent, name, kind, status)
            tries.append((name, status, round(time.monotonic() - sent, 2)))
            if status == 503 and "retry-after" not in headers:
                with self.log.lock:
                    self.log.without_retry_after += 1
            if status not in (200, 201, None):
                code = (answer or {}).get("error", {}).get("code")
                with self.log.lock:
                    self.log.codes[(kind, status, code)] = self.log.codes.get((kind, status, code), 0) + 1
                    if status != 503 and len(self.log.examples) < 5:
                        self.log.examples.append((user, kind, tries))
            if status not in (503, None):
                return status, answer
            time.sleep(0.1 + random.random() * 0.2)

    def work(self):
        while not self.stopping.is_set():
            with self.lock:
                if self.next >= len(self.tokens):
                    return
                user, token = self.tokens[self.next]
                self.next += 1
            status, answer = self.settle("claim", user, token, f"{user}-claim", f"/v1/campaigns/{CAMPAIGN}/claims", {})
            if status == 201:
                with self.log.lock:
                    self.log.acked_cards[user] = answer["card"]["id"]
            if status == 201 and random.random() < 0.25:
                body = dict(ORDER, address=order_address(), card_id=answer["card"]["id"])
                status, answer = self.settle("order", user, token, f"{user}-order", "/v1/orders", body)
                if status in (200, 201):  # 200: a retry replayed the order an earlier try placed
                    with self.log.lock:
                        self.log.acked_orders[user] = answer["order"]["id"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lantern", default=os.path.join(ROOT, ".build/debug/lantern"))
    parser.add_argument("--users", type=int, default=60_000, help="tokens minted for the load")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="lantern-ha-")
    os.chmod(work, 0o755)  # the postgres user runs Patroni from a folder inside
    cluster = Cluster(os.path.join(work, "db"), free_base_port())
    secret = f"ha-{time.time_ns()}-secret-0123456789abcdef"
    # The demo shops keep city hours: put the city at midday now, so that its orders find the
    # shops open whenever the test runs (at night in Shanghai they are all closed).
    utc = time.gmtime()
    midday = ((12 * 60 - (utc.tm_hour * 60 + utc.tm_min)) % 1440 + 1440) % 1440
    env = dict(os.environ, LANTERN_JWT_SECRET=secret, LANTERN_CITY_UTC_OFFSET_MINUTES=str(midday))
    processes = {}
    ports = {}
    failures = []

    def start_node(name, url):
        ports[name] = free_port()
        log = open(os.path.join(work, f"{name}.log"), "a")
        processes[name] = subprocess.Popen(
            [args.lantern, "serve", "--database", url, "--port", str(ports[name]), "--node-id", name,
             "--admission", "off", "--riders", "0", "--lease-seconds", "3", "--deadline", str(DEADLINE),
             "--log-level", "notice"], env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 90
        while time.time() < deadline:
            if processes[name].poll() is not None:
                sys.exit(f"node {name} exited early with {processes[name].returncode}")
            if request(ports[name], "GET", "/readyz", timeout=1)[0] == 200:
                return
            time.sleep(0.05)
        sys.exit(f"node {name} did not become ready")

    def ready(name):
        return request(ports[name], "GET", "/readyz", timeout=DEADLINE + SLACK)[0]

    def patroni_pause(paused):
        # Maintenance mode: Patroni leaves PostgreSQL alone, so a stopped primary stays the primary.
        for port in cluster.api_ports.values():
            if patch(f"http://127.0.0.1:{port}/config", {"pause": paused}):
                return
        failures.append("could not change Patroni's pause mode")

    def healthy():
        members = cluster.members()
        return (len(members) == 2 and any(m["role"] == "leader" and m["state"] == "running" for m in members)
                and any(m["role"] == "sync_standby" and m["state"] in ("streaming", "running") for m in members)
                and cluster.primary() is not None)

    def member_processes(name):
        """The postmaster of a member and all its children."""
        master = cluster.postmaster_pid(name)
        if not master:
            return []
        children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
        return [master] + [int(pid) for pid in children]

    allowed = {"claim": (201, 409, 410, 503), "order": (200, 201, 503)}

    def check_window(label, start, end):
        answers = cluster_log.window(start, end)
        statuses = {}
        for sent, answered, node, kind, status in answers:
            statuses[(kind, status)] = statuses.get((kind, status), 0) + 1
        slow = [a for a in answers if a[1] - a[0] > DEADLINE + SLACK]
        print(f"{label}: answers {dict(sorted((f'{k}:{s}', n) for (k, s), n in statuses.items()))}; "
              f"slowest {max((a[1] - a[0] for a in answers), default=0):.2f} s")
        bad = {k: n for k, n in statuses.items() if k[1] not in allowed[k[0]]}
        if bad:
            failures.append(f"{label}: unexpected answers {bad}")
        if slow:
            failures.append(f"{label}: {len(slow)} answers took longer than {DEADLINE + SLACK} s, e.g. {slow[:3]}")

    cluster_log = Log()
    load = None
    try:
        started = time.monotonic()
        cluster.start()
        print(f"database cluster up in {time.monotonic() - started:.1f} s: primary {cluster.primary()}, "
              f"synchronous standby {cluster.sync_standby()}; Lantern connects to {cluster.url}")
        start_node("n1", cluster.url)
        start_node("n2", cluster.url)
        admin = subprocess.run([args.lantern, "token", "--user", "ops", "--role", "admin"], env=env,
                               check=True, capture_output=True, text=True).stdout.strip()
        minted = subprocess.run([args.lantern, "token", "--user", "u", "--count", str(args.users)], env=env,
                                check=True, capture_output=True, text=True).stdout
        tokens = [tuple(line.split("\t")) for line in minted.splitlines() if line]
        now = time.time()
        iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        status, _, body = request(ports["n1"], "POST", "/v1/campaigns", admin, {
            "id": CAMPAIGN, "name": "HA rush", "budget_fen": BUDGET_CARDS * VALUE, "card_value_fen": VALUE,
            "max_cards_per_user": 1, "starts_at": iso(now - 60), "ends_at": iso(now + 3600),
            "cards_expire_at": iso(now + 7200)})
        if status != 201:
            sys.exit(f"creating the campaign answered {status}: {body}")
        time.sleep(1)  # n2 sees the campaign within 0.5 s

        load = Load([("n1", ports["n1"]), ("n2", ports["n2"])], tokens, cluster_log)
        load.start()
        time.sleep(4)

        # 1. Failover: kill -9 of the primary's postmaster.
        old = cluster.primary()
        killed = time.monotonic()
        os.kill(cluster.postmaster_pid(old), signal.SIGKILL)
        cluster.wait_for(lambda: cluster.primary() not in (None, old), 60, "Patroni to promote the standby")
        promoted = time.monotonic()
        cluster.wait_for(lambda: cluster_log.first_success_after(killed) is not None, 60, "a claim after the failover")
        first = cluster_log.first_success_after(killed)
        print(f"failover: kill -9 of {old}'s postmaster; {cluster.primary()} promoted after {promoted - killed:.1f} s; "
              f"first acknowledged claim {first - killed:.1f} s after the kill")
        if first - killed > 15:
            failures.append(f"the first claim after the failover came {first - killed:.1f} s after the kill (goal: < 15 s)")
        cluster.wait_for(lambda: all(cluster_log.first_success_after(killed, n) for n in ("n1", "n2")), 30,
                         "both nodes to acknowledge claims again")
        cluster.wait_for(healthy, 90, f"{old} to rejoin as the synchronous standby")
        rejoined = time.monotonic()
        print(f"failover: {old} back as the synchronous standby {rejoined - killed:.1f} s after the kill")
        check_window("failover", killed - 1, rejoined)
        time.sleep(2)

        # 2. Restart in place: Patroni paused, the primary stopped (immediate) and started 4 s later.
        patroni_pause(True)
        primary = cluster.primary()
        data = os.path.join(cluster.work, primary)
        run_as = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        stopped = time.monotonic()
        subprocess.run(run_as + [f"{pg_bin()}/pg_ctl", "-D", data, "-m", "immediate", "stop"], check=True,
                       capture_output=True)
        time.sleep(1)
        down = ready("n1"), ready("n2")
        print(f"restart: {primary} stopped; /readyz answers {down}")
        if any(s != 503 for s in down):
            failures.append(f"/readyz answered {down} while the database was down (expected 503)")
        time.sleep(max(0.0, stopped + 4 - time.monotonic()))
        subprocess.run(run_as + [f"{pg_bin()}/pg_ctl", "-D", data, "-l", os.path.join(cluster.work, f"{primary}-restart.log"),
                                 "start"], check=True, capture_output=True)
        cluster.wait_for(lambda: cluster.query(cluster.member_url(primary), "SELECT 1", timeout=1) == "1", 30,
                         f"{primary} to accept connections again")
        back = time.monotonic()
        cluster.wait_for(lambda: all(cluster_log.first_success_after(back, n) for n in ("n1", "n2")), 30,
                         "both nodes to acknowledge claims after the restart")
        resumed = max(cluster_log.first_success_after(back, n) for n in ("n1", "n2"))
        print(f"restart: down {back - stopped:.1f} s; both nodes acknowledging claims {resumed - back:.1f} s after it was back")
        if resumed - back > 5:
            failures.append(f"claims resumed {resumed - back:.1f} s after the restart (limit 5 s)")
        check_window("restart", stopped, resumed)
        early = [a for a in cluster_log.window(stopped + 0.5, back) if a[3] == "claim" and a[4] == 201]
        if early:
            failures.append(f"{len(early)} claims sent while the primary was down were acknowledged: {early[:3]}")
        cluster.wait_for(healthy, 60, "the standby to stream again")

        # 3. A stalled primary: every process stopped; n3 connects to it directly.
        primary = cluster.primary()
        start_node("n3", cluster.member_url(primary))
        with load.lock:
            load.nodes.append(("n3", ports["n3"]))
        time.sleep(2)
        frozen = member_processes(primary)
        stalled = time.monotonic()
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(1.5)
        during = ready("n3")
        print(f"stall: {len(frozen)} processes of {primary} stopped; n3's /readyz answers {during}")
        if during != 503:
            failures.append(f"n3's /readyz answered {during} while its database was stalled (expected 503)")
        time.sleep(2.5)
        resumed_at = time.monotonic()
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        cluster.wait_for(lambda: all(cluster_log.first_success_after(resumed_at, n) for n in ("n1", "n2", "n3")), 30,
                         "every node to acknowledge claims after the stall")
        recovered = max(cluster_log.first_success_after(resumed_at, n) for n in ("n1", "n2", "n3"))
        print(f"stall: every node acknowledging claims {recovered - resumed_at:.1f} s after SIGCONT")
        if recovered - resumed_at > 5:
            failures.append(f"claims resumed {recovered - resumed_at:.1f} s after the stall ended (limit 5 s)")
        check_window("stall", stalled, recovered)
        patroni_pause(False)
        time.sleep(2)
        load.stop()
        load = None

        # Checks against the primary.
        url = cluster.url
        issued = int(cluster.query(url, f"SELECT count(*) FROM cards WHERE campaign = '{CAMPAIGN}'"))
        doubled = int(cluster.query(url, f"""SELECT count(*) FROM (SELECT owner FROM cards WHERE campaign = '{CAMPAIGN}'
                                              AND kind = 0 GROUP BY owner HAVING count(*) > 1) d"""))
        in_db = set(cluster.query(url, f"SELECT campaign || ':' || owner || ':' || ordinal FROM cards WHERE campaign = '{CAMPAIGN}'",
                                  timeout=30).split())
        orders_in_db = set(cluster.query(url, "SELECT order_id FROM order_events WHERE kind = 'placed'", timeout=30).split())
        acked = set(cluster_log.acked_cards.values())
        acked_orders = set(cluster_log.acked_orders.values())
        print(f"cards issued {issued} (budget {BUDGET_CARDS}); acknowledged {len(acked)}, missing {len(acked - in_db)}; "
              f"orders acknowledged {len(acked_orders)}, missing {len(acked_orders - orders_in_db)}")
        if acked - in_db:
            failures.append(f"{len(acked - in_db)} acknowledged cards are not in the database: {sorted(acked - in_db)[:3]}")
        if acked_orders - orders_in_db:
            failures.append(f"{len(acked_orders - orders_in_db)} acknowledged orders are not in the database")
        if orders_in_db - acked_orders:
            failures.append(f"{len(orders_in_db - acked_orders)} orders in the database were never acknowledged")
        if doubled:
            failures.append(f"{doubled} users hold two welcome cards")
        if issued > BUDGET_CARDS:
            failures.append(f"{issued} cards issued over a budget of {BUDGET_CARDS}")
        # A card in the database for a user who was never acknowledged one would be a 503 half-applied
        # with no way to learn of it; every such user's retry must have replayed it.
        users_with_cards = {card.split(":")[1] for card in in_db}
        unanswered = users_with_cards - set(cluster_log.acked_cards)
        if unanswered:
            failures.append(f"{len(unanswered)} users hold a card no answer acknowledged: {sorted(unanswered)[:3]}")
        acks = os.path.join(work, "acks.txt")
        with open(acks, "w") as f:
            f.write("\n".join(sorted(acked)) + "\n")
        audit = subprocess.run([args.lantern, "audit", "--database", url, "--acks", acks], capture_output=True, text=True)
        print(audit.stdout.strip())
        if audit.returncode != 0:
            failures.append("the audit failed")
        statuses = {}
        for _, _, _, kind, status in cluster_log.answers:
            statuses[f"{kind}:{status}"] = statuses.get(f"{kind}:{status}", 0) + 1
        print(f"answers over the whole run: {dict(sorted(statuses.items()))}; errors by code: {cluster_log.codes}")
        unexpected = {k: n for k, n in statuses.items()
                      if not (k.split(":")[1].isdigit() and int(k.split(":")[1]) in allowed[k.split(":")[0]])}
        if unexpected:
            failures.append(f"unexpected answers over the run: {unexpected}; tries of some: {cluster_log.examples}")
        if cluster_log.without_retry_after:
            failures.append(f"{cluster_log.without_retry_after} answers 503 had no Retry-After")
    except TimeoutError as error:
        failures.append(str(error))
    finally:
        if load:
            load.stop()
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        cluster.stop()
    if failures:
        print("FAILED:\n- " + "\n- ".join(failures))
        recent = {}
        for sent, _, node, kind, status in cluster_log.window(time.monotonic() - 30, time.monotonic()):
            recent[(node, kind, status)] = recent.get((node, kind, status), 0) + 1
        print(f"answers in the last 30 s: {recent}; errors by code over the run: {cluster_log.codes}")
        for name in processes:
            print(f"--- {name} log (tail) ---")
            with open(os.path.join(work, f"{name}.log")) as f:
                print("".join(f.readlines()[-15:]))
        print(f"cluster logs are in {cluster.work}")
        sys.exit(1)
    print("high-availability test: 1 passed, 0 failed")


def patch(url, body):
    """PATCHes JSON to Patroni's REST API; True on 200."""
    try:
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PATCH",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
