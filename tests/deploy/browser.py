"""The Airflow UI in headless Chromium (Debian's `chromium` and `chromium-driver`), driven by selenium.

`AirflowUi` logs in once through the simple auth manager's page; `connection_form` opens "Add
Connection", picks a connection type by its display name and returns what a person sees in each
section, with a screenshot of each; `press_test_button` presses a stored connection's Test button.
Selenium talks to the system chromedriver directly (no driver download).
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
    profile_root.mkdir(parents=True, exist_ok=True)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-', dir=profile_root)}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class AirflowUi:
    """One logged-in browser session; screenshots go to `shots`."""

    def __init__(self, driver: Any, base_url: str, shots: Path) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.base_url = base_url
        self.shots = shots
        self.wait = WebDriverWait(driver, WAIT_S)

    def log_in(self, username: str, password: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support import expected_conditions as when

        self.driver.get(self.base_url + "/")
        self.wait.until(when.visibility_of_element_located((By.NAME, "username"))).send_keys(username)
        self.driver.find_element(By.NAME, "password").send_keys(password + Keys.ENTER)
        self.wait.until(when.url_to_be(self.base_url + "/"))

    def connection_form(self, type_name: str) -> ConnectionForm:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as when

        self.driver.get(self.base_url + "/connections")
        add = (By.XPATH, "//button[contains(., 'Add Connection')]")
        self.wait.until(when.element_to_be_clickable(add)).click()
        type_box = (By.XPATH, "//label[contains(., 'Connection Type')]/following::input[1]")
        self.wait.until(when.presence_of_element_located(type_box)).send_keys(type_name)
        option = (By.XPATH, f"//*[@role='option' and normalize-space(.)='{type_name}']")
        self.wait.until(when.visibility_of_element_located(option)).click()
        dialog = self.wait.until(when.visibility_of_element_located((By.CSS_SELECTOR, "[role=dialog]")))
        chosen = dialog.find_element(By.XPATH, f".//*[normalize-space(text())='{type_name}']").text
        shots = [self.shots / "form-standard-fields.png", self.shots / "form-extra-fields.png"]
        standard = self._open_section(dialog, "standardFields", shots[0])
        extra = self._open_section(dialog, "Extra Fields", shots[1])
        return ConnectionForm(chosen, standard, extra, shots)

    def _open_section(self, dialog: Any, section_id: str, shot: Path) -> FormSection:
        """Expand one accordion section (the form shows one at a time) and read what it shows."""
        from selenium.webdriver.common.by import By

        trigger = dialog.find_element(By.CSS_SELECTOR, f"button[id$=':trigger:{section_id}']")
        if trigger.get_attribute("aria-expanded") != "true":
            trigger.click()
        self.wait.until(lambda _: trigger.get_attribute("aria-expanded") == "true")
        content = dialog.find_element(By.ID, trigger.get_attribute("aria-controls"))
        self.wait.until(lambda _: content.is_displayed())
        self.driver.execute_script("arguments[0].scrollIntoView(true);", trigger)
        self.driver.save_screenshot(str(shot))
        labels = {el.get_attribute("textContent") for el in content.find_elements(By.TAG_NAME, "label")}
        inputs = {
            el.get_attribute("name") for el in content.find_elements(By.CSS_SELECTOR, "input, textarea")
        }
        return FormSection(
            labels={text.replace("*", "").strip() for text in labels if text.strip()},
            inputs={name for name in inputs if name},
        )

    def press_test_button(self, conn_id: str) -> str:
        """Press the connection list's Test button of `conn_id`; "green" (passed) or "red" (failed)."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        button = f"//tr[td[normalize-space(.)='{conn_id}']]//button[@aria-label='Test Connection']"
        retry = WebDriverWait(self.driver, WAIT_S, ignored_exceptions=[StaleElementReferenceException])

        def click(driver: Any) -> bool:  # the table re-renders while it loads: find, then click at once
            driver.execute_script("arguments[0].click();", driver.find_element(By.XPATH, button))
            return True

        def outcome(driver: Any) -> str | None:
            color = driver.find_element(By.XPATH, button + "//*[name()='svg']").get_attribute("color")
            return str(color) if color in ("green", "red") else None

        self.driver.get(self.base_url + "/connections")
        retry.until(click)
        color: str = retry.until(outcome)
        self.driver.save_screenshot(str(self.shots / f"test-button-{conn_id}.png"))
        return color


@contextmanager
def airflow_ui(base_url: str, username: str, password: str, shots: Path) -> Iterator[AirflowUi]:
    shots.mkdir(parents=True, exist_ok=True)
    with chromium_driver(shots) as driver:
        ui = AirflowUi(driver, base_url, shots)
        ui.log_in(username, password)
        yield ui
