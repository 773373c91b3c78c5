#!/usr/bin/env python3
"""Lantern's database cluster on one machine: etcd, two PostgreSQL members under Patroni with
strict synchronous replication, and HAProxy in front sending clients to the primary.

    python3 scripts/ha_cluster.py start --dir /tmp/lantern-ha   # prints the URL for lantern serve
    python3 scripts/ha_cluster.py status --dir /tmp/lantern-ha
    python3 scripts/ha_cluster.py stop --dir /tmp/lantern-ha

The configuration is deploy/ha/patroni.yml and deploy/ha/haproxy.cfg; this script only fills in
ports and folders. `scripts/ha-test` imports it to run the failover tests.
"""
import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMBERS = ("pg1", "pg2")


def pg_bin():
    found = sorted((d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()), key=int) \
        if os.path.isdir("/usr/lib/postgresql") else []
    if not found:
        sys.exit("PostgreSQL is not installed (apt-get install postgresql)")
    return f"/usr/lib/postgresql/{found[-1]}/bin"


def port_free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class Cluster:
    """The processes of one cluster, their ports and folders under `work`."""

    def __init__(self, work, base_port=15000):
        self.work = os.path.abspath(work)
        self.haproxy_port = base_port
        self.stats_port = base_port + 1
        self.etcd_port = base_port + 2
        self.etcd_peer_port = base_port + 3
        self.pg_ports = {name: base_port + 10 + i for i, name in enumerate(MEMBERS)}
        self.api_ports = {name: base_port + 20 + i for i, name in enumerate(MEMBERS)}
        self.processes = {}

    @property
    def url(self):
        """Where Lantern connects: HAProxy's primary port."""
        return f"postgres://postgres@127.0.0.1:{self.haproxy_port}/postgres"

    def member_url(self, name):
        return f"postgres://postgres@127.0.0.1:{self.pg_ports[name]}/postgres"

    # Starting and stopping

    def start(self):
        for port in [self.haproxy_port, self.stats_port, self.etcd_port, self.etcd_peer_port,
                     *self.pg_ports.values(), *self.api_ports.values()]:
            if not port_free(port):
                sys.exit(f"port {port} is taken: stop the cluster there, or pick another --base-port")
        os.makedirs(self.work, exist_ok=True)
        self._start_etcd()
        self._write_configs()
        self._start_patroni("pg1")
        self.wait_for(lambda: self.primary() == "pg1", 60, "pg1 to initialise the cluster and lead it")
        self._start_patroni("pg2")
        self.wait_for(lambda: self.sync_standby() == "pg2", 90, "pg2 to stream as the synchronous standby")
        self._start_haproxy()
        # HAProxy counts every server up until its first checks, so wait for them.
        self.wait_for(lambda: self.routed() == ["pg1"], 20, "HAProxy to route to the primary only")

    def _spawn(self, key, command, as_postgres=False):
        if as_postgres and os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--"] + command
        log = open(os.path.join(self.work, f"{key}.out"), "ab")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[key] = process
        with open(os.path.join(self.work, f"{key}.pid"), "w") as f:
            f.write(str(process.pid))
        return process

    def _start_etcd(self):
        # One etcd member is enough on one machine; production runs three (or five) on separate
        # machines so that the cluster keeps its leader key through the loss of one (or two).
        data = os.path.join(self.work, "etcd")
        self._spawn("etcd", [
            "etcd", "--name", "etcd1", "--data-dir", data,
            "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-cluster", f"etcd1=http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-cluster-state", "new", "--log-level", "warn"])
        self.wait_for(lambda: self._http(f"http://127.0.0.1:{self.etcd_port}/health") is not None, 20, "etcd")

    def _write_configs(self):
        with open(os.path.join(ROOT, "deploy/ha/patroni.yml")) as f:
            member = string.Template(f.read())
        for name in MEMBERS:
            with open(self.config(name), "w") as f:
                f.write(member.substitute(
                    name=name, work=self.work, pg_port=self.pg_ports[name], api_port=self.api_ports[name],
                    etcd_hosts=f"127.0.0.1:{self.etcd_port}", pg_bin=pg_bin()))
            os.makedirs(os.path.join(self.work, f"log-{name}"), exist_ok=True)
        with open(os.path.join(ROOT, "deploy/ha/haproxy.cfg")) as f:
            balancer = string.Template(f.read())
        servers = "\n".join(
            f"    server {name} 127.0.0.1:{self.pg_ports[name]} maxconn 400 check port {self.api_ports[name]}"
            for name in MEMBERS)
        with open(os.path.join(self.work, "haproxy.cfg"), "w") as f:
            f.write(balancer.substitute(work=self.work, stats_port=self.stats_port,
                                        haproxy_port=self.haproxy_port, servers=servers))
        if os.getuid() == 0:
            user = pwd.getpwnam("postgres")
            for path, _, files in os.walk(self.work):
                if os.path.basename(path) == "etcd" or "/etcd/" in path:
                    continue
                os.chown(path, user.pw_uid, user.pw_gid)
                for name in files:
                    os.chown(os.path.join(path, name), user.pw_uid, user.pw_gid)

        if os.getuid() == 0 and subprocess.run(["runuser", "-u", "postgres", "--", "test", "-r", self.config("pg1")]).returncode:
            sys.exit(f"the postgres user cannot read {self.work}: make its parent folders readable (chmod 755)")

    def config(self, name):
        return os.path.join(self.work, f"{name}.yml")

    def _start_patroni(self, name):
        self._spawn(name, ["patroni", self.config(name)], as_postgres=True)

    def _start_haproxy(self):
        self._spawn("haproxy", ["haproxy", "-db", "-f", os.path.join(self.work, "haproxy.cfg")])

    def stop(self):
        """Stops everything: Patroni (and with it PostgreSQL) first, then HAProxy and etcd."""
        for key in (*MEMBERS, "haproxy", "etcd"):
            self._stop_pid(self._pid(key), timeout=60)
        for name in MEMBERS:
            pid = self.postmaster_pid(name)
            if pid:
                os.kill(pid, signal.SIGKILL)

    def _pid(self, key):
        try:
            with open(os.path.join(self.work, f"{key}.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _stop_pid(pid, timeout):
        if not pid:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
                if open(f"/proc/{pid}/stat").read().split()[2] == "Z":
                    break
            except (ProcessLookupError, FileNotFoundError):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    # Looking at it

    @staticmethod
    def _http(url, timeout=1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (OSError, ValueError):
            return None

    def members(self):
        """Patroni's view of the cluster: [{name, role, state, lag, timeline}], from any member that answers."""
        for name in MEMBERS:
            answer = self._http(f"http://127.0.0.1:{self.api_ports[name]}/cluster")
            if answer and answer[0] == 200:
                return json.loads(answer[1]).get("members", [])
        return []

    def primary(self):
        """The member whose REST API answers /primary with 200, as HAProxy sees it."""
        for name in MEMBERS:
            answer = self._http(f"http://127.0.0.1:{self.api_ports[name]}/primary", timeout=0.5)
            if answer and answer[0] == 200:
                return name
        return None

    def routed(self):
        """The members HAProxy sends clients to now (its stats page)."""
        answer = self._http(f"http://127.0.0.1:{self.stats_port}/;csv")
        if not answer or answer[0] != 200:
            return None
        rows = [line.split(",") for line in answer[1].decode().splitlines()]
        return [row[1] for row in rows if len(row) > 17 and row[0] == "primary" and row[1] in MEMBERS and row[17] == "UP"]

    def sync_standby(self):
        for member in self.members():
            if member.get("role") == "sync_standby" and member.get("state") in ("streaming", "running"):
                return member["name"]
        return None

    def postmaster_pid(self, name):
        """The PID in the member's postmaster.pid, or None when it is not running."""
        try:
            with open(os.path.join(self.work, name, "postmaster.pid")) as f:
                pid = int(f.readline().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    @staticmethod
    def query(url, sql, timeout=3):
        """One value from psql, or None when the server does not answer."""
        try:
            result = subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True, timeout=timeout,
                                    env=dict(os.environ, PGCONNECT_TIMEOUT=str(timeout)))
        except subprocess.TimeoutExpired:
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    @staticmethod
    def wait_for(condition, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "status", "stop"])
    parser.add_argument("--dir", required=True, help="folder for the cluster's data, configuration and logs")
    parser.add_argument("--base-port", type=int, default=15000,
                        help="HAProxy's primary port; the others follow it (default 15000)")
    args = parser.parse_args()
    cluster = Cluster(args.dir, args.base_port)
    if args.command == "start":
        if os.path.exists(os.path.join(cluster.work, "pg1")):
            sys.exit(f"{cluster.work} already holds a cluster: stop it and remove the folder first")
        try:
            cluster.start()
        except TimeoutError as error:
            cluster.stop()
            sys.exit(f"{error}; logs are in {cluster.work}")
        print(f"primary pg1, synchronous standby pg2; Lantern connects to {cluster.url}")
        print(f"  lantern serve --database {cluster.url}")
    elif args.command == "status":
        for member in cluster.members():
            print(f"{member['name']}: {member.get('role')} {member.get('state')} timeline {member.get('timeline')} "
                  f"lag {member.get('lag', 0)}")
        print(f"HAProxy sends clients to: {cluster.primary() or 'no member'}")
    else:
        cluster.stop()
        shutil.rmtree(cluster.work, ignore_errors=True)
        print("stopped")


if __name__ == "__main__":
    main()
