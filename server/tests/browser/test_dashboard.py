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
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import openpyxl
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.environ["TASKFORCE_PY_BINDINGS"])
import taskforce_bindings as tf  # noqa: E402

SERVER = os.environ["TASKFORCE_SERVER"]
PASSWORD = os.environ["TASKFORCE_PASSWORD"]
OBSERVER = os.environ["TASKFORCE_OBSERVER"]
MEMBER = os.environ["TASKFORCE_DASH_MEMBER"]
SHOTS = Path(os.environ.get("TASKFORCE_ARTIFACTS", "artifacts")) / "screenshots"


def api(path, token):
    req = urllib.request.Request(SERVER + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def token_of(user):
    req = urllib.request.Request(
        SERVER + "/api/v1/auth/login",
        data=json.dumps({"username": user, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())["token"]


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


@pytest.fixture()
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False})
    # The console, to read what the Content-Security-Policy refused.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(5)
    driver.downloads = downloads
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def text_now(driver, by, value):
    """An element's text, or None while the page that holds it is not (yet) there.

    A page being replaced can hand out an element Chromium has just discarded: chromedriver
    reports that as stale or as "Node with given id does not belong to the document".
    """
    try:
        return driver.find_element(by, value).text
    except (NoSuchElementException, StaleElementReferenceException):
        return None
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return None
        raise


def wait_text(driver, by, value, expected):
    """Wait for the new page: a click returns before the browser has navigated."""
    WebDriverWait(driver, 15).until(lambda d: text_now(d, by, value) == expected, f"{value} never read {expected!r}")


def sign_in(driver, user):
    driver.get(SERVER + "/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()


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


def policy_violations(driver):
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


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


def submit(driver, button):
    """Press a form's button and wait until the browser has left the page it was on.

    Without this, a check that runs while the answer is loading can read the old page (its
    confirmation of the previous action) or an element being discarded (see `text_now`).
    """
    old = driver.find_element(By.TAG_NAME, "html")
    button.click()

    def left(_d):
        try:
            old.tag_name
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException:
            return False

    WebDriverWait(driver, 15).until(left, "the form's page never went")


def confirmation(driver, expected):
    """Wait for the page the form returns to, showing what was done."""

    WebDriverWait(driver, 15).until(
        lambda d: expected in (text_now(d, By.ID, "office-done") or ""), f"the page never confirmed {expected!r}"
    )


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
