"""deploy/ansible: the exposure_audit role, run by a real ansible-playbook over real SSH.

Four throw-away namespaces (``eaA-*``): a controller linked by veth pairs to three hosts.
Each host runs Debian's sshd bound to its namespace address, with host keys, client key,
config and pid file made by this test in a temp dir (privilege separation needs the
empty /run/sshd, made if missing and never removed). ansible-playbook runs inside the
controller namespace; nothing listens or connects outside the namespaces.

The namespaces share this machine's filesystem, so every host gets its own install
prefix (venv, wheels, reports, state, cron file / unit directory) under the temp dir.
The wheelhouse is made offline: exposure-audit's wheel is built from the working tree
(hatchling, no build isolation, no index) and its dependencies are re-packed from the
test venv's installed distributions (same Python minor version as the hosts).

systemd is not running here: two hosts take the role's cron path (auto), one is forced
to the systemd path and gets its units written but not enabled.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as md
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns import Netns, link, namespaces, requires_netns, unique

REPO = Path(__file__).resolve().parent.parent
ANSIBLE_DIR = REPO / "deploy" / "ansible"
PLAYBOOK = ANSIBLE_DIR / "site.yml"
VENV_BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = VENV_BIN / "ansible-playbook"
SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
HOST_PYTHON = "/usr/bin/python3"


def _skip_reason() -> str | None:
    if not ANSIBLE_PLAYBOOK.exists():
        return "needs ansible-core in the test venv (pip install -e '.[test]')"
    if SSHD is None:
        return "needs Debian's openssh-server (apt-get install openssh-server)"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "needs openssh-client (ssh, ssh-keygen)"
    if not Path(HOST_PYTHON).exists():
        return f"needs {HOST_PYTHON} with the venv module (apt-get install python3-venv)"
    try:
        md.version("hatchling")
    except md.PackageNotFoundError:
        return "needs hatchling in the test venv to build the wheel offline"
    return None


pytestmark = [
    pytest.mark.netns,
    requires_netns,
    pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
]


# --- an offline wheelhouse -------------------------------------------------------------


def _requirements(dist_name: str) -> list[str]:
    """Names of the (non-extra) requirements of an installed distribution."""
    out = []
    for req in md.requires(dist_name) or []:
        if "extra ==" in req:
            continue
        out.append(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0])
    return out


def _repack(dist: md.Distribution, dest: Path) -> Path:
    """A wheel of an installed distribution, from the files its RECORD lists."""
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [x.split(":", 1)[1].strip().split("-") for x in wheel_meta.splitlines() if "Tag:" in x]
    # The compressed tag set of the file name: py2.py3-none-any, cp311-cp311-manylinux_...
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))
    # The installed .dist-info directory's own spelling (jinja2-3.1.6, not Jinja2-3.1.6).
    tops = [str(f).split("/")[0] for f in dist.files or []]
    dist_info = next(t for t in tops if t.endswith(".dist-info"))
    path = dest / f"{dist_info.removesuffix('.dist-info')}-{tag}.whl"
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in dist.files or []:
            rel = str(f)
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
                continue  # console scripts (regenerated from entry_points.txt), bytecode
            if rel.split("/")[0].endswith(".dist-info") and rel.split("/")[-1] in skip:
                continue
            data = Path(str(dist.locate_file(f))).read_bytes()
            arc = rel
            zf.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            writer.writerow([arc, f"sha256={digest.decode()}", len(data)])
        writer.writerow([f"{dist_info}/RECORD", "", ""])
        zf.writestr(f"{dist_info}/RECORD", record.getvalue())
    return path


def build_wheelhouse(dest: Path) -> list[Path]:
    dest.mkdir(parents=True)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dest),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    seen: set[str] = set()
    todo = _requirements("exposure-audit")
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        dist = md.distribution(name)
        _repack(dist, dest)
        todo.extend(_requirements(name))
    return sorted(dest.iterdir())


# --- three SSH hosts -------------------------------------------------------------------


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return path.with_suffix(".pub").read_text().strip()


def _sshd_config(d: Path, addr: str, authorized: Path) -> Path:
    cfg = d / "sshd_config"
    cfg.write_text(
        f"ListenAddress {addr}\n"
        "Port 22\n"
        f"HostKey {d / 'ssh_host_ed25519_key'}\n"
        f"PidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "PrintMotd no\n"
        f"Subsystem sftp {SFTP_SERVER}\n"
    )
    return cfg


def _port_open(ctl: Netns, addr: str) -> bool:
    code = (
        "import socket, sys\n"
        "s = socket.socket(); s.settimeout(1)\n"
        f"sys.exit(s.connect_ex(({addr!r}, 22)))\n"
    )
    return ctl.run([sys.executable, "-c", code], timeout=10).returncode == 0


HOSTS = ("h1", "h2", "h3")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[dict[str, object]]:
    # ansible's SSH control sockets need a short path (sun_path is 108 bytes).
    short = Path(tempfile.mkdtemp(prefix="eaA-"))
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's compiled-in privsep dir
    client_key = tmp_path / "id_ed25519"
    _keygen(client_key)
    authorized = tmp_path / "authorized_keys"
    authorized.write_text(client_key.with_suffix(".pub").read_text())
    known = []
    names = [unique("eaA-ctl"), *(unique(f"eaA-{h}") for h in HOSTS)]
    try:
        with namespaces(*names) as (ctl, *hosts):
            addrs = {}
            for i, (h, ns) in enumerate(zip(HOSTS, hosts, strict=True), start=1):
                link(ctl, f"eaa{i}", ns, "eaa0")
                ctl.ip("addr", "add", f"10.211.{i}.1/24", "dev", f"eaa{i}")
                addr = f"10.211.{i}.2"
                ns.ip("addr", "add", f"{addr}/24", "dev", "eaa0")
                d = tmp_path / h / "sshd"
                d.mkdir(parents=True)
                pub = _keygen(d / "ssh_host_ed25519_key")
                known.append(f"{addr} {pub}")
                cfg = _sshd_config(d, addr, authorized)
                test = subprocess.run(
                    [SSHD, "-t", "-f", str(cfg)], capture_output=True, text=True, check=False
                )
                assert test.returncode == 0, test.stderr
                log = open(d / "sshd.log", "w")
                ns.popen([SSHD, "-D", "-e", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
                log.close()
                addrs[h] = addr
            for h, addr in addrs.items():
                deadline = time.monotonic() + 10
                while not _port_open(ctl, addr):
                    assert time.monotonic() < deadline, tmp_path / h / "sshd" / "sshd.log"
                    time.sleep(0.1)
            (tmp_path / "known_hosts").write_text("\n".join(known) + "\n")
            yield {"ctl": ctl, "addrs": addrs, "tmp": tmp_path, "short": short, "key": client_key}
    finally:
        shutil.rmtree(short, ignore_errors=True)


def _inventory(fleet: dict[str, object], wheelhouse: Path, fetched: Path) -> Path:
    tmp: Path = fleet["tmp"]  # type: ignore[assignment]
    addrs: dict[str, str] = fleet["addrs"]  # type: ignore[assignment]
    hosts = {}
    for h, addr in addrs.items():
        prefix = tmp / h / "opt" / "exposure-audit"
        hv: dict[str, object] = {"ansible_host": addr, "exposure_audit_prefix": str(prefix)}
        if h == "h2":  # also the Prometheus textfile
            hv["exposure_audit_textfile_dir"] = str(tmp / h / "textfile")
        if h == "h3":  # the systemd path, units into the prefix (systemd does not run here)
            hv["exposure_audit_schedule"] = "systemd"
        hosts[h] = hv
    ssh_args = (
        f"-o UserKnownHostsFile={tmp / 'known_hosts'} -o StrictHostKeyChecking=yes "
        "-o IdentitiesOnly=yes -o GlobalKnownHostsFile=/dev/null"
    )
    inv = {
        "exposure_audit": {
            "hosts": hosts,
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(fleet["key"]),
                "ansible_ssh_common_args": ssh_args,
                "ansible_python_interpreter": HOST_PYTHON,
                "ansible_remote_tmp": "{{ exposure_audit_prefix }}/../ansible-tmp",
                "exposure_audit_become": False,
                "exposure_audit_wheelhouse": str(wheelhouse),
                "exposure_audit_fetch_dir": str(fetched),
                "exposure_audit_state_dir": "{{ exposure_audit_prefix }}/state",
                "exposure_audit_cron_file": "{{ exposure_audit_prefix }}/cron.d/exposure-audit",
                "exposure_audit_systemd_unit_dir": "{{ exposure_audit_prefix }}/systemd",
            },
        }
    }
    path = tmp / "inventory.json"  # JSON is YAML: the yaml inventory plugin reads it
    path.with_suffix(".yml").write_text(json.dumps(inv, indent=1))
    return path.with_suffix(".yml")


RECAP = re.compile(
    r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


def _playbook(fleet: dict[str, object], inventory: Path, *args: str) -> dict[str, dict[str, int]]:
    ctl: Netns = fleet["ctl"]  # type: ignore[assignment]
    short: Path = fleet["short"]  # type: ignore[assignment]
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(short / "home"),
        ANSIBLE_LOCAL_TEMP=str(short / "tmp"),
        ANSIBLE_SSH_CONTROL_PATH_DIR=str(short / "cp"),
        ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_DEPRECATION_WARNINGS="0",
        ANSIBLE_FORKS="3",
        ANSIBLE_LOG_PATH=str(short / "ansible.log"),  # timestamped, for a slow or failed run
        PATH=f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    )
    t0 = time.monotonic()
    res = ctl.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(PLAYBOOK), *args],
        env=env,
        timeout=240,
        cwd=str(ANSIBLE_DIR),
    )
    print(f"ansible-playbook {' '.join(args) or '(install)'}: {time.monotonic() - t0:.1f}s")
    if os.environ.get("EA_ANSIBLE_LOG"):
        print((short / "ansible.log").read_text())
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    recap = {
        m[0]: {"ok": int(m[1]), "changed": int(m[2]), "unreachable": int(m[3]), "failed": int(m[4])}
        for m in RECAP.findall(res.stdout)
    }
    assert set(recap) == set(HOSTS), res.stdout[-3000:]
    return recap


def test_role_installs_schedules_is_idempotent_and_fetches_reports(
    fleet: dict[str, object],
) -> None:
    tmp: Path = fleet["tmp"]  # type: ignore[assignment]
    wheels = build_wheelhouse(tmp / "wheelhouse")
    names = [w.name for w in wheels]
    assert any(n.startswith("exposure_audit-") for n in names), names
    assert any(n.startswith("psutil-") for n in names), names
    fetched = tmp / "fetched"
    inventory = _inventory(fleet, tmp / "wheelhouse", fetched)

    # 1. Install and schedule, and an audit on demand (variable).
    first = _playbook(fleet, inventory, "-e", "exposure_audit_run_now=true")
    assert all(r["changed"] > 0 and r["failed"] == 0 for r in first.values()), first

    for h in HOSTS:
        prefix = tmp / h / "opt" / "exposure-audit"
        exe = prefix / "venv" / "bin" / "exposure-audit"
        assert exe.exists()
        report = json.loads((fetched / f"{h}.json").read_text())
        assert report["tool"]["name"] == "exposure-audit"
        # The report describes that host's namespace: its own veth address is there.
        addrs = json.dumps(report["facts"]) if "facts" in report else json.dumps(report)
        assert fleet["addrs"][h] in addrs, h  # type: ignore[index]
    # cron on h1, h2 (auto: no systemd here); the line runs this host's own venv, as root.
    for h in ("h1", "h2"):
        prefix = tmp / h / "opt" / "exposure-audit"
        cron = (prefix / "cron.d" / "exposure-audit").read_text()
        (line,) = [x for x in cron.splitlines() if x and not x.startswith("#")]
        fields = line.split()
        assert fields[5] == "root"
        assert f"{prefix}/venv/bin/exposure-audit run --since-last" in line
        assert f"--state-dir {prefix}/state" in line and "--no-upnp" in line
        assert not (prefix / "systemd").exists()
    assert (
        "/textfile/exposure_audit.prom"
        in (tmp / "h2" / "opt" / "exposure-audit" / "cron.d" / "exposure-audit").read_text()
    )
    # The on-demand run on h2 also wrote the textfile.
    assert (
        "exposure_audit_last_run_success 1"
        in (tmp / "h2" / "textfile" / "exposure_audit.prom").read_text()
    )
    # systemd on h3: the units the tool renders, written but (no systemd here) not enabled.
    units = tmp / "h3" / "opt" / "exposure-audit" / "systemd"
    assert sorted(p.name for p in units.iterdir()) == [
        "exposure-audit.service",
        "exposure-audit.timer",
    ]
    service = (units / "exposure-audit.service").read_text()
    assert f"ExecStart={tmp}/h3/opt/exposure-audit/venv/bin/exposure-audit run" in service
    assert "OnUnitActiveSec=3600s" in (units / "exposure-audit.timer").read_text()
    assert not (tmp / "h3" / "opt" / "exposure-audit" / "cron.d" / "exposure-audit").exists()

    # 2. Idempotent: the same install again changes nothing.
    second = _playbook(fleet, inventory)
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in second.values()), second

    # 3. On demand by tag: only the audit runs, reports come back fresh.
    for h in HOSTS:
        (fetched / f"{h}.json").unlink()
    third = _playbook(fleet, inventory, "--tags", "audit")
    for h in HOSTS:
        assert json.loads((fetched / f"{h}.json").read_text())["tool"]["name"] == "exposure-audit"
        assert third[h]["failed"] == 0
