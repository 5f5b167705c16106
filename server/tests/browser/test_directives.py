"""A new directive reviewed and published on the dashboard, in a real browser (Debian's
Chromium, headless, through chromedriver), against a running `taskforce serve`
(ops/foreign-tests.sh sets the environment).

The Ministry Office opens the list of directives, pastes the text of a directive of our own
(fixtures/ct-btttt-hoc-truc-tuyen.txt, 16/CT-BTTTT: not the text the bindings' scenarios
publish on the same server) into the import form, and on the review page makes Cục Viễn thông
the lead of clause 2 and adds Cục PTTH to clause 3; it publishes, and the list shows the new
directive beside 05/CT-BTTTT; the API serves it as reviewed. Screenshots go to
artifacts/screenshots/.
"""

import json
import os
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

SERVER = os.environ["TASKFORCE_SERVER"]
PASSWORD = os.environ["TASKFORCE_PASSWORD"]
OBSERVER = os.environ["TASKFORCE_OBSERVER"]
SHOTS = Path(os.environ.get("TASKFORCE_ARTIFACTS", "artifacts")) / "screenshots"
TEXT = (Path(__file__).parent / "fixtures" / "ct-btttt-hoc-truc-tuyen.txt").read_text(encoding="utf-8")
NUMBER = "16/CT-BTTTT"
ID = "16-ct-btttt"


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


@pytest.fixture()
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(5)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def text_now(driver, by, value):
    """An element's text, or None while the page that holds it is not (yet) there (a page
    being replaced can hand out an element Chromium has just discarded)."""
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


def submit(driver, button):
    """Press a form's button (or follow a link) and wait until the browser has left the page
    it was on, so that no check reads the old page."""
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
        lambda d: expected in (text_now(d, By.ID, "directive-done") or ""),
        f"the page never confirmed {expected!r}",
    )


def unit_of(driver, clause, unit):
    return driver.find_element(By.CSS_SELECTOR, f"#clauses tr[data-clause='{clause}'] .unit[data-unit='{unit}']")


def policy_violations(driver):
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_the_ministry_office_imports_reviews_and_publishes_a_directive(browser):
    browser.get(SERVER + "/login")
    browser.find_element(By.ID, "username").send_keys(OBSERVER)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    submit(browser, browser.find_element(By.ID, "sign-in"))
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "form[action='/logout']"), "not signed in")

    browser.get(SERVER + "/directives")
    wait_text(browser, By.TAG_NAME, "h1", "Mọi chỉ thị")
    assert browser.find_elements(By.CSS_SELECTOR, "#directives tr[data-directive='5-ct-btttt']")
    assert not browser.find_elements(By.CSS_SELECTOR, f"#directives tr[data-directive='{ID}']")
    browser.save_screenshot(str(SHOTS / "d1-directives.png"))

    # Pasted (typing 2 KB is slow), then imported as a draft: its review page.
    area = browser.find_element(By.ID, "import-text")
    browser.execute_script("arguments[0].value = arguments[1];", area, TEXT)
    submit(browser, browser.find_element(By.ID, "import-submit"))
    confirmation(browser, f"Đã nhập {NUMBER} thành bản nháp")
    assert browser.find_element(By.ID, "draft-number").text == NUMBER
    assert unit_of(browser, "2", "cuc-vt").get_attribute("data-role") == "coordinating"
    browser.save_screenshot(str(SHOTS / "d2-review.png"))

    # Cục Viễn thông leads clause 2.
    submit(browser, unit_of(browser, "2", "cuc-vt").find_element(By.CSS_SELECTOR, "button.set-role"))
    confirmation(browser, "cuc-vt nay là đơn vị chủ trì điều khoản 2")
    assert unit_of(browser, "2", "cuc-vt").get_attribute("data-role") == "lead"

    # Cục PTTH joins clause 3, coordinating.
    link = browser.find_element(By.CSS_SELECTOR, "#clauses tr[data-clause='3'] a.add-unit")
    submit(browser, link)
    form = browser.find_element(By.ID, "add-unit")
    Select(form.find_element(By.ID, "add-unit-unit")).select_by_value("cuc-ptth")
    Select(form.find_element(By.ID, "add-unit-role")).select_by_value("coordinating")
    browser.save_screenshot(str(SHOTS / "d3-adding.png"))
    submit(browser, form.find_element(By.TAG_NAME, "button"))
    confirmation(browser, "Đã giao điều khoản 3 cho cuc-ptth (Phối hợp)")
    assert unit_of(browser, "3", "cuc-ptth").get_attribute("data-role") == "coordinating"
    assert browser.find_elements(By.CSS_SELECTOR, "#documents tr[data-unit='cuc-ptth']"), "publishing gives it a document"
    browser.save_screenshot(str(SHOTS / "d4-reviewed.png"))

    # Published: the list shows both directives.
    submit(browser, browser.find_element(By.ID, "publish-submit"))
    confirmation(browser, f"Đã ban hành {NUMBER}")
    wait_text(browser, By.TAG_NAME, "h1", "Mọi chỉ thị")
    row = browser.find_element(By.CSS_SELECTOR, f"#directives tr[data-directive='{ID}']")
    assert row.find_element(By.TAG_NAME, "a").text == NUMBER
    assert row.find_element(By.TAG_NAME, "a").get_attribute("href").endswith(f"/?directive={ID}")
    assert browser.find_elements(By.CSS_SELECTOR, "#directives tr[data-directive='5-ct-btttt']")
    assert not browser.find_elements(By.CSS_SELECTOR, f"#drafts tr[data-draft='{ID}']")
    browser.save_screenshot(str(SHOTS / "d5-published.png"))
    assert policy_violations(browser) == []

    # As reviewed, for the phones.
    directive = api(f"/api/v1/directives/{ID}", token_of(OBSERVER))
    clauses = {c["id"]: c for c in directive["clauses"]}
    assert any(u["unit"] == "cuc-vt" and u["role"] == "lead" for u in clauses["2"]["units"])
    assert any(u["unit"] == "cuc-ptth" and u["role"] == "coordinating" for u in clauses["3"]["units"])
