"""The dashboard in a real browser (Debian's Chromium, headless, through chromedriver),
against a running `taskforce serve` (ops/foreign-tests.sh sets the environment).

A phone of Cục Viễn thông marks the SMS clause done through the generated bindings; the
Ministry Office signs in, sees the matrix, opens the clause, switches to English and downloads
the XLSX, which openpyxl opens and which holds the API's figures. A unit member is refused the
other units' pages. The Ministry Office then acts from the pages (issue 20): it returns a task
the phone reported done, with a reason, and urges the unit with a new deadline; the phone
syncs and shows both; the phone marks it done again; the office accepts it in the browser and
the matrix cell shows it accepted. Screenshots go to artifacts/screenshots/.
"""

import datetime
import os
import sys
import time

import openpyxl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browser_pages import (
    OBSERVER,
    PASSWORD,
    SERVER,
    SHOTS,
    api,
    confirmation,
    policy_violations,
    sign_in,
    submit,
    token_of,
    wait_text,
)

sys.path.insert(0, os.environ["TASKFORCE_PY_BINDINGS"])
import taskforce_bindings as tf  # noqa: E402

MEMBER = os.environ["TASKFORCE_DASH_MEMBER"]


@pytest.fixture(scope="module")
def member_phone(tmp_path_factory):
    """A phone of Cục Viễn thông (the generated bindings over a store of its own)."""
    phone = tf.TaskforceClient.open(str(tmp_path_factory.mktemp("phone") / "p.db"))
    phone.login(SERVER, MEMBER, PASSWORD, "browser-test phone", None)
    return phone


@pytest.fixture(scope="module")
def phone_sync(member_phone):
    phone = member_phone
    sms = next(t for t in phone.tasks() if t.clause == "II.1-1")
    phone.set_status(sms.id, "done")
    phone.submit_report("2020-02-05", "Đã nhắn tin", [tf.Figure(name="sms_sent", value=120_000_000)], int(time.time()))
    phone.sync()
    return sms


def test_ministry_office_reads_the_matrix_and_downloads_it(browser, phone_sync):
    sign_in(browser, OBSERVER)
    wait_text(browser, By.TAG_NAME, "h1", "Tổng quan")
    browser.save_screenshot(str(SHOTS / "1-overview.png"))

    browser.find_element(By.ID, "nav-matrix").click()
    wait_text(browser, By.TAG_NAME, "h1", "Ma trận điều khoản × đơn vị")
    matrix = browser.find_element(By.ID, "matrix")
    sms_row = matrix.find_element(By.XPATH, ".//tr[th/a[text()='II.1-1']]")
    assert sms_row.find_elements(By.CSS_SELECTOR, "td.s-done"), "the phone's edit shows as done"
    browser.save_screenshot(str(SHOTS / "2-matrix.png"))

    sms_row.find_element(By.LINK_TEXT, "II.1-1").click()
    wait_text(browser, By.TAG_NAME, "h1", "Điều khoản II.1-1")
    assert "Tổ chức nhắn tin tuyên truyền" in browser.find_element(By.ID, "clause-text").text
    browser.save_screenshot(str(SHOTS / "3-clause.png"))

    browser.find_element(By.ID, "lang-switch").click()
    wait_text(browser, By.TAG_NAME, "h1", "Clause II.1-1")
    assert browser.find_element(By.ID, "nav-matrix").text == "Clause × unit matrix"
    browser.save_screenshot(str(SHOTS / "4-english.png"))

    browser.get(SERVER + "/")
    browser.find_element(By.ID, "export-matrix-xlsx").click()
    target = browser.downloads / "matrix.xlsx"
    for _ in range(100):
        if target.exists() and not list(browser.downloads.glob("*.crdownload")):
            break
        time.sleep(0.1)
    book = openpyxl.load_workbook(target)
    sheet = book["Ma trận"]
    headers = [c.value for c in sheet[1]]
    assert headers[:4] == ["Điều khoản", "Nội dung", "Số đơn vị được giao", "Hoàn thành"]
    progress = api("/api/v1/progress", token_of(OBSERVER))
    by_clause = {c["clause"]: c for c in progress["clauses"]}
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert set(rows) == set(by_clause)
    for clause, row in rows.items():
        counts = by_clause[clause]["counts"]
        assert (row[2].value, row[3].value, row[5].value) == (counts["assigned"], counts["done"], counts["blocked"]), clause
    assert rows["II.1-1"][3].value >= 1


