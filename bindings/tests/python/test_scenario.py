"""The phone library from Python, through the generated uniffi module, against a running
`taskforce serve` (started by ops/foreign-tests.sh, which sets the environment below).

Two devices of one unit sign in, go offline, each edits the same task and others, one records
a hotline-free confirmation, the other a status report, both sync; both then hold the same
state, the conflict is listed on both, and the server's progress for that clause has moved.

Then the Ministry Office acts over the HTTP API while the phone is offline (it does not sync):
it returns a task reported done and urges the unit on it with a new deadline; the phone syncs,
shows both, reports the task done again; the office accepts it; the phone shows it accepted and
locked, and refuses an edit to it.

Last, a second directive is published (by TASKFORCE_PUBLISH) while the phone is offline with an
edit of 05/CT-BTTTT queued: the phone syncs, lists it, selects it, edits one of its tasks, syncs;
the other phone sees the edit, and the 05/CT-BTTTT work is intact. Then a corrected text of
it is published as a revision while the phone is offline with an edit of a task the revision
withdraws: the edit is kept on the withdrawn task, and the new clause is a new task.
"""

import datetime
import json
import os
import subprocess
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


def office_token():
    return http("POST", "/api/v1/auth/login", body={"username": OBSERVER, "password": PASSWORD})["token"]


def office_act(token, action, task, **fields):
    body = {"directive": "5-ct-btttt", "action": action, "unit": UNIT, "task": task, **fields}
    answer = http("POST", "/api/v1/office/actions", token, body)
    assert [(a["unit"], a["task"]) for a in answer["applied"]] == [(UNIT, task)], answer
    assert answer["skipped"] == [], answer
    return answer


def test_office_returns_urges_then_accepts_while_the_phone_is_offline(phones):
    a, b = phones
    # A task the other tests leave alone.
    tasks = a.tasks()
    assert len(tasks) >= 3
    task = tasks[2]
    assert task.clause and task.review == "open" and not task.locked

    a.set_status(task.id, "done")
    a.sync()
    assert [t.review for t in a.tasks() if t.id == task.id] == ["reported"]

    # The phone is offline from here: it does not sync while the office acts.
    today = datetime.datetime.now(datetime.timezone.utc).date()
    deadline = (today + datetime.timedelta(days=14)).isoformat()
    overdue = (today + datetime.timedelta(days=15)).isoformat()
    reason = "Thiếu biên bản kiểm tra / the inspection record is missing"
    message = "Đề nghị hoàn thành trước hạn mới / please finish by the new deadline"
    token = office_token()
    office_act(token, "return", task.id, text=reason)
    office_act(token, "urge", task.id, text=message, due=deadline)
    held = next(t for t in a.tasks() if t.id == task.id)
    assert held.review == "reported" and held.urges == 0 and a.unread_notices() == 0

    a.sync()
    held = next(t for t in a.tasks() if t.id == task.id)
    assert held.review == "returned"
    assert held.review_reason == reason
    assert held.deadline == deadline and held.urges == 1 and not held.locked
    notices = a.notices()
    urges = [n for n in notices if n.kind == "urge"]
    assert [(n.task, n.message, n.due) for n in urges] == [(task.id, message, deadline)]
    assert [(n.task, n.message) for n in notices if n.kind == "returned"] == [(task.id, reason)]
    assert all(n.unread for n in notices) and a.unread_notices() == 2
    due = a.due_between(today.isoformat(), (today + datetime.timedelta(days=30)).isoformat())
    assert [(d.kind, d.date) for d in due if d.task == task.id] == [("due", deadline), ("overdue", overdue)]

    a.mark_notices_read()
    assert a.unread_notices() == 0 and not any(n.unread for n in a.notices())

    a.set_status(task.id, "done")
    a.sync()
    assert [t.review for t in a.tasks() if t.id == task.id] == ["reported"]
    office_act(token, "accept", task.id, text="Đạt yêu cầu / meets the requirement")

    for phone in (a, b):
        phone.sync()
        held = next(t for t in phone.tasks() if t.id == task.id)
        assert held.review == "accepted" and held.locked, phone
        assert "accepted" in [n.kind for n in phone.notices()]
        with pytest.raises(tf.TaskforceError.Locked):
            phone.set_status(task.id, "in_progress")
        with pytest.raises(tf.TaskforceError.Locked):
            phone.set_notes(task.id, "Sửa sau nghiệm thu")
        assert phone.unsynced() == 0
    assert a.state_fingerprint() == b.state_fingerprint()
    # Accepted work is nothing to remind of.
    due = a.due_between(today.isoformat(), (today + datetime.timedelta(days=30)).isoformat())
    assert [d for d in due if d.task == task.id] == []


FIRST = "5-ct-btttt"


