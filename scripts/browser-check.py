#!/usr/bin/env python3
"""Drives Lantern's two pages in real headless Chromium (Selenium + Debian's chromedriver).

/chat, phone-sized: claim the free-order card, order a drink in one sentence, take the
assistant's suggestions to confirm, and watch the order appear on its timeline and move on
(the server runs its demo stores and riders on autopilot); then, in English and in Chinese,
two drinks with options from a named brand to a typed address, edited and confirmed. Then /, the operator dashboard:
connect with an admin token, run a short `lantern rush` against the server, and watch the
admitted-claims counter and the budget move. Screenshots of both pages go to --screenshots.
"""
import argparse
import os
import re
import subprocess
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def browser(width, height):
    # Times on the pages as a customer in the demo city sees them.
    os.environ["TZ"] = "Asia/Shanghai"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=zh-CN"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait_for(driver, what, predicate, seconds=30):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.2).until(lambda d: predicate(d))
    except Exception:
        sys.exit(f"FAIL: {what} (waited {seconds} s)\npage text:\n{driver.find_element(By.TAG_NAME, 'body').text}")


def click_chip(driver, label):
    chip = wait_for(
        driver, f"a suggestion chip '{label}'",
        lambda d: next((b for b in d.find_elements(By.CSS_SELECTOR, "#chips button") if label in b.text), None))
    chip.click()