def test_a_unit_member_is_refused_other_units(browser, phone_sync):
    sign_in(browser, MEMBER)
    wait_text(browser, By.TAG_NAME, "h1", "Tổng quan")
    browser.get(SERVER + "/units/viettel")
    assert "Bạn không có quyền xem trang này." in browser.page_source
    browser.save_screenshot(str(SHOTS / "5-refused.png"))
    browser.get(SERVER + "/units/cuc-vt")
    assert browser.find_element(By.ID, "unit-tasks")


def test_the_pages_work_under_their_security_policy(browser, phone_sync):
    """The stylesheet applies, the print button has its handler, the chart and the bars draw,
    and Chromium refuses nothing on any page (the policy lets only the pages' own inline
    stylesheet and script run, by hash)."""
    browser.get(SERVER + "/login")
    assert policy_violations(browser) == []
    sign_in(browser, OBSERVER)
    wait_text(browser, By.TAG_NAME, "h1", "Tổng quan")
    header = browser.find_element(By.TAG_NAME, "header")
    assert header.value_of_css_property("background-color") == "rgba(183, 28, 28, 1)", "the stylesheet applies"
    assert browser.find_element(By.ID, "progress-chart").is_displayed()
    bar = browser.find_element(By.CSS_SELECTOR, "svg.bar")
    assert bar.size["width"] > 100, "a bar is drawn at its width"
    for path in ["/matrix", "/clauses/II.1-1", "/units/cuc-vt", "/hotlines", "/stale", "/report"]:
        browser.get(SERVER + path)
        assert policy_violations(browser) == [], path
    # The print button's handler is the page's script: replace window.print to see it called.
    browser.execute_script("window.__printed = false; window.print = function () { window.__printed = true; };")
    browser.find_element(By.ID, "print").click()
    assert browser.execute_script("return window.__printed;") is True
    # An injected inline script would be refused: the policy holds in this browser.
    browser.execute_script(
        "var s = document.createElement('script'); s.textContent = 'window.__injected = true;'; document.body.appendChild(s);"
    )
    assert browser.execute_script("return window.__injected === undefined;") is True
    assert any("script-src" in m for m in policy_violations(browser)), "the refusal is reported"
    # Sign-out is a form with its CSRF token: it works from the page.
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    wait_text(browser, By.ID, "sign-in", "Đăng nhập")
    browser.get(SERVER + "/matrix")
    assert browser.current_url.endswith("/login"), "signed out"


def task_form(driver, task, kind):
    """The form `kind` (accept, return, urge, deadline, comment) of a task's row, unfolded."""
    row = driver.find_element(By.CSS_SELECTOR, f"#unit-tasks tr[data-task='{task}']")
    details = row.find_element(By.CSS_SELECTOR, "details.office")
    if details.get_attribute("open") is None:
        details.find_element(By.TAG_NAME, "summary").click()
    return row.find_element(By.CSS_SELECTOR, f"form.office-{kind}")


def set_date(driver, field, value):
    """A date input's value as the browser would submit it (typing depends on the locale)."""
    driver.execute_script("arguments[0].value = arguments[1];", field, value)


