"""What the browser tests share: the server they drive, the Ministry Office's API token, and the
ways to read a page that avoid races with the browser's navigation (a click returns before the
new page is there; a page being replaced can hand out elements Chromium has just discarded).
ops/foreign-tests.sh sets the environment.
"""

import json
import os
import urllib.request
from pathlib import Path

from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SERVER = os.environ["TASKFORCE_SERVER"]
PASSWORD = os.environ["TASKFORCE_PASSWORD"]
OBSERVER = os.environ["TASKFORCE_OBSERVER"]
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


def policy_violations(driver):
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


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


def confirmation(driver, expected, element="office-done"):
    """Wait for the page the form returns to, showing what was done."""

    WebDriverWait(driver, 15).until(
        lambda d: expected in (text_now(d, By.ID, element) or ""), f"the page never confirmed {expected!r}"
    )
