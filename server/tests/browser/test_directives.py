"""A new directive reviewed and published on the dashboard, in a real browser (Debian's
Chromium, headless, through chromedriver), against a running `taskforce serve`
(ops/foreign-tests.sh sets the environment).

The Ministry Office opens the list of directives, pastes the text of a directive of our own
(fixtures/ct-btttt-hoc-truc-tuyen.txt, 16/CT-BTTTT: not the text the bindings' scenarios
publish on the same server) into the import form, and on the review page makes Cục Viễn thông
the lead of clause 2 and adds Cục PTTH to clause 3; it publishes, and the list shows the new
directive beside 05/CT-BTTTT; the API serves it as reviewed. Then a corrected text (a clause 5
for Cục Báo chí) is pasted: the review page shows it as a revision of the published directive,
the reviewer takes Cục PTTH off clause 3, the preview lists what changes per unit, and
publishing the revision brings every document to it (the list shows "revision 1"; Cục PTTH's
task is withdrawn, Cục Báo chí has a document). Screenshots go to artifacts/screenshots/.
"""

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from browser_pages import (
    OBSERVER,
    PASSWORD,
    SERVER,
    SHOTS,
    api,
    confirmation as confirmed,
    policy_violations,
    submit,
    token_of,
    wait_text,
)

TEXT = (Path(__file__).parent / "fixtures" / "ct-btttt-hoc-truc-tuyen.txt").read_text(encoding="utf-8")
NUMBER = "16/CT-BTTTT"
ID = "16-ct-btttt"


def confirmation(driver, expected):
    """Wait for the page the form returns to, showing what was done."""
    confirmed(driver, expected, "directive-done")


def unit_of(driver, clause, unit):
    return driver.find_element(By.CSS_SELECTOR, f"#clauses tr[data-clause='{clause}'] .unit[data-unit='{unit}']")


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

    # A corrected text of the published directive: a draft of its revision (decision 44).
    browser.get(SERVER + "/directives")
    corrected = TEXT.replace(
        "báo cáo Bộ trưởng./.",
        "báo cáo Bộ trưởng.\n\n5. Cục Báo chí chủ trì tuyên truyền về học trực tuyến an toàn./.",
    )
    assert corrected != TEXT
    area = browser.find_element(By.ID, "import-text")
    browser.execute_script("arguments[0].value = arguments[1];", area, corrected)
    submit(browser, browser.find_element(By.ID, "import-submit"))
    confirmation(browser, f"Đã nhập {NUMBER} thành bản nháp")
    wait_text(browser, By.CSS_SELECTOR, "#revision tr[data-unit='cuc-bao-chi'] .revision-added", "5")
    assert "tài liệu mới" in browser.find_element(By.CSS_SELECTOR, "#revision tr[data-unit='cuc-bao-chi']").text
    # The review kept its corrections (their clauses say the same): Cục PTTH is still on 3.
    assert unit_of(browser, "3", "cuc-ptth").get_attribute("data-role") == "coordinating"
    submit(browser, unit_of(browser, "3", "cuc-ptth").find_element(By.CSS_SELECTOR, "button.remove"))
    wait_text(browser, By.CSS_SELECTOR, "#revision tr[data-unit='cuc-ptth'] .revision-withdrawn", "3")
    assert browser.find_element(By.ID, "publish-submit").text == "Ban hành bản sửa đổi"
    browser.save_screenshot(str(SHOTS / "d6-revision.png"))

    submit(browser, browser.find_element(By.ID, "publish-submit"))
    confirmation(browser, f"Đã ban hành bản sửa đổi 1 của {NUMBER}")
    row = browser.find_element(By.CSS_SELECTOR, f"#directives tr[data-directive='{ID}']")
    assert "sửa đổi lần 1" in row.text
    assert not row.find_elements(By.CSS_SELECTOR, "form.bring"), "no document is behind"
    browser.save_screenshot(str(SHOTS / "d7-revised.png"))
    assert policy_violations(browser) == []
    ptth = api(f"/api/v1/units/cuc-ptth/progress?directive={ID}", token_of(OBSERVER))
    assert [t["clause"] for t in ptth["tasks"] if t["clause"]] == [], "its task on 3 is withdrawn"
    baochi = api(f"/api/v1/units/cuc-bao-chi/progress?directive={ID}", token_of(OBSERVER))
    assert [(t["clause"], t["role"]) for t in baochi["tasks"]] == [("5", "lead")]

