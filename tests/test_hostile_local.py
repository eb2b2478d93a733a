"""A hostile local user against a root run.

The attacker's steps run as ``nobody`` (``setpriv --reuid=nobody --regid=nogroup
--clear-groups``) in a sticky world-writable directory this test creates, like /tmp;
the audited run is root, replaying saved Facts (``--facts``), so it sends nothing.
Each test shows the safe outcome of one attack from the "hostile local user" issue.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from netns import cli_argv, link, namespaces, requires_netns, unique

REPO = Path(__file__).resolve().parent.parent
FIXTURE = str(REPO / "tests/fixtures/facts/upnp_home.json")
ENV = {**os.environ, "EXPOSURE_AUDIT_NO_UPNP": "1", "COLUMNS": "100", "NO_COLOR": "1"}
NOBODY = 65534

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv (the attacker runs as nobody)",
)


def as_nobody(*cmd: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    """One attacker step, as nobody:nogroup with no supplementary groups."""
    return subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd],
        check=check,
        capture_output=True,
        text=True,
        timeout=30,
        **kw,
    )


def audited(*args: str, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The root run under attack (a hang fails the test through the timeout)."""
    return subprocess.run(
        [*cli_argv(), *args],
        cwd=REPO,
        env={**ENV, **kw.pop("env", {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory like /tmp: root-owned, world-writable, sticky."""
    d = Path(tempfile.mkdtemp(prefix="ea-hostile-", dir="/tmp"))
    d.chmod(0o1777)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def private(tmp_path: Path) -> Path:
    """Root's own files (nobody cannot even traverse to them)."""
    d = tmp_path / "root-only"
    d.mkdir(mode=0o700)
    return d


def _one_error_line(res: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "internal error" not in lines[0] and "Traceback" not in res.stderr
    return lines[0]


# --------------------------------------------------------------------------- state directory


def test_state_dir_through_attackers_symlink_is_refused(shared: Path, private: Path) -> None:
    """The attacker links shared/state to a root directory holding a file named ``lock``:
    before, root truncated that file and created reports/ in it."""
    victim = private / "victim"
    victim.mkdir(mode=0o700)
    (victim / "lock").write_text("precious\n")
    os.chmod(private, 0o711)  # the link must be resolvable (as it would be for /etc)
    as_nobody("ln", "-s", str(victim), str(shared / "state"))
    res = audited(
        "run", "--facts", FIXTURE, "--since-last", "--state-dir", str(shared / "state"), "-q"
    )
    assert res.returncode == 2, res.stderr
    line = _one_error_line(res)
    assert "symlink owned by uid 65534" in line
    assert (victim / "lock").read_text() == "precious\n"
    assert sorted(os.listdir(victim)) == ["lock"]


def test_state_dir_under_another_users_directory_is_refused(shared: Path, private: Path) -> None:
    """A state directory below a directory nobody owns: nobody could swap it later."""
    as_nobody("mkdir", "-m", "0755", str(shared / "home"))
    res = audited(
        "run",
        "--facts",
        FIXTURE,
        "--since-last",
        "--state-dir",
        str(shared / "home" / "state"),
        "-q",
    )
    assert res.returncode == 2, res.stderr
    assert "belongs to uid 65534" in _one_error_line(res)
    assert os.listdir(shared / "home") == []


def test_state_dir_in_sticky_tmp_owned_by_root_is_fine(shared: Path) -> None:
    state = shared / "mystate"
    res = audited("run", "--facts", FIXTURE, "--since-last", "--state-dir", str(state), "-q")
    assert res.returncode in (0, 1), res.stderr
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert len(os.listdir(state / "reports")) == 1


# --------------------------------------------------------------------------- templates


def test_template_include_of_a_symlink_is_refused(shared: Path, private: Path) -> None:
    """The attacker's template includes a link to a root-only file."""
    secret = private / "shadow"
    secret.write_text("root:SECRET-HASH:19000::::::\n")
    tpl = shared / "tpl"
    as_nobody("mkdir", str(tpl))
    as_nobody("ln", "-s", str(secret), str(tpl / "leak.txt"))
    as_nobody(
        "sh", "-c", f"printf '%s\\n' '{{% include \"leak.txt\" %}}' > {tpl / 'report.txt.j2'}"
    )
    res = audited("run", "--facts", FIXTURE, "--template", f"terminal={tpl / 'report.txt.j2'}")
    assert res.returncode == 2, res.stderr
    assert "symbolic link" in _one_error_line(res)
    assert "SECRET" not in res.stdout + res.stderr
    # An include of a regular file beside the template still works.
    as_nobody("rm", str(tpl / "leak.txt"))
    as_nobody("sh", "-c", f"echo 'included {{{{ report.findings|length }}}}' > {tpl / 'leak.txt'}")
    res = audited("run", "--facts", FIXTURE, "--template", f"terminal={tpl / 'report.txt.j2'}")
    assert res.returncode in (0, 1), res.stderr
    assert res.stdout.startswith("included ")


def test_template_include_cannot_leave_its_directory(shared: Path, private: Path) -> None:
    (private / "secret.txt").write_text("SECRET\n")
    tpl = shared / "tpl"
    as_nobody("mkdir", str(tpl))
    as_nobody("ln", "-s", str(private), str(tpl / "up"))
    as_nobody(
        "sh",
        "-c",
        f"printf '%s\\n' '{{% include \"up/secret.txt\" %}}' > {tpl / 'report.txt.j2'}",
    )
    res = audited("run", "--facts", FIXTURE, "--template", f"terminal={tpl / 'report.txt.j2'}")
    assert res.returncode == 2, res.stderr
    _one_error_line(res)
    assert "SECRET" not in res.stdout + res.stderr
    for name in ("../secret.txt", "/etc/hostname"):
        (private / "t.j2").write_text(f'{{% include "{name}" %}}')
        res = audited("run", "--facts", FIXTURE, "--template", f"terminal={private / 't.j2'}")
        assert res.returncode == 2, res.stderr


def test_template_that_is_a_fifo_does_not_hang(shared: Path) -> None:
    as_nobody("mkfifo", str(shared / "t.txt.j2"))
    res = audited("run", "--facts", FIXTURE, "--template", f"terminal={shared / 't.txt.j2'}")
    assert res.returncode == 2, res.stderr
    assert "not a regular file" in _one_error_line(res)


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


# --------------------------------------------------------------------------- -o outputs


def test_output_through_symlink_to_fifo_without_reader_does_not_hang(
    shared: Path, tmp_path: Path
) -> None:
    """Before: root opened the FIFO and blocked forever, holding the state lock."""
    as_nobody("mkfifo", str(shared / "fifo"))
    as_nobody("ln", "-s", str(shared / "fifo"), str(shared / "report.json"))
    state = tmp_path / "state"
    res = audited(
        "run", "--facts", FIXTURE, "-o", str(shared / "report.json"), "--state-dir", str(state),
        "-q", timeout=30,
    )  # fmt: skip
    assert res.returncode in (0, 1), res.stderr
    # The link was replaced by root's own report; the FIFO got nothing.
    st = os.lstat(shared / "report.json")
    assert stat.S_ISREG(st.st_mode) and st.st_uid == 0
    assert _json(shared / "report.json")["schema_version"]
    assert stat.S_ISFIFO(os.lstat(shared / "fifo").st_mode)


def test_output_through_symlink_to_fifo_with_a_reader_sends_it_nothing(shared: Path) -> None:
    """Before: the attacker's reader received the whole report."""
    as_nobody("mkfifo", str(shared / "fifo"))
    as_nobody("ln", "-s", str(shared / "fifo"), str(shared / "report.json"))
    reader = subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "sh", "-c",
         f"cat {shared / 'fifo'} > {shared / 'stolen'}"],
    )  # fmt: skip
    try:
        res = audited("run", "--facts", FIXTURE, "-o", str(shared / "report.json"), "-q")
        assert res.returncode in (0, 1), res.stderr
    finally:
        # Unblock the reader (as root, O_RDWR never waits) and reap it.
        fd = os.open(shared / "fifo", os.O_RDWR | os.O_NONBLOCK)
        os.close(fd)
        reader.wait(timeout=10)
    assert (shared / "stolen").read_text() == ""
    assert stat.S_ISREG(os.lstat(shared / "report.json").st_mode)


def test_attackers_own_fifo_at_the_output_path_is_refused(shared: Path) -> None:
    as_nobody("mkfifo", "-m", "0666", str(shared / "report.json"))
    res = audited("run", "--facts", FIXTURE, "-o", str(shared / "report.json"), "-q", timeout=30)
    assert res.returncode == 2, res.stderr
    assert "FIFO owned by uid 65534" in _one_error_line(res)


def test_output_under_dev_through_a_planted_link_replaces_the_link(private: Path) -> None:
    """/dev/shm is world-writable: before, any path under /dev/ was written in place,
    following links, so root overwrote the link's target (here a root-only file)."""
    if not os.path.isdir("/dev/shm") or not os.stat("/dev/shm").st_mode & 0o002:
        pytest.skip("no world-writable /dev/shm")
    victim = private / "victim"
    victim.write_text("precious\n")
    os.chmod(private, 0o711)
    link = Path(tempfile.mktemp(prefix="ea-hostile-", suffix=".json", dir="/dev/shm"))
    try:
        as_nobody("ln", "-s", str(victim), str(link))
        res = audited("run", "--facts", FIXTURE, "-o", str(link), "-q")
        assert res.returncode in (0, 1), res.stderr
        assert victim.read_text() == "precious\n"
        assert stat.S_ISREG(os.lstat(link).st_mode)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(link)


def test_output_through_link_to_a_device_replaces_the_link(shared: Path) -> None:
    as_nobody("ln", "-s", "/dev/null", str(shared / "report.json"))
    res = audited("run", "--facts", FIXTURE, "-o", str(shared / "report.json"), "-q")
    assert res.returncode in (0, 1), res.stderr
    assert stat.S_ISREG(os.lstat(shared / "report.json").st_mode)
    assert os.path.exists("/dev/null") and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_named_special_files_still_work(tmp_path: Path) -> None:
    res = audited("run", "--facts", FIXTURE, "-f", "json", "-o", "/dev/stdout")
    assert res.returncode in (0, 1), res.stderr
    assert json.loads(res.stdout)["schema_version"]
    res = audited("run", "--facts", FIXTURE, "-f", "json", "-o", "/dev/null", "-q")
    assert res.returncode in (0, 1), res.stderr
    # root's own FIFO, named directly, with a reader: written in place.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    res = audited("run", "--facts", FIXTURE, "-f", "json", "-o", str(fifo))
    out, _ = reader.communicate(timeout=30)
    assert res.returncode in (0, 1), res.stderr
    assert json.loads(out)["schema_version"]


# --------------------------------------------------------------------------- SSDP hijack


@requires_netns
def test_local_user_answering_ssdp_cannot_hide_the_routers_mappings(shared: Path) -> None:
    """nobody answers SSDP on this host's own address with a fake gateway that lists no
    mappings. Before: the first usable answer won (the local one, over loopback), the
    router's mapping vanished from the report without a word. Now: the local answer is
    refused (only --igd may name a gateway on this host), the default gateway is used,
    and the report says so. All inside a namespace pair of this test's own."""
    tag = unique("eaH")
    with namespaces(f"{tag}-a", f"{tag}-r") as (aud, router):
        link(aud, "aud0", router, "rtr0")
        aud.ip("addr", "add", "10.99.0.1/24", "dev", "aud0")
        router.ip("addr", "add", "10.99.0.2/24", "dev", "rtr0")
        for ns, ifname in ((aud, "aud0"), (router, "rtr0")):
            ns.ip("route", "add", "224.0.0.0/4", "dev", ifname)
        aud.ip("route", "add", "default", "via", "10.99.0.2")
        igd = [sys.executable, str(REPO / "tests" / "hostile_igd.py"), "--ssdp"]
        real = router.popen(
            [*igd, "--bind", "10.99.0.2", "--ssdp-source", "10.99.0.2", "--mappings", "1"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        fake = aud.popen(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             *igd, "--bind", "10.99.0.1", "--port", "5001", "--ssdp-source", "10.99.0.1",
             "--mappings", "0", "--log", str(shared / "fake.log")],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        for proc in (real, fake):
            assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        env = {k: v for k, v in ENV.items() if k != "EXPOSURE_AUDIT_NO_UPNP"}
        res = aud.run(
            [*cli_argv(), "run", "--no-firewall", "--upnp-timeout", "1", "-f", "json", "-o", "-"],
            env=env, cwd=str(REPO),
        )  # fmt: skip
        assert res.returncode in (0, 1), res.stderr
        report = json.loads(res.stdout)
        upnp = report["facts"]["upnp"]
        assert upnp["status"] == "ok", upnp
        assert [m["external_port"] for m in upnp["mappings"]] == [1000]
        assert "gateway 10.99.0.2 used: this host's default gateway" in upnp["message"]
        warnings = "\n".join(w["message"] for w in report["facts"]["warnings"])
        assert "from 10.99.0.1" in warnings and "this host's own address" in warnings
        # The fake saw the M-SEARCH (the test proves something) but was never fetched.
        log = (shared / "fake.log").read_text().splitlines()
        assert any('"ssdp"' in line for line in log)
        assert not any('"method"' in line for line in log)


# --------------------------------------------------------------------------- --since-last


@requires_netns
def test_new_udp_listener_on_an_ephemeral_port_shows_in_since_last(tmp_path: Path) -> None:
    """nobody opens a LAN-reachable UDP socket on a high port (no rule fires on it).
    Before: --since-last skipped every UDP port >= 32768, so it never showed."""
    tag = unique("eaE")
    with namespaces(f"{tag}-a", f"{tag}-p") as (aud, peer):
        link(aud, "aud0", peer, "peer0")
        aud.ip("addr", "add", "10.99.0.1/24", "dev", "aud0")
        argv = [*cli_argv(), "run", "--no-upnp", "--no-firewall", "--since-last",
                "--state-dir", str(tmp_path / "state")]  # fmt: skip
        first = aud.run(argv, env=ENV, cwd=str(REPO))
        assert first.returncode in (0, 1), first.stderr
        backdoor = aud.popen(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             sys.executable, "-c",
             "import socket, time, sys\n"
             "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
             "s.bind(('0.0.0.0', 45678)); print('READY', flush=True); time.sleep(60)"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert backdoor.stdout is not None and backdoor.stdout.readline().strip() == "READY"
        second = aud.run(argv, env=ENV, cwd=str(REPO))
        assert second.returncode in (0, 1), second.stderr
        assert "appeared" in second.stdout and "udp/0.0.0.0/32768-65535 (python" in second.stdout


# --------------------------------------------------------------------------- waivers


@requires_netns
def test_process_renamed_controlcenter_is_not_waived(tmp_path: Path) -> None:
    """nobody runs a server on port 5000 and renames it ControlCenter with prctl. Before:
    the built-in macOS AirPlay waiver (rule "*", process "ControlCe*") applied on Linux
    and hid it. Now built-in waivers key on the OS and the executable's path."""
    tag = unique("eaW")
    with namespaces(f"{tag}-a", f"{tag}-p") as (aud, peer):
        link(aud, "aud0", peer, "peer0")
        aud.ip("addr", "add", "10.99.0.1/24", "dev", "aud0")
        server = aud.popen(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             sys.executable, "-c",
             "import ctypes, socket, time\n"
             "ctypes.CDLL(None).prctl(15, b'ControlCenter', 0, 0, 0)\n"
             "s = socket.socket(); s.bind(('0.0.0.0', 5000)); s.listen()\n"
             "print('READY', flush=True); time.sleep(60)"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert server.stdout is not None and server.stdout.readline().strip() == "READY"
        res = aud.run(
            [*cli_argv(), "run", "--no-upnp", "--no-firewall", "-f", "json", "-o", "-"],
            env={**ENV, "XDG_CONFIG_HOME": str(tmp_path)}, cwd=str(REPO),
        )  # fmt: skip
        assert res.returncode in (0, 1), res.stderr
        report = json.loads(res.stdout)
        on_5000 = [
            f for f in report["findings"]
            if f.get("exposure_id", "").endswith("/5000") or ":5000" in f.get("message", "")
        ]  # fmt: skip
        assert on_5000, [f["rule_id"] for f in report["findings"]]
        assert not any(f["waived"] for f in on_5000), on_5000
        assert any("ControlCenter" in f["message"] for f in on_5000)


# --------------------------------------------------------------------------- inputs


def test_inputs_through_a_link_planted_in_tmp_are_refused(shared: Path, private: Path) -> None:
    """root names /tmp/x as its template or Facts; nobody made /tmp/x a link to a
    root-only file: the kernel's protected_symlinks rule, applied even when it is off."""
    secret = private / "secret"
    secret.write_text('{"secret": "SECRET"}\n')
    os.chmod(private, 0o711)
    as_nobody("ln", "-s", str(secret), str(shared / "t.txt.j2"))
    as_nobody("ln", "-s", str(secret), str(shared / "facts.json"))
    res = audited("run", "--facts", FIXTURE, "--template", f"terminal={shared / 't.txt.j2'}")
    assert res.returncode == 2 and "SECRET" not in res.stdout + res.stderr, res.stderr
    assert "symlink owned by uid 65534" in _one_error_line(res)
    res = audited("run", "--facts", str(shared / "facts.json"))
    assert res.returncode == 2 and "symlink owned by uid 65534" in _one_error_line(res)
    # root's own link there is followed as before.
    os.unlink(shared / "facts.json")
    os.symlink(FIXTURE, shared / "facts.json")
    res = audited("run", "--facts", str(shared / "facts.json"), "-q")
    assert res.returncode in (0, 1), res.stderr
