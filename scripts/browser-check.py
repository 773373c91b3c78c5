#!/usr/bin/env python3
"""Drives Lantern's two pages in real headless Chromium (Selenium + Debian's chromedriver).

/chat, phone-sized: claim the free-order card, order a drink in one sentence, take the
assistant's suggestions to confirm, and watch the order appear on its timeline and move on
(the server runs its demo stores and riders on autopilot); then, in English and in Chinese,
two drinks with options from a named brand to a typed address, edited and confirmed; and a
claim queued behind a proof-of-work puzzle the page solves. Then /, the operator dashboard:
connect with an admin token, run a short `lantern rush` against the server, and watch the
admitted-claims counter and the budget move; open it again after the rush and find the rush in
the history the server kept; switch to another campaign. Then /report: sign in, pick the
campaign, read what it bought. Screenshots of the pages go to --screenshots.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
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
        # Pages re-render what they show: an element read as it is replaced is read again.
        return WebDriverWait(driver, seconds, poll_frequency=0.2, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: predicate(d))
    except Exception:
        sys.exit(f"FAIL: {what} (waited {seconds} s)\npage text:\n{driver.find_element(By.TAG_NAME, 'body').text}")


def click_when_there(driver, what, css):
    """Clicks the first element matching `css` once there is one. The counter re-renders its
    orders as events arrive, so a button found a moment ago may have been replaced; it is then
    found again and clicked."""
    def click(d):
        found = d.find_elements(By.CSS_SELECTOR, css)
        if not found:
            return False
        found[0].click()
        return True
    wait_for(driver, what, click)


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


def api(url, method, path, token, body=None):
    """One call to Lantern's API; returns (status, JSON)."""
    request = urllib.request.Request(
        url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def check_queue_puzzle(url, admin, lantern):
    """A botted campaign: its waiting room admits one a second and asks for proof of work. The
    page's claim is queued, the page solves the puzzle, waits its turn and claims with the
    ticket and the solution."""
    status, _ = api(url, "POST", "/v1/campaigns", admin, {
        "id": "puzzle-check", "name": "Puzzle check", "budget_fen": 100_000, "card_value_fen": 2_500,
        "max_cards_per_user": 1, "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z",
        "cards_expire_at": "2099-06-01T00:00:00Z"})
    if status != 201:
        sys.exit(f"FAIL: creating the puzzle campaign answered {status}")
    for path, body in (("/v1/campaigns/puzzle-check/admission", {"rate_per_minute": 60}),
                       ("/v1/campaigns/puzzle-check/queue-proof", {"bits": 14})):
        status, answer = api(url, "PUT", path, admin, body)
        if status != 200:
            sys.exit(f"FAIL: {path} answered {status}: {answer}")
    # Someone ahead in line, so the page's claim is queued rather than let straight in.
    ahead = subprocess.run([lantern, "token", "--user", "browser-ahead"], capture_output=True, text=True,
                           check=True).stdout.strip()
    api(url, "POST", "/v1/campaigns/puzzle-check/claims", ahead, {})
    token = subprocess.run([lantern, "token", "--user", "browser-puzzle"], capture_output=True, text=True,
                           check=True).stdout.strip()
    queued_before = api(url, "GET", "/v1/admin/stats", admin)[1]["admission"]["queued"]
    driver = browser(420, 900)
    try:
        driver.get(f"{url}/chat?token={token}")
        field = driver.find_element(By.ID, "campaign")
        field.clear()
        field.send_keys("puzzle-check")
        driver.find_element(By.ID, "claim").click()
        wait_for(driver, "the queued claim to be admitted and claimed with the puzzle solved",
                 lambda d: "claimed" in d.find_element(By.ID, "queue").text, seconds=40)
        if api(url, "GET", "/v1/admin/stats", admin)[1]["admission"]["queued"] <= queued_before:
            sys.exit("FAIL: the page's claim went straight in; it was to wait in line behind the puzzle")
        status, cards = api(url, "GET", "/v1/me/cards", token)
        if not any(card["campaign"] == "puzzle-check" for card in cards.get("cards", [])):
            sys.exit(f"FAIL: no puzzle-check card after the page said claimed: {cards}")
        print("chat: queued behind a puzzle of 14 bits, solved in the browser, admitted and claimed")
    finally:
        driver.quit()


def check_merchant(url, lantern, shots):
    """The counter and a customer at once: the customer orders on /chat, the order appears on
    /merchant without a reload, the merchant accepts it and marks it ready and the customer's
    timeline follows; with pearls marked out and then the store paused on the page, the
    customer asking that store for a drink on /chat is told why, and which store of the brand
    nearby can take it."""
    def token(*args):
        return subprocess.run([lantern, "token", *args], capture_output=True, text=True, check=True).stdout.strip()
    customer = token("--user", "browser-counter-customer")
    order = {"brand": "Lantern Tea", "items": [{"drink": "taro milk tea"}], "address": {"text": "200 Nanjing East Road"}}
    status, quoted = api(url, "POST", "/v1/orders/quote", customer, order)
    if status != 200:
        sys.exit(f"FAIL: quote for the counter check: {status} {quoted}")
    store, name = quoted["quote"]["merchant_id"], quoted["quote"]["merchant_name"]
    merchant = token("--user", "counter-staff", "--role", "merchant", "--merchant", store)
    counter, chat = browser(1200, 1000), browser(420, 1200)
    try:
        counter.get(f"{url}/merchant?token={merchant}")
        wait_for(counter, "the counter's stream", lambda d: "live" in d.find_element(By.ID, "live").text)
        chat.get(f"{url}/chat?token={customer}")
        send(chat, "from Lantern Tea, a taro milk tea, deliver to 200 Nanjing East Road")
        expect(send(chat, "yes"), "Ordered!")
        card = wait_for(counter, "the new order on the counter without a reload",
                        lambda d: d.find_elements(By.CSS_SELECTOR, ".order[data-state='placed']"))[0]
        text, order_id = card.text, card.get_attribute("data-id")
        if "taro milk tea" not in text or "200 Nanjing East Road" not in text or "c-" not in text:
            sys.exit(f"FAIL: the order on the counter lacks its lines, address or customer: {text}")
        click_when_there(counter, "the accept button", f".order[data-id='{order_id}'] button[data-act='accept']")
        wait_for(chat, "the customer's timeline at 'accepted'",
                 lambda d: any("accepted" in li.text for li in d.find_elements(By.CSS_SELECTOR, "#orders .order li.done")))
        click_when_there(counter, "the ready button", f".order[data-id='{order_id}'] button[data-act='ready']")
        wait_for(chat, "the customer's timeline at 'ready'",
                 lambda d: any("ready" in li.text for li in d.find_elements(By.CSS_SELECTOR, "#orders .order li.done")))
        print("counter: order", order_id, "arrived live, accepted and made ready; the customer's timeline followed")
        click_when_there(counter, "the pearls toggle", "input[data-item='pearls']")
        wait_for(counter, "pearls marked out on the page",
                 lambda d: not d.find_element(By.CSS_SELECTOR, "input[data-item='pearls']").is_selected())
        pearls = send(chat, f"from {name}, a pearl milk tea, deliver to 200 Nanjing East Road")
        expect(pearls, "run out of pearls", "of the same brand nearby, can take it now.")
        counter.find_element(By.ID, "pause").click()
        wait_for(counter, "the store paused on the page", lambda d: "paused" in d.find_element(By.ID, "open-state").text)
        paused = send(chat, f"from {name}, a taro milk tea, deliver to 200 Nanjing East Road")
        expect(paused, "paused orders", "of the same brand nearby, can take it now.")
        print("counter: pearls out, the customer was told (with the brand's nearest other store); paused, told again")
        counter.save_screenshot(os.path.join(shots, "merchant.png"))
    finally:
        counter.quit()
        chat.quit()


def admitted(driver):
    for row in driver.find_elements(By.CSS_SELECTOR, "#admission tr"):
        cells = row.find_elements(By.TAG_NAME, "td")
        if cells and cells[0].text == "admitted":
            return int(re.sub(r"\D", "", cells[1].text) or 0)
    return None


def peak(driver, chart):
    """The first series' peak as the chart labels it (\"1.2k\", \"850\"), as a number."""
    spans = driver.find_elements(By.CSS_SELECTOR, f"#{chart} tspan")
    if not spans:
        return 0
    text = spans[0].text.strip()
    scale = {"k": 1e3, "M": 1e6}.get(text[-1:], 1)
    try:
        return float(text.rstrip("kM")) * scale
    except ValueError:
        return 0


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
        # A page opened after the spike draws it from the server's memory, not from its own.
        driver.get(f"{url}/?token={admin}")
        wait_for(driver, "the live stream again", lambda d: d.find_element(By.ID, "status").text.startswith("live"))
        wait_for(driver, "the spike drawn from the history", lambda d: peak(d, "rates") >= 100, seconds=10)
        wait_for(driver, "the latency table", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#routes tbody tr")) > 0, seconds=10)
        print(f"dashboard reopened: claims peak {peak(driver, 'rates')}/s from the history")
        driver.save_screenshot(os.path.join(shots, "dashboard.png"))
        # Another campaign from the selector: its own budget line.
        rush_budget = driver.find_element(By.ID, "budget").text
        Select(driver.find_element(By.ID, "campaign")).select_by_visible_text("puzzle-check")
        wait_for(driver, "the other campaign's budget", lambda d: d.find_element(By.ID, "budget").text != rush_budget, seconds=10)
        print(f"dashboard switched to puzzle-check: {driver.find_element(By.ID, 'budget').text}")
    finally:
        driver.quit()


def check_report(url, admin, shots):
    """The report page: signed in with the admin token, the rush's campaign, what it bought."""
    driver = browser(1280, 1300)
    try:
        driver.get(f"{url}/report")
        driver.find_element(By.ID, "token").send_keys(admin)
        driver.find_element(By.ID, "load").click()
        wait_for(driver, "the campaign list", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#campaign option")) >= 2)
        Select(driver.find_element(By.ID, "campaign")).select_by_visible_text("spring-festival")
        driver.find_element(By.ID, "show").click()

        def report_text(d):
            d.switch_to.frame(d.find_element(By.ID, "report"))
            try:
                return d.find_element(By.TAG_NAME, "body").text
            finally:
                d.switch_to.default_content()
        wait_for(driver, "the report", lambda d: "cards issued" in report_text(d) and "spring-festival" in report_text(d))
        text = report_text(driver)
        if "Test traffic left out" not in text:
            sys.exit("FAIL: the report does not say it left lantern rush's test users out")
        print("report: " + " · ".join(line for line in text.splitlines()[:3]))
        driver.save_screenshot(os.path.join(shots, "report.png"))
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
    check_merchant(args.url, args.lantern, args.screenshots)
    check_queue_puzzle(args.url, args.admin_token, args.lantern)
    check_dashboard(args.url, args.admin_token, args.lantern, args.screenshots)
    check_report(args.url, args.admin_token, args.screenshots)
    print("browser check passed")


if __name__ == "__main__":
    main()