def test_a_directive_published_while_the_phone_is_offline(phones):
    a, b = phones
    second = os.environ["TASKFORCE_SECOND_ID"]
    assert [d.id for d in a.directives()] == [FIRST]
    assert a.active_directive() == FIRST
    work = a.tasks()[-1]
    assert work.directive == FIRST and not work.locked
    a.set_progress(work.id, 35)

    # Offline: the Ministry Office publishes a second directive.
    subprocess.run([os.environ["TASKFORCE_PUBLISH"], os.environ["TASKFORCE_SECOND_TEXT"], second], check=True)
    a.sync()
    assert a.unsynced() == 0, "the queued 05 edit went up with the same sync"
    listed = a.directives()
    assert [d.id for d in listed] == [FIRST, second], "oldest first"
    assert listed[1].number == "07/CT-BTTTT" and listed[1].tasks >= 1 and not listed[1].active
    assert a.active_directive() == FIRST, "05/CT-BTTTT stays active until another is selected"

    a.select_directive(second)
    tasks = a.tasks()
    assert tasks and all(t.directive == second for t in tasks)
    assert all(t.clause_text for t in tasks), "with their clause text"
    a.set_status(tasks[0].id, "in_progress")
    a.sync()
    assert a.unsynced() == 0
    progress = http("GET", f"/api/v1/units/{UNIT}/progress?directive={second}", office_token())
    assert [t["status"] for t in progress["tasks"] if t["clause"] == tasks[0].clause] == ["in_progress"]

    b.sync()
    assert [d.id for d in b.directives()] == [FIRST, second], "the other phone follows it too"
    b.select_directive(second)
    assert [t.status for t in b.tasks() if t.id == tasks[0].id] == ["in_progress"]
    with pytest.raises(tf.TaskforceError.InvalidInput):
        b.select_directive("99-ct-none")

    # Back on 05/CT-BTTTT: its work is intact, on both phones.
    a.select_directive(FIRST)
    b.select_directive(FIRST)
    for phone in (a, b):
        assert [t.progress for t in phone.tasks() if t.id == work.id] == [35]


def test_a_revision_published_while_the_phone_is_offline(phones, tmp_path):
    """After the test above: a corrected text of the second directive is published by the
    command line (as the Ministry Office's account) while the phone is offline with an edit
    of the task it withdraws. The phone syncs: the edit is kept on the withdrawn task (shown
    with its work, no longer edited, out of the counts), and the new clause is a new task with
    its words (decision 44)."""
    a, b = phones
    second = os.environ["TASKFORCE_SECOND_ID"]
    a.sync()
    a.select_directive(second)
    before = a.tasks()
    withdrawn_clause = "II.2-2"
    [target] = [t for t in before if t.clause == withdrawn_clause]
    [kept] = [t for t in before if t.clause == "II.1-1"]
    a.set_notes(target.id, "Đã nhận 12 phản ánh.")

    text = open(os.environ["TASKFORCE_SECOND_TEXT"], encoding="utf-8").read()
    was = "Tổng hợp phản ánh, chuyển Cục An toàn thông tin xử lý."
    new_clause = "4. Cục An toàn thông tin\n\nBáo cáo Bộ trưởng kết quả giám sát tin giả hằng tháng."
    assert was in text
    corrected = text.replace(was, "Tổng hợp phản ánh, chuyển cơ quan chức năng xử lý.")
    corrected = corrected.replace(
        "Nhắn tin cảnh báo tin giả đến các thuê bao theo đề nghị của Cục Viễn thông.",
        "Nhắn tin cảnh báo tin giả đến các thuê bao theo đề nghị của Cục Viễn thông.\n\n" + new_clause,
    )
    path = tmp_path / "corrected.txt"
    path.write_text(corrected, encoding="utf-8")
    subprocess.run([os.environ["TASKFORCE_PUBLISH"], str(path), second], check=True)

    a.sync()
    assert a.unsynced() == 0, "the offline edit went up"
    tasks = a.tasks()
    [gone] = [t for t in tasks if t.clause == withdrawn_clause]
    assert gone.withdrawn and gone.notes == ["Đã nhận 12 phản ánh."], gone
    with pytest.raises(tf.TaskforceError.InvalidInput):
        a.set_status(gone.id, "done")
    [added] = [t for t in tasks if t.clause == "II.4"]
    assert not added.withdrawn and added.role == "lead" and added.id.startswith("r")
    assert "giám sát tin giả hằng tháng" in (added.clause_text or "")
    assert [(t.id, t.status) for t in tasks if t.clause == "II.1-1"] == [(kept.id, kept.status)]
    a.set_status(added.id, "in_progress")
    a.sync()
    progress = http("GET", f"/api/v1/units/{UNIT}/progress?directive={second}", office_token())
    clauses = sorted(t["clause"] for t in progress["tasks"] if t["clause"])
    assert withdrawn_clause not in clauses and "II.4" in clauses, clauses
    assert [t["status"] for t in progress["tasks"] if t["clause"] == "II.4"] == ["in_progress"]
    b.sync()
    b.select_directive(second)
    assert [t.withdrawn for t in b.tasks() if t.id == gone.id] == [True], "the other phone too"
    a.select_directive(FIRST)
    b.select_directive(FIRST)
