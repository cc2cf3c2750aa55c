"""The Airflow UI's "Add Connection" form in headless Chromium (Debian's `chromium` and `chromium-driver`).

`read_connection_form` logs in through the simple auth manager's page, opens the form, picks the
connection type by its display name and returns what a person sees in each section, with a
screenshot of each. Selenium talks to the system chromedriver directly (no driver download).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
WAIT_S = 30


@dataclass
class FormSection:
    """Labels shown and input names present in one accordion section of the form."""

    labels: set[str] = field(default_factory=set)
    inputs: set[str] = field(default_factory=set)


@dataclass
class ConnectionForm:
    chosen_type: str
    standard: FormSection
    extra: FormSection
    screenshots: list[Path]


def browser_binaries() -> tuple[str, str]:
    """(chromium, chromedriver): a missing browser fails the test, it never skips it."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        raise AssertionError("chromium and chromium-driver are required: `make e2e` installs them")
    return chromium, driver


@contextmanager
def chromium_driver(profile_root: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-', dir=profile_root)}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def read_connection_form(
    base_url: str, username: str, password: str, type_name: str, shots: Path
) -> ConnectionForm:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as when
    from selenium.webdriver.support.ui import WebDriverWait

    shots.mkdir(parents=True, exist_ok=True)
    with chromium_driver(shots) as driver:
        wait = WebDriverWait(driver, WAIT_S)
        driver.get(base_url + "/")
        wait.until(when.visibility_of_element_located((By.NAME, "username"))).send_keys(username)
        driver.find_element(By.NAME, "password").send_keys(password + Keys.ENTER)
        wait.until(when.url_to_be(base_url + "/"))
        driver.get(base_url + "/connections")
        add = (By.XPATH, "//button[contains(., 'Add Connection')]")
        wait.until(when.element_to_be_clickable(add)).click()
        type_box = (By.XPATH, "//label[contains(., 'Connection Type')]/following::input[1]")
        wait.until(when.presence_of_element_located(type_box)).send_keys(type_name)
        option = (By.XPATH, f"//*[@role='option' and normalize-space(.)='{type_name}']")
        wait.until(when.visibility_of_element_located(option)).click()
        dialog = wait.until(when.visibility_of_element_located((By.CSS_SELECTOR, "[role=dialog]")))
        chosen = dialog.find_element(By.XPATH, f".//*[normalize-space(text())='{type_name}']").text
        standard = _open_section(driver, dialog, "standardFields", shots / "standard-fields.png")
        extra = _open_section(driver, dialog, "Extra Fields", shots / "extra-fields.png")
    return ConnectionForm(
        chosen, standard, extra, [shots / "standard-fields.png", shots / "extra-fields.png"]
    )


def _open_section(driver: Any, dialog: Any, section_id: str, shot: Path) -> FormSection:
    """Expand one accordion section (the form shows one at a time) and read what it shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    trigger = dialog.find_element(By.CSS_SELECTOR, f"button[id$=':trigger:{section_id}']")
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    WebDriverWait(driver, WAIT_S).until(lambda _: trigger.get_attribute("aria-expanded") == "true")
    content_id = trigger.get_attribute("aria-controls")
    content = dialog.find_element(By.ID, content_id)
    WebDriverWait(driver, WAIT_S).until(lambda _: content.is_displayed())
    driver.execute_script("arguments[0].scrollIntoView(true);", trigger)
    driver.save_screenshot(str(shot))
    labels = {
        label.get_attribute("textContent").replace("*", "").strip()
        for label in content.find_elements(By.TAG_NAME, "label")
    }
    inputs = {el.get_attribute("name") for el in content.find_elements(By.CSS_SELECTOR, "input, textarea")}
    return FormSection(labels={label for label in labels if label}, inputs={name for name in inputs if name})