def test_ministry_office_returns_urges_and_accepts_from_the_pages(browser, member_phone):
    phone = member_phone
    phone.sync()
    task = next(t for t in phone.tasks() if t.id == "a0")
    phone.set_status(task.id, "done")
    phone.sync()
    assert [t.review for t in phone.tasks() if t.id == task.id] == ["reported"]

    sign_in(browser, OBSERVER)
    wait_text(browser, By.TAG_NAME, "h1", "Tổng quan")
    browser.get(SERVER + "/units/cuc-vt")

    # Return it with a reason.
    reason = "Thiếu số liệu tuần 6 / the week 6 figures are missing"
    form = task_form(browser, task.id, "return")
    form.find_element(By.NAME, "text").send_keys(reason)
    submit(browser, form.find_element(By.TAG_NAME, "button"))
    confirmation(browser, f"Đã trả lại nhiệm vụ {task.id} của cuc-vt")
    row = browser.find_element(By.CSS_SELECTOR, f"#unit-tasks tr[data-task='{task.id}']")
    assert row.find_element(By.CSS_SELECTOR, "td.review").text == "Bị trả lại"
    browser.save_screenshot(str(SHOTS / "6-returned.png"))

    # Urge the whole unit with a new deadline.
    deadline = (datetime.date.today() + datetime.timedelta(days=14)).isoformat()
    message = "Đề nghị hoàn thành trước hạn mới / please finish by the new deadline"
    urge = browser.find_element(By.ID, "office-unit-urge")
    urge.find_element(By.NAME, "text").send_keys(message)
    set_date(browser, urge.find_element(By.NAME, "due"), deadline)
    submit(browser, urge.find_element(By.TAG_NAME, "button"))
    confirmation(browser, f"Đã đôn đốc nhiệm vụ {task.id} của cuc-vt")
    browser.save_screenshot(str(SHOTS / "7-urged.png"))

    # The phone shows both.
    phone.sync()
    held = next(t for t in phone.tasks() if t.id == task.id)
    assert held.review == "returned" and held.review_reason == reason
    assert held.deadline == deadline and held.urges == 1
    notices = phone.notices()
    assert [(n.message, n.due) for n in notices if n.kind == "urge" and n.task == task.id] == [(message, deadline)]
    assert [n.message for n in notices if n.kind == "returned" and n.task == task.id] == [reason]

    # Done again; the office accepts it over the page that shows it.
    phone.set_status(task.id, "done")
    phone.sync()
    browser.get(SERVER + "/units/cuc-vt")
    row = browser.find_element(By.CSS_SELECTOR, f"#unit-tasks tr[data-task='{task.id}']")
    assert row.find_element(By.CSS_SELECTOR, "td.review").text == "Đã báo cáo hoàn thành"
    form = task_form(browser, task.id, "accept")
    form.find_element(By.NAME, "text").send_keys("Đạt yêu cầu / meets the requirement")
    submit(browser, form.find_element(By.TAG_NAME, "button"))
    confirmation(browser, f"Đã nghiệm thu nhiệm vụ {task.id} của cuc-vt")
    browser.save_screenshot(str(SHOTS / "8-accepted.png"))

    # The matrix cell of cuc-vt on the task's clause shows it accepted.
    browser.find_element(By.ID, "nav-matrix").click()
    wait_text(browser, By.TAG_NAME, "h1", "Ma trận điều khoản × đơn vị")
    matrix = browser.find_element(By.ID, "matrix")
    heads = matrix.find_elements(By.XPATH, "./tbody/tr[1]/th | ./tr[1]/th")
    column = next(i for i, th in enumerate(heads) if th.find_elements(By.CSS_SELECTOR, "a[href='/units/cuc-vt']"))
    row = matrix.find_element(By.XPATH, f".//tr[th/a[text()='{task.clause}']]")
    cell = row.find_elements(By.XPATH, "./th | ./td")[column]
    mark = cell.find_element(By.CSS_SELECTOR, "span.mark.r-accepted")
    assert mark.get_attribute("title") == "Đã nghiệm thu"
    browser.save_screenshot(str(SHOTS / "9-matrix-accepted.png"))

    phone.sync()
    held = next(t for t in phone.tasks() if t.id == task.id)
    assert held.review == "accepted" and held.locked
    assert policy_violations(browser) == []


def wait_for_stream(driver):
    """Until the page's EventSource has connected (the script marks its notice so)."""
    WebDriverWait(driver, 15).until(
        lambda d: d.find_element(By.ID, "live").get_attribute("data-connected") == "1",
        "the page never opened its live-update stream",
    )


def test_an_open_page_follows_the_phones_live(browser, member_phone):
    """Live updates (issue 24): the matrix open in the browser reloads itself when a phone's
    edit reaches the server (server-sent events, allowed by the policy); over a form being
    filled in it does not reload but shows its notice."""
    phone = member_phone
    sign_in(browser, OBSERVER)
    wait_text(browser, By.TAG_NAME, "h1", "Tổng quan")
    browser.get(SERVER + "/matrix")
    browser.execute_script("window.__opened = true;")
    wait_for_stream(browser)
    task = next(t for t in phone.tasks() if t.clause != "II.1-1" and not t.locked)
    phone.set_status(task.id, "in_progress")
    phone.sync()
    deadline = time.time() + 30
    while browser.execute_script("return window.__opened === true;"):
        assert time.time() < deadline, "the page did not reload after the phone's edit"
        time.sleep(0.2)
    wait_text(browser, By.TAG_NAME, "h1", "Ma trận điều khoản × đơn vị")
    assert policy_violations(browser) == []

    # Something typed on the page is never thrown away: the notice instead of a reload.
    wait_for_stream(browser)
    browser.execute_script("window.__opened = true; document.dispatchEvent(new Event('input'));")
    phone.set_status(task.id, "blocked")
    phone.sync()
    notice = browser.find_element(By.ID, "live")
    deadline = time.time() + 30
    while not notice.is_displayed():
        assert time.time() < deadline, "the notice did not show"
        time.sleep(0.2)
    assert browser.execute_script("return window.__opened === true;"), "the page was not reloaded"
    assert notice.find_element(By.TAG_NAME, "a").get_attribute("href").endswith("/matrix")
    browser.save_screenshot(str(SHOTS / "10-live-notice.png"))
