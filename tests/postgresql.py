"""A throwaway PostgreSQL server for the tests of ``tune --storage postgresql://``: ``initdb`` into a temporary
folder, listening on a free loopback port only, trust authentication, no fsync; run as an unprivileged user when
the tests run as root (PostgreSQL refuses to start as root). Debian keeps the server binaries off PATH, in
/usr/lib/postgresql/VERSION/bin, so that is searched too. :func:`why_no_server` says why none can run here."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
SEARCHED = "/usr/lib/postgresql/*/bin"
UNPRIVILEGED_USERS = ("postgres", "nobody")
SUPERUSER = "seqlab"


def server_bin() -> Optional[Path]:
    """The folder holding initdb, pg_ctl and postgres: initdb's on PATH, else Debian's newest version."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += [Path(p) for p in sorted(glob.glob(SEARCHED), key=_version, reverse=True)]
    return next((folder for folder in candidates if all((folder / p).is_file() for p in SERVER_PROGRAMS)), None)


def run_as() -> Optional[list[str]]:
    """The command prefix that runs the server as a user PostgreSQL accepts: none needed unless root, then
    ``runuser -u USER --``; None when running as root with no runuser or no unprivileged user."""
    if os.geteuid() != 0:
        return []
    users = [name for name in UNPRIVILEGED_USERS if _user_exists(name)]
    if shutil.which("runuser") is None or not users:
        return None
    return ["runuser", "-u", users[0], "--"]


def why_no_server() -> str:
    """"" when :class:`PostgresServer` can start here, else the reason, in one line."""
    if server_bin() is None:
        return (f"no PostgreSQL server binaries ({', '.join(SERVER_PROGRAMS)}) on PATH or in {SEARCHED}: "
                "apt-get install postgresql (.ci/run does where apt-get exists)")
    if run_as() is None:
        return ("running as root, and PostgreSQL refuses root: no runuser or no unprivileged user "
                f"({' or '.join(UNPRIVILEGED_USERS)}) to start it as")
    return ""


class PostgresServer:
    """One server for a test session: :meth:`start`, :meth:`create_database` per test, :meth:`stop`."""

    def __init__(self) -> None:
        self.bin = server_bin()
        self.prefix = run_as()
        self.folder = Path(tempfile.mkdtemp(prefix="seqlab-postgres-"))  # in /tmp: the server user can enter it
        self.data = self.folder / "data"
        self.port = _free_loopback_port()

    def start(self) -> None:
        if self.prefix:  # the server's user owns its folder; root's pytest tmp_path is closed to other users
            user = pwd.getpwnam(self.prefix[2])
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-sync")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "60", "-o",
                  f"-F -p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL (plain ``postgresql://``, as a user would write it)."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def _run(self, program: str, *args: str) -> None:
        assert self.bin is not None and self.prefix is not None
        done = subprocess.run([*self.prefix, str(self.bin / program), *args], cwd=self.folder, capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr[-1000:]}{self.log()}")


def _version(folder: str) -> tuple[int, ...]:
    name = Path(folder).parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
