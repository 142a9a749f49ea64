"""The IMAP poller against a real Dovecot started on loopback for the test.

Outside CI the tests skip when Dovecot (Debian package dovecot-imapd) is not installed; under
CI (`CI=true`, where `.ci/run` installs it) a missing Dovecot fails them instead.
"""

from __future__ import annotations

import grp
import imaplib
import io
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django import Settings

from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.tests.mailutil import build_message

pytestmark = pytest.mark.django_db

DOVECOT = Path("/usr/sbin/dovecot")
USER = "leads@example.com"
PASSWORD = "imap-secret"


@dataclass
class Imap:
    host: str
    port: int

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(USER, PASSWORD)
        client.select("INBOX")
        return client

    def append(self, raw: bytes) -> None:
        client = self.client()
        status, data = client.append("INBOX", "", None, raw)
        assert status == "OK", data
        client.logout()

    def flags(self) -> list[str]:
        """Each message's flags, in mailbox order."""
        client = self.client()
        status, data = client.fetch("1:*", "(FLAGS)")
        client.logout()
        assert status == "OK", data
        return [item.decode() for item in data if isinstance(item, bytes)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(root: Path, port: int, uid: int, gid: int) -> str:
    if os.geteuid() == 0:
        # Dovecot's own unprivileged users run the login and internal processes.
        users = ""
    else:
        # Not root: every Dovecot process runs as the current user.
        user = pwd.getpwuid(uid).pw_name
        group = grp.getgrgid(gid).gr_name
        users = (
            f"default_internal_user = {user}\ndefault_internal_group = {group}\n"
            f"default_login_user = {user}\n"
        )
    return f"""
base_dir = {root}/run
state_dir = {root}/state
instance_name = conveyor-test-{port}
{users}listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
log_path = {root}/dovecot.log
mail_location = maildir:{root}/mail/%n
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%n
}}
# No chroot: only root may chroot, and a throwaway test server gains nothing from it.
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


@pytest.fixture
def imap_server(tmp_path: Path) -> Iterator[Imap]:
    if not DOVECOT.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{DOVECOT} is missing under CI: .ci/run installs dovecot-imapd")
        pytest.skip(
            f"IMAP intake test skipped: {DOVECOT} is missing (apt-get install dovecot-imapd)"
        )
    if os.geteuid() == 0:
        # Dovecot refuses mail access as root, so the mailbox belongs to `nobody`, who cannot
        # enter pytest's private tmp_path: the server gets its own world-readable folder.
        root = Path(tempfile.mkdtemp(prefix="conveyor-dovecot-"))
        root.chmod(0o755)
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        (root / "mail").mkdir()
        os.chown(root / "mail", uid, gid)
    else:
        root = tmp_path / "dovecot"
        (root / "mail").mkdir(parents=True)
        uid, gid = os.getuid(), os.getgid()
    port = _free_port()
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (root / "dovecot.conf").write_text(_config(root, port, uid, gid))
    process = subprocess.Popen(
        [str(DOVECOT), "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    log = root / "dovecot.log"
                    detail = log.read_text() if log.exists() else ""
                    pytest.fail(f"Dovecot did not start: {output}\n{detail}")
                time.sleep(0.1)
        yield Imap(host="127.0.0.1", port=port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
        if os.geteuid() == 0:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def imap_settings(settings: Settings, imap_server: Imap, tmp_path: Path) -> Imap:
    settings.CONVEYOR_IMAP_HOST = imap_server.host
    settings.CONVEYOR_IMAP_PORT = imap_server.port
    settings.CONVEYOR_IMAP_USER = USER
    settings.CONVEYOR_IMAP_PASSWORD = PASSWORD
    settings.CONVEYOR_IMAP_MAILBOX = "INBOX"
    settings.CONVEYOR_IMAP_SSL = False
    settings.MEDIA_ROOT = tmp_path / "media"
    return imap_server


def _run() -> str:
    out = io.StringIO()
    call_command("intake-mail", stdout=out)
    return out.getvalue()


def test_unseen_message_becomes_a_lead_and_is_marked_seen(
    imap_settings: Imap, tmp_path: Path
) -> None:
    imap_settings.append(build_message(attachments=[("brief.txt", b"20 desks", "text/plain")]))
    assert "\\Seen" not in imap_settings.flags()[0]

    assert _run().strip() == "recorded 1, left unseen 0"

    lead = Lead.objects.get()
    assert lead.channel == LeadChannel.EMAIL
    assert (lead.name, lead.email) == ("Ana Petrova", "ana@example.org")
    assert lead.payload["subject"] == "Quote for 20 desks"
    [attachment] = lead.payload["attachments"]
    assert (tmp_path / "media" / attachment["path"]).read_bytes() == b"20 desks"
    assert "\\Seen" in imap_settings.flags()[0]

    # A second pass finds nothing new.
    assert _run().strip() == "recorded 0, left unseen 0"
    assert Lead.objects.count() == 1


def test_message_seen_again_after_being_unflagged_is_still_one_lead(imap_settings: Imap) -> None:
    imap_settings.append(build_message())
    _run()
    client = imap_settings.client()
    client.store("1", "-FLAGS", "(\\Seen)")
    client.logout()
    assert _run().strip() == "recorded 1, left unseen 0"
    assert Lead.objects.count() == 1
    assert "\\Seen" in imap_settings.flags()[0]


def test_message_without_a_sender_is_left_unseen(imap_settings: Imap) -> None:
    imap_settings.append(build_message(sender="", message_id="<anon@example.org>"))
    imap_settings.append(build_message(message_id="<good@example.org>"))

    assert _run().strip() == "recorded 1, left unseen 1"

    assert Lead.objects.get().idempotency_key == "email:good@example.org"
    first, second = imap_settings.flags()
    assert "\\Seen" not in first
    assert "\\Seen" in second


def test_wrong_password_fails_the_command(imap_settings: Imap, settings: Settings) -> None:
    settings.CONVEYOR_IMAP_PASSWORD = "wrong"
    with pytest.raises(CommandError, match="IMAP"):
        _run()


def test_mail_from_an_erased_persons_address_is_marked_seen_and_not_recorded(
    imap_settings: Imap,
) -> None:
    from conveyor.people.services import person_erase
    from conveyor.testing.factories import PersonFactory

    person = PersonFactory(email="ana@example.org")
    person_erase(person_id=person.pk, by=None)
    imap_settings.append(build_message())
    assert _run().strip() == "recorded 0, left unseen 0"
    assert not Lead.objects.exists()
    assert "\\Seen" in imap_settings.flags()[0]
