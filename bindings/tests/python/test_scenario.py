"""The phone library from Python, through the generated uniffi module, against a running
`taskforce serve` (started by ops/foreign-tests.sh, which sets the environment below).

Two devices of one unit sign in, go offline, each edits the same task and others, one records
a hotline-free confirmation, the other a status report, both sync; both then hold the same
state, the conflict is listed on both, and the server's progress for that clause has moved.
"""

import json
import os
import sys
import time
import urllib.request

import pytest

sys.path.insert(0, os.environ["TASKFORCE_PY_BINDINGS"])
import taskforce_bindings as tf  # noqa: E402

SERVER = os.environ["TASKFORCE_SERVER"]
UNIT = os.environ["TASKFORCE_UNIT"]
PREFIX = os.environ["TASKFORCE_USER_PREFIX"]
PASSWORD = os.environ["TASKFORCE_PASSWORD"]
OBSERVER = os.environ["TASKFORCE_OBSERVER"]


def http(method, path, token=None, body=None):
    req = urllib.request.Request(SERVER + path, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, data) as resp:
        return json.loads(resp.read() or b"null")


class Counter(tf.ChangeListener):
    def __init__(self):
        self.events = []

    def on_change(self, what):
        self.events.append(what)


@pytest.fixture()
def phones(tmp_path):
    a = tf.TaskforceClient.open(str(tmp_path / "a.db"))
    b = tf.TaskforceClient.open(str(tmp_path / "b.db"))
    a.login(SERVER, PREFIX + ".a", PASSWORD, "Python phone A", None)
    b.login(SERVER, PREFIX + ".b", PASSWORD, "Python phone B", None)
    return a, b


def test_two_devices_offline_then_sync(phones):
    a, b = phones
    seen = Counter()
    a.add_listener(seen)
    assert a.unit() == UNIT
    tasks = a.tasks()
    assert len(tasks) >= 2
    same, other = tasks[0], tasks[1]
    assert same.clause_text, "each task carries its clause's text"
    now = int(time.time())

    # Offline on both phones.
    a.set_status(same.id, "done")
    a.set_progress(other.id, 50)
    confirmation = a.record_confirmation("viettel", "19009095", "2020-02-03", "Nguyễn Văn A", now)
    b.set_status(same.id, "blocked")
    b.set_notes(other.id, "Chờ số liệu từ các nhà mạng")
    b.submit_report("2020-W06", "Đã nhắn tin đến 120 triệu thuê bao", [tf.Figure(name="sms_sent", value=120_000_000)], now)
    assert a.unsynced() == 3 and b.unsynced() == 3
    assert "edit" in seen.events

    a.sync()
    b.sync()
    report = a.sync()
    assert report.pulled == 3
    assert a.unsynced() == 0 and b.unsynced() == 0
    assert "sync" in seen.events

    assert a.state_fingerprint() == b.state_fingerprint()
    for phone in (a, b):
        conflicts = phone.conflicts()
        assert [(c.task, c.field) for c in conflicts] == [(same.id, "status")]
        assert sorted(conflicts[0].values) == ["blocked", "done"]
        assert [c.id for c in phone.confirmations()] == [confirmation]
        assert [r.figures[0].value for r in phone.reports()] == [120_000_000]
    assert a.compliance(None).blocked >= 1

    # The server's progress for that clause moved.
    token = http("POST", "/api/v1/auth/login", body={"username": OBSERVER, "password": PASSWORD})["token"]
    progress = http("GET", f"/api/v1/units/{UNIT}/progress?directive=5-ct-btttt", token)
    row = next(t for t in progress["tasks"] if t["clause"] == same.clause)
    assert row["status"] == "blocked" and row["conflicted"] is True
    assert next(t for t in progress["tasks"] if t["clause"] == other.clause)["progress"] == 50

    # Resolved on one phone, resolved everywhere.
    a.resolve_conflict(same.id, "status", "done")
    a.sync()
    b.sync()
    assert a.conflicts() == [] and b.conflicts() == []
    assert [t.status for t in b.tasks() if t.id == same.id] == ["done"]


def test_bad_input_is_refused_with_a_typed_error(phones):
    a, _ = phones
    task = a.tasks()[0].id
    with pytest.raises(tf.TaskforceError.InvalidInput):
        a.set_progress(task, 101)
    with pytest.raises(tf.TaskforceError.InvalidInput):
        a.set_status("a99999", "done")
    with pytest.raises(tf.TaskforceError.InvalidInput):
        a.set_due(task, "tomorrow")
    assert a.unsynced() == 0


def test_wrong_password_is_unauthorised(tmp_path):
    c = tf.TaskforceClient.open(str(tmp_path / "c.db"))
    with pytest.raises(tf.TaskforceError.Unauthorized):
        c.login(SERVER, PREFIX + ".a", "not the password", "phone", None)
    assert not c.is_logged_in()