def check_chat(url, token, shots):
    driver = browser(420, 1100)
    try:
        driver.get(f"{url}/chat?token={token}")
        driver.find_element(By.ID, "claim").click()
        wait_for(driver, "the card to be claimed", lambda d: "claimed" in d.find_element(By.ID, "queue").text)
        wait_for(driver, "the card in the wallet", lambda d: "active" in d.find_element(By.ID, "cards").text)
        box = driver.find_element(By.ID, "text")
        box.send_keys("帮我点一杯大杯珍珠奶茶，少糖去冰")
        driver.find_element(By.CSS_SELECTOR, "#ask button").click()
        click_chip(driver, "送到当前位置")
        click_chip(driver, "确认下单")
        order = wait_for(driver, "the order on its timeline", lambda d: d.find_elements(By.CSS_SELECTOR, "#orders .order"))[0]
        text = order.text
        if "珍珠奶茶" not in text and "pearl milk tea" not in text:
            sys.exit(f"FAIL: the order does not show the drink: {text}")
        if "0.00 元" not in text:
            sys.exit(f"FAIL: the card did not pay for the order: {text}")
        print("chat: order placed:", text.splitlines()[0])
        wait_for(
            driver, "the order to move past 'placed' on its timeline",
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#orders .order li.done")) >= 2, seconds=60)
        steps = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#orders .order li.done")]
        print("chat: timeline reached:", steps[-1])
        driver.save_screenshot(os.path.join(shots, "chat.png"))
    finally:
        driver.quit()


def send(driver, text):
    """Types one message on /chat and waits for the assistant's answer to it."""
    before = len(driver.find_elements(By.CSS_SELECTOR, "#log .bot"))
    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#ask button").click()
    return wait_for(
        driver, f"an answer to '{text}'",
        lambda d: (lambda bots: bots[-1].text if len(bots) > before else None)(d.find_elements(By.CSS_SELECTOR, "#log .bot")))


def expect(text, *parts):
    for part in parts:
        if part not in text:
            sys.exit(f"FAIL: the answer does not say '{part}':\n{text}")


def check_chat_typed(url, token, shots):
    """Two drinks with options from a named brand to a typed address, in English and in
    Chinese: the quote names a store of that brand, both drinks with every option and the
    located address; an edit of the first line; confirmed, the order reaches the timeline."""
    driver = browser(420, 1400)
    try:
        driver.get(f"{url}/chat?token={token}")
        quote = send(driver, "from Moon Pearl, a large taro milk tea with less ice and a pearl milk tea with half sugar, "
                             "deliver to 200 Nanjing East Road")
        expect(quote, "Moon Pearl", "1 × taro milk tea, large, ", "less ice", "1 × pearl milk tea, ", "half sugar",
               "Deliver to: 200 Nanjing East Road (Nanjing East Road)")
        edited = send(driver, "add pudding to the first one")
        taro = next(line for line in edited.splitlines() if "taro milk tea" in line)
        pearl = next(line for line in edited.splitlines() if "pearl milk tea" in line)
        if "+ pudding" not in taro or "pudding" in pearl:
            sys.exit(f"FAIL: the edit did not reach the first line only:\n{edited}")
        placed = send(driver, "yes")
        expect(placed, "Ordered!")
        print("chat (English): quoted and placed:", taro.strip(), "|", pearl.strip())
        chinese = send(driver, "在月珠点一杯大杯芋泥奶茶少冰，一杯珍珠奶茶半糖，送到南京东路200号")
        expect(chinese, "Moon Pearl", "1杯 芋泥奶茶 大杯、", "少冰", "1杯 珍珠奶茶 ", "半糖", "送到：南京东路200号（南京东路）")
        edited = send(driver, "第一杯加布丁")
        taro = next(line for line in edited.splitlines() if "芋泥奶茶" in line)
        pearl = next(line for line in edited.splitlines() if "珍珠奶茶" in line)
        if "加布丁" not in taro or "布丁" in pearl:
            sys.exit(f"FAIL: the edit did not reach the first line only:\n{edited}")
        expect(send(driver, "确认下单"), "下单成功")
        wait_for(driver, "both orders on the timeline", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#orders .order")) >= 2)
        print("chat (Chinese): quoted and placed:", taro.strip(), "|", pearl.strip())
        driver.save_screenshot(os.path.join(shots, "chat-typed-address.png"))
    finally:
        driver.quit()


def admitted(driver):
    for row in driver.find_elements(By.CSS_SELECTOR, "#admission tr"):
        cells = row.find_elements(By.TAG_NAME, "td")
        if cells and cells[0].text == "admitted":
            return int(re.sub(r"\D", "", cells[1].text) or 0)
    return None


def check_dashboard(url, admin, lantern, shots):
    driver = browser(1280, 1100)
    try:
        driver.get(f"{url}/?token={admin}")
        wait_for(driver, "the live stream", lambda d: d.find_element(By.ID, "status").text.startswith("live"))
        wait_for(driver, "the admission counters", lambda d: admitted(d) is not None)
        before, budget = admitted(driver), driver.find_element(By.ID, "budget").text
        rush = subprocess.run(
            [lantern, "rush", "--url", url, "--users", "3000", "--arrival", "spike", "--duration", "8", "--grace", "10",
             "--connections", "64"], capture_output=True, text=True, timeout=120)
        if rush.returncode != 0:
            sys.exit(f"FAIL: lantern rush: {rush.stderr}")
        wait_for(driver, "the admitted counter to move", lambda d: (admitted(d) or 0) >= before + 1000, seconds=20)
        wait_for(driver, "the budget to move", lambda d: d.find_element(By.ID, "budget").text != budget, seconds=10)
        wait_for(
            driver, "the claims-per-second chart", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rates path")) == 2)
        print(f"dashboard: admitted {before} -> {admitted(driver)}; budget now: {driver.find_element(By.ID, 'budget').text}")
        driver.save_screenshot(os.path.join(shots, "dashboard.png"))
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--user-token", required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--lantern", required=True)
    parser.add_argument("--screenshots", required=True)
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    check_chat(args.url, args.user_token, args.screenshots)
    typed_token = subprocess.run([args.lantern, "token", "--user", "browser-typed"], capture_output=True, text=True,
                                 check=True).stdout.strip()
    check_chat_typed(args.url, typed_token, args.screenshots)
    check_dashboard(args.url, args.admin_token, args.lantern, args.screenshots)
    print("browser check passed")


if __name__ == "__main__":
    main()
