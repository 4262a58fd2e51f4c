"""The web console (SPEC §9) in a real headless Chromium against the real daemons: tokens,
add and bulk-add subscribers, form errors next to their fields, a SIPp UE appearing under
Registrations and going away on Deregister, the ladder renderer on a SPEC §8 fixture, and
the per-UE panels (the live ladder with a 503 fault only where the timeline API exists).
Screenshots of every step go to <build>/test-artifacts/console/."""

import http.client
import os
import re
import sys
import unittest
import urllib.parse

# Selenium is a Debian package: it is only importable by Debian's interpreter, which may not
# be the python3 first on PATH (see the tool notes).
try:
    from selenium import webdriver
    from selenium.common.exceptions import (StaleElementReferenceException, TimeoutException,
                                            WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3" \
            and not os.environ.get("IMS_CONSOLE_REEXEC"):
        os.environ["IMS_CONSOLE_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    webdriver = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

D = harness.DOMAIN
TOKEN = "console-test-token-7f3a"
USER = harness.DEMO["imsi"]
IMPU = f"sip:{USER}@{D}"
ARTIFACTS = os.path.join(os.path.dirname(harness.BIN_DIR.rstrip("/")), "test-artifacts", "console")
CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"

# A SPEC §8 timeline: a digest registration with its challenge, then a REGISTER refused by
# an armed 503 fault, as the two CSCFs would record them.
FIXTURE = [
    {"time": "2026-12-05T06:00:00.000Z", "daemon": "pcscf", "method": "REGISTER",
     "call_id": "c1", "cseq": "1 REGISTER", "source": "127.0.0.1:5080", "transport": "udp",
     "protected": False, "decision": "forwarded to the S-CSCF", "hint": "",
     "raw": "REGISTER sip:ims.example SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n"},
    {"time": "2026-12-05T06:00:00.002Z", "daemon": "scscf", "kind": "request",
     "method": "REGISTER", "call_id": "c1", "cseq": "1 REGISTER", "source": "127.0.0.1:5060",
     "transport": "udp", "protected": False, "raw": "REGISTER sip:ims.example SIP/2.0\r\n\r\n"},
    {"time": "2026-12-05T06:00:00.004Z", "daemon": "scscf", "method": "MAR", "code": 200,
     "reason": "OK", "decision": "digest vector from the HSS"},
    {"time": "2026-12-05T06:00:00.010Z", "daemon": "scscf", "kind": "response",
     "method": "REGISTER", "call_id": "c1", "cseq": "1 REGISTER", "source": "127.0.0.1:5060",
     "transport": "udp", "protected": False, "decision": "challenged (digest)", "code": 401,
     "reason": "Unauthorized", "hint": "first REGISTER answered with a 401",
     "raw": "SIP/2.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=x\r\n\r\n"},
    {"time": "2026-12-05T06:00:01.000Z", "daemon": "scscf", "method": "REGISTER",
     "call_id": "c1", "cseq": "2 REGISTER", "source": "127.0.0.1:5060", "transport": "udp",
     "protected": False, "decision": "rejected 503 by fault rule 1", "code": 503,
     "reason": "Service Unavailable", "hint": "a fault-injection rule changed what we did",
     "raw": "SIP/2.0 503 Service Unavailable\r\nRetry-After: 30\r\n\r\n"},
]



def status_only(port, path):
    """The status code of a GET without reading the body (an event stream never ends)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        return c.getresponse().status
    finally:
        c.close()


def _msg(t, daemon, kind, direction, cseq, **kw):
    e = {"seq": t, "time": f"2026-12-05T06:00:0{t // 10}.{t % 10:03d}Z", "daemon": daemon,
         "kind": kind, "direction": direction, "method": "REGISTER", "call_id": "c9",
         "cseq": cseq, "transport": "UDP", "protected": False,
         "sip": f"{kind} {direction} at {daemon}, CSeq {cseq}\r\n\r\n"}
    e.update(kw)
    return e


# The same exchange in the shape the CSCFs' timeline API writes (kind request/response/
# decision, direction, status, src/dst, sip, action + details): each CSCF logs the message
# it passes to the other, and the ladder must show it once.
CSCF_FIXTURE = [
    _msg(1, "pcscf", "request", "in", 1, src={"addr": "127.0.0.1", "port": 5080}),
    {"seq": 2, "time": "2026-12-05T06:00:00.002Z", "daemon": "pcscf", "kind": "decision",
     "method": "REGISTER", "call_id": "c9", "cseq": 1, "action": "forward",
     "hint": "forwarded toward the S-CSCF"},
    _msg(3, "pcscf", "request", "out", 1),
    _msg(4, "scscf", "request", "in", 1),
    {"seq": 5, "time": "2026-12-05T06:00:00.005Z", "daemon": "scscf", "kind": "decision",
     "method": "REGISTER", "call_id": "c9", "cseq": 1, "action": "challenge",
     "details": {"scheme": "digest"}, "hint": "first REGISTER answered with a 401"},
    _msg(6, "scscf", "response", "out", 1, status=401, reason="Unauthorized"),
    _msg(7, "pcscf", "response", "in", 1, status=401, reason="Unauthorized"),
    _msg(8, "pcscf", "response", "out", 1, status=401, reason="Unauthorized"),
    _msg(9, "pcscf", "request", "in", 2),
    _msg(10, "pcscf", "request", "out", 2),
    _msg(11, "scscf", "request", "in", 2),
    _msg(12, "scscf", "response", "out", 2, status=503, reason="Service Unavailable",
         action="fault", details={"summary": "rule 1: reply 503"},
         hint="a fault-injection rule changed what we did: reply 503 (rule 1)"),
    _msg(13, "pcscf", "response", "in", 2, status=503, reason="Service Unavailable"),
    _msg(14, "pcscf", "response", "out", 2, status=503, reason="Service Unavailable"),
]

@unittest.skipIf(webdriver is None, "python3-selenium is not installed")
class ConsoleBrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (CHROMIUM, DRIVER):
            if not os.path.exists(path):
                raise unittest.SkipTest(f"{path} is missing (Debian chromium, chromium-driver)")
        os.makedirs(ARTIFACTS, exist_ok=True)
        for f in os.listdir(ARTIFACTS):  # this run's screenshots only
            if f.endswith(".png"):
                os.remove(os.path.join(ARTIFACTS, f))
        hss_port = harness.free_port(both=False)
        hss_url = f"http://127.0.0.1:{hss_port}"
        cls.scscf = harness.Scscf(hss_url, extra=["--hss-token", TOKEN])
        cls.pcscf = harness.Pcscf(f"sip:127.0.0.1:{cls.scscf.sip_port}")
        cls.hss = harness.Hss(port=hss_port, token=TOKEN, extra=[
            "--console-scscf", cls.scscf.url, "--console-pcscf", cls.pcscf.url])
        cls.auth = {"Authorization": "Bearer " + TOKEN}
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,800", "--hide-scrollbars", "--no-first-run",
                  "--disable-extensions", "--disable-background-networking"):
            opts.add_argument(a)
        try:
            cls.browser = webdriver.Chrome(service=Service(DRIVER, log_output=os.devnull),
                                           options=opts)
        except TypeError:  # selenium < 4.10 names the argument log_path
            cls.browser = webdriver.Chrome(service=Service(DRIVER, log_path=os.devnull),
                                           options=opts)
        except WebDriverException as e:
            cls.tearDownClass()
            raise unittest.SkipTest(f"Chromium did not start: {e.msg}")
        cls.browser.set_page_load_timeout(20)
        cls.browser.set_script_timeout(10)

    @classmethod
    def tearDownClass(cls):
        b = getattr(cls, "browser", None)
        if b:
            pid = b.service.process.pid if b.service.process else None
            try:
                b.quit()
            finally:
                if pid:  # chromedriver by its PID, should quit() have left it
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
        for d in ("pcscf", "scscf", "hss"):
            if getattr(cls, d, None):
                getattr(cls, d).stop()

    # ---- helpers ----

    def shot(self, name):
        self.browser.save_screenshot(os.path.join(ARTIFACTS, name + ".png"))

    def q(self, css):
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def wait(self, cond, what, timeout=10):
        try:
            # Tables are re-rendered on refresh: an element may go stale between find and read.
            return WebDriverWait(self.browser, timeout, poll_frequency=0.1,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda b: cond())
        except TimeoutException:
            self.shot("failure-" + what.replace(" ", "-")[:40])
            self.fail(f"timed out waiting for {what}; page says: "
                      f"{self.q('main').text[:1500]}\n{self.logs()}")

    def wait_text(self, css, text, timeout=10):
        return self.wait(lambda: text in self.q(css).text, f"'{text}' in {css}", timeout)

    def logs(self):
        return "\n".join(f"--- {d.name}\n{d.log()[-1500:]}" for d in (self.hss, self.scscf, self.pcscf))

    def click(self, css):
        """Clicks css, finding it again if a refresh replaced it in between."""
        self.wait(lambda: self.q(css).click() or True, f"a click on {css}")

    def fill(self, css, value):
        el = self.q(css)
        el.clear()
        el.send_keys(value)
        return el

    def open(self, tab):
        self.browser.get(f"{self.hss.url}/console/#{tab}")

    def hss_get(self, path):
        return harness.http("GET", self.hss.url + "/api/v1" + path, headers=self.auth)

    def register_ue(self, expires=300, password=harness.DEMO["auth"]["password"]):
        port = harness.free_port()
        rc, trace, out = harness.sipp(
            "pcscf_uac_register.xml", f"127.0.0.1:{self.pcscf.sip_port}",
            extra=["-key", "domain", D, "-key", "user", USER, "-key", "expires", str(expires),
                   "-key", "contact", f"<sip:{USER}@127.0.0.1:{port};ob>", "-p", str(port),
                   "-au", USER, "-ap", password, "-auth_uri", D],
            timeout=15)
        return rc, trace, out

    # ---- the walk-through, in order ----

    def test_0_served_by_each_daemon(self):
        # The HSS serves the page with its settings; each CSCF serves the same page (it then
        # assumes the lab's ports) and has no settings of its own.
        for d in (self.hss, self.scscf, self.pcscf):
            st, h, body = harness.http("GET", d.url + "/console/")
            self.assertEqual(st, 200, d.name)
            self.assertIn("text/html", h["content-type"])
            self.assertIn("IMS lab console", body)
            self.assertEqual(harness.http("GET", d.url + "/console/ladder.js")[0], 200)
        st, _, cfg = harness.http("GET", self.hss.url + "/console/config.json")
        self.assertEqual((st, cfg["scscf"], cfg["pcscf"]), (200, self.scscf.url, self.pcscf.url))
        for d in (self.scscf, self.pcscf):
            self.assertEqual(harness.http("GET", d.url + "/console/config.json")[0], 404)
            self.assertEqual(harness.http("DELETE", d.url + "/console/")[0], 405)

    def test_1_tokens_and_subscribers(self):
        b = self.browser
        self.open("subscribers")
        # Without the token the HSS refuses, and the page says what to do.
        self.wait_text("#list-error", "Enter the HSS token under Tokens")
        self.shot("01-no-token")
        self.q('a[data-tab="settings"]').click()
        self.fill("#s-token-hss", TOKEN)
        self.q("#settings-form button[type=submit]").click()
        self.wait_text("#settings-ok", "Saved")
        self.assertEqual(self.q("#s-token-hss").get_attribute("value"), "")
        self.assertNotIn(TOKEN, b.page_source)
        self.q('a[data-tab="subscribers"]').click()
        self.wait_text("#page-info", "0–0 of 0")

        # Add one digest subscriber through the form.
        self.fill("#f-imsi", "001010000000001")
        self.fill("#f-msisdn", "15550000001")
        self.fill("#f-password", "typed-secret-pw")
        self.q("#f-submit").click()
        self.wait_text("#ok-form", "Subscriber 001010000000001 added")
        self.wait_text("#sub-table tbody", "001010000000001")
        st, _, body = self.hss_get("/subscribers/001010000000001")
        self.assertEqual((st, body["msisdn"]), (200, "15550000001"))
        self.assertEqual(self.q("#f-password").get_attribute("value"), "")
        self.assertNotIn("typed-secret-pw", b.page_source)
        self.shot("02-subscriber-added")

        # Bad IMSI: refused in the page, next to the field, nothing sent.
        self.fill("#f-imsi", "12ab")
        self.fill("#f-password", "x")
        self.q("#f-submit").click()
        self.wait_text("#e-imsi", "IMSI must be 5 to 15 digits")
        self.assertEqual(self.q("#f-imsi").get_attribute("aria-invalid"), "true")
        self.assertEqual(b.switch_to.active_element, self.q("#f-imsi"))
        # Bad hex in the AKA fields.
        self.fill("#f-imsi", "001010000000002")
        self.q('input[name="scheme"][value="aka"]').click()
        self.fill("#f-k", "00112233445566778899aabbccddeeZZ")
        self.fill("#f-opc", "0011")
        self.q("#f-submit").click()
        self.wait_text("#e-k", "K must be exactly 32 hex digits")
        self.wait_text("#e-opc", "OPc (or OP) must be exactly 32 hex digits")
        self.assertEqual(self.q("#e-imsi").text, "")
        self.shot("03-form-errors")
        self.assertEqual(self.hss_get("/subscribers")[2]["total"], 1)
        # A duplicate: the API's own 409 message, next to the IMSI field.
        self.q('input[name="scheme"][value="digest"]').click()
        self.fill("#f-imsi", "001010000000001")
        self.fill("#f-msisdn", "")
        self.fill("#f-password", "another-pw")
        self.q("#f-submit").click()
        self.wait_text("#e-imsi", "HSS answered 409")
        self.assertIn("001010000000001", self.q("#e-imsi").text)
        self.shot("04-duplicate")

        # Bulk add 50 AKA subscribers through the bulk API.
        self.fill("#b-imsi", "001010000001000")
        self.fill("#b-count", "50")
        self.fill("#b-msisdn", "15550001000")
        self.q('input[name="b-scheme"][value="aka"]').click()
        self.fill("#b-k", "465b5ce8b199b49faa5f0a2ee238a6bc")
        self.fill("#b-opc", "cd63cb71954a9f4e48a5994e37a02baf")
        self.q("#b-submit").click()
        self.wait_text("#ok-bulk", "50 subscribers added")
        self.wait_text("#page-info", "of 51")
        st, _, body = self.hss_get("/subscribers?imsi_prefix=00101000000104&limit=1000")
        self.assertEqual(body["total"], 10)
        self.assertEqual(body["items"][0]["msisdn"], "15550001040")
        self.assertEqual(body["items"][0]["auth"]["scheme"], "aka")
        # Typed keys are gone once sent; the same range again: one transaction, refused as a
        # whole, said next to the IMSI.
        self.assertEqual(self.q("#b-k").get_attribute("value"), "")
        self.fill("#b-k", "465b5ce8b199b49faa5f0a2ee238a6bc")
        self.fill("#b-opc", "cd63cb71954a9f4e48a5994e37a02baf")
        self.q("#b-submit").click()
        self.wait_text("#e-b-imsi", "nothing was stored")
        self.assertEqual(self.hss_get("/subscribers")[2]["total"], 51)
        self.shot("05-bulk")

        # Server-side search and paging.
        self.fill("#search-q", "0010100000010")
        self.q("#search-form button[type=submit]").click()
        self.wait_text("#page-info", "1–50 of 50")
        self.q("#page-next").get_attribute("disabled")
        Select(self.q("#search-kind")).select_by_value("msisdn")
        self.fill("#search-q", "15550001007")
        self.q("#search-form button[type=submit]").click()
        self.wait_text("#page-info", "1–1 of 1")
        self.assertIn("001010000001007", self.q("#sub-table tbody").text)
        self.q("#search-clear").click()
        self.wait_text("#page-info", "1–50 of 51")
        self.browser.execute_script("window.scrollTo(0, 0)")
        self.shot("06-list")
        self.browser.set_window_size(1024, 560)  # the smaller picture for docs/console.md
        try:
            self.shot("docs-subscribers")
        finally:
            self.browser.set_window_size(1280, 800)
        self.q("#page-next").click()
        self.wait_text("#page-info", "51–51 of 51")
        self.shot("06-paging-last")

        # SQN reset (PATCH) of an AKA subscriber, from its row.
        self.fill("#search-q", "001010000001049")
        Select(self.q("#search-kind")).select_by_value("imsi")
        self.q("#search-form button[type=submit]").click()
        self.wait_text("#page-info", "1–1 of 1")
        b.execute_script("window.prompt = () => '0000000000ff';")
        self.q('button[aria-label="Reset SQN of 001010000001049"]').click()
        self.wait_text("#sub-table tbody", "SQN 0000000000ff")
        # Delete with confirmation.
        self.q('button[aria-label="Delete 001010000001049"]').click()
        self.wait(lambda: self.q("#confirm").is_displayed(), "the confirmation dialog")
        self.shot("07-delete-confirm")
        self.q("#confirm-ok").click()
        self.wait_text("#page-info", "0–0 of 0")
        self.assertEqual(self.hss_get("/subscribers/001010000001049")[0], 404)
        self.q("#search-clear").click()

    def test_2_registrations(self):
        harness.http("POST", self.hss.url + "/api/v1/subscribers", harness.DEMO, headers=self.auth)
        self.open("registrations")
        self.wait_text("#reg-table tbody", "No live registrations")
        if status_only(self.scscf.http_port, "/api/v1/events") == 404:
            self.wait_text("#reg-mode", "not available on this build: refreshing every 5 s")
        else:
            self.wait_text("#reg-mode", "Live: following the S-CSCF event stream")
        rc, trace, out = self.register_ue()
        self.assertEqual(rc, 0, f"UE registration failed:\n{out}\n{trace}\n{self.logs()}")
        # No reload: the tab refreshes by itself (stream, or the 5 s poll).
        self.wait_text("#reg-table tbody", USER, timeout=12)
        row = self.q("#reg-table tbody").text
        self.assertIn("MicroSIP", row)
        self.assertIn("S-CSCF, P-CSCF", row)
        expiry = "return document.querySelector('#reg-table td.expiry').textContent"
        first = self.browser.execute_script(expiry)
        self.assertRegex(first, r"^\d+ min \d\d s$")
        self.wait(lambda: self.browser.execute_script(expiry) != first, "the expiry countdown")
        self.shot("08-registered")
        # Shorten: where the S-CSCF has POST .../shorten the expiry drops to the value typed;
        # elsewhere the page says the action is not available. (A build without the route
        # reads ".../shorten" as part of the IMPU: its 404 names the whole path.)
        _, _, probe = harness.http("POST", self.scscf.url + "/api/v1/registrations/"
                                   "sip%3Anobody%40x/shorten", {"expires": 60})
        self.browser.execute_script("window.prompt = () => '61';")
        self.click(f'button[aria-label="Shorten {IMPU}"]')
        if "/shorten" in probe.get("message", ""):
            self.wait_text("#reg-action-error", "Shorten is not available on this build")
        else:
            self.wait(lambda: re.match(r"^(1 min 0[01] s|\d\d? s)$",
                                       self.browser.execute_script(expiry)), "the shortened expiry")
        self.click(f'button[aria-label="Deregister {IMPU}"]')
        self.wait(lambda: self.q("#confirm").is_displayed(), "the confirmation dialog")
        self.q("#confirm-ok").click()
        # Gone from the S-CSCF; this build's P-CSCF keeps its cache entry until expiry (it
        # learns of network deregistration by the reg event), shown apart as "P-CSCF only".
        live_rows = ("return [...document.querySelectorAll('#reg-table tbody tr:not(.stale)')]"
                     ".map(r => r.textContent).join(' ')")  # one read: rows are re-rendered
        self.wait(lambda: USER not in self.browser.execute_script(live_rows),
                  "the registration to go")
        self.assertEqual(self.browser.find_elements(
            By.CSS_SELECTOR, f'button[aria-label="Deregister {IMPU}"]'), [])
        st, _, _ = harness.http("GET", self.scscf.url + "/api/v1/registrations/"
                                + urllib.parse.quote(IMPU, safe=""))
        self.assertEqual(st, 404)
        self.shot("09-deregistered")

    def test_3_ladder_renderer(self):
        self.open("ue")
        self.wait(lambda: self.browser.execute_script("return !!document.querySelector('#p-faults .panel-msg').textContent"), "the UE tab")
        n = self.browser.execute_async_script("""
            const [fixture, done] = arguments;
            import('./ue.js').then(u => {
              u.showTimeline(fixture);
              done(document.querySelectorAll('#ladder g.arrow').length);
            }).catch(e => done('error: ' + e));""", FIXTURE)
        # One arrow per message: the forwarded request, the S-CSCF's request and answer logged
        # apart ("kind") around the MAR and its answer, and a transaction entry (request and
        # 503): 1 + 1 + 2 + 1 + 2.
        self.assertEqual(n, 7)
        self.assertIn("5 entries, oldest first", self.q("#p-timeline .panel-msg").text)
        arrows = self.browser.find_elements(By.CSS_SELECTOR, "#ladder g.arrow")
        labels = [a.get_attribute("aria-label") for a in arrows]
        self.assertTrue(labels[0].startswith("UE to P-CSCF: REGISTER (1 REGISTER)"), labels[0])
        self.assertTrue(labels[1].startswith("P-CSCF to S-CSCF: REGISTER"), labels[1])
        self.assertTrue(labels[2].startswith("S-CSCF to HSS: MAR"), labels[2])
        self.assertTrue(labels[3].startswith("HSS to S-CSCF: 200 OK"), labels[3])
        self.assertTrue(labels[4].startswith("S-CSCF to P-CSCF: 401 Unauthorized"), labels[4])
        self.assertIn("challenged (digest)", labels[4])
        self.assertIn("a fault-injection rule changed what we did", labels[6])
        self.assertIn("fail", arrows[6].get_attribute("class"))
        self.assertNotIn("fail", arrows[4].get_attribute("class"))
        svg_text = self.q("#ladder svg").text
        self.assertIn("rejected 503 by fault rule 1", svg_text)
        # Click a response: its own text; Enter on a request (keyboard): the request's.
        arrows[4].click()
        self.wait_text("#message-raw", "WWW-Authenticate: Digest realm=x")
        self.assertIn("Response: 401", self.q("#message-h").text)
        arrows[1].send_keys("\n")
        self.wait(lambda: "REGISTER sip:ims.example" in self.q("#message-raw").text,
                  "the request text")
        self.browser.execute_script("document.getElementById('p-timeline').scrollIntoView()")
        self.shot("10-ladder-fixture")
        self.q("#p-timeline").screenshot(os.path.join(ARTIFACTS, "docs-ladder.png"))

    def test_3b_ladder_cscf_shape(self):
        self.open("ue")
        self.wait(lambda: self.q("#p-faults .panel-msg").text, "the UE tab")
        labels = self.browser.execute_async_script("""
            const [fixture, done] = arguments;
            import('./ue.js').then(u => {
              u.showTimeline(fixture);
              done([...document.querySelectorAll('#ladder g.arrow')].map(a => a.getAttribute('aria-label')));
            }).catch(e => done(['error: ' + e]));""", CSCF_FIXTURE)
        want = ["UE to P-CSCF: REGISTER (1)", "P-CSCF to S-CSCF: REGISTER (1)",
                "S-CSCF to P-CSCF: 401 Unauthorized (1)", "P-CSCF to UE: 401 Unauthorized (1)",
                "UE to P-CSCF: REGISTER (2)", "P-CSCF to S-CSCF: REGISTER (2)",
                "S-CSCF to P-CSCF: 503 Service Unavailable (2)",
                "P-CSCF to UE: 503 Service Unavailable (2)"]
        self.assertEqual([lab.split(".")[0] for lab in labels], want, labels)
        self.assertIn("forward. forwarded toward the S-CSCF", labels[1])
        self.assertIn("challenge (digest). first REGISTER answered with a 401", labels[2])
        self.assertIn("fault: rule 1: reply 503", labels[6])
        arrows = self.browser.find_elements(By.CSS_SELECTOR, "#ladder g.arrow")
        self.assertIn("fail", arrows[6].get_attribute("class"))
        arrows[6].click()
        self.wait_text("#message-raw", "response out at scscf, CSeq 2")
        self.assertEqual(self.q("#message-h").text,
                         "Response: 503 Service Unavailable — sent by scscf over UDP")
        self.shot("10b-ladder-cscf-shape")

    def test_3c_ipsec_table_hides_keys(self):
        self.open("ue")
        self.wait(lambda: self.q("#p-faults .panel-msg").text, "the UE tab")
        sa = {"impi": "001010000000001@x", "state": "active", "dir": "in", "spi": 5001,
              "src": "127.0.0.1", "dst": "127.0.0.1", "sport": 5064, "dport": 5066,
              "alg": "hmac-sha-1-96", "ealg": "aes-cbc", "packets": 3, "bytes": 900,
              "auth_key": "00112233445566778899aabbccddeeff00112233",
              "enc_key": "ffeeddccbbaa99887766554433221100"}
        other = dict(sa, impi="999@x", spi=7777)
        text = self.browser.execute_async_script("""
            const [sas, done] = arguments;
            import('./ue.js').then(u => {
              u.showSas(sas, '001010000000001@x', 'sip:x');
              done(document.getElementById('p-ipsec').innerText);
            }).catch(e => done('error: ' + e));""", [sa, other])
        self.assertIn("5001", text)
        self.assertIn("hmac-sha-1-96", text)
        self.assertNotIn("7777", text)  # another UE's SA
        for secret in ("auth_key", "enc_key", sa["auth_key"], sa["enc_key"]):
            self.assertNotIn(secret, text)
            self.assertNotIn(secret, self.browser.page_source)

    def test_4_ue_panels(self):
        rc, trace, out = self.register_ue()
        self.assertEqual(rc, 0, out)
        self.browser.get(f"{self.hss.url}/console/#ue/" + urllib.parse.quote(IMPU, safe=""))
        self.wait(lambda: "Loading" not in self.q("#p-faults .panel-msg").text
                  and self.q("#p-faults .panel-msg").text, "the UE panels")
        self.wait(lambda: "Loading" not in self.q("#p-timeline .panel-msg").text, "the timeline panel")
        self.shot("11-ue-panels")
        # The IPsec panel: the P-CSCF's SA list (this UE registered with digest: none), or
        # "not available" on a build without it; never a key column either way.
        ipsec = self.q("#p-ipsec .panel-msg").text
        if status_only(self.pcscf.http_port, "/api/v1/ipsec/sas") == 404:
            self.assertIn("not available on this build", ipsec)
        else:
            self.assertIn("No security associations for this UE", ipsec)
        self.assertNotIn("key", self.q("#p-ipsec").text.lower())
        if status_only(self.scscf.http_port, "/api/v1/timeline?impu="
                       + urllib.parse.quote(IMPU, safe="")) == 404:
            self.assertIn("not available on this build", self.q("#p-timeline .panel-msg").text)
            self.assertIn("not available on this build", self.q("#p-faults .panel-msg").text)
            self.assertIn("not available on this build", self.q("#p-pcap .panel-msg").text)
            self.skipTest("the S-CSCF has no /api/v1/timeline on this build: the live ladder "
                          "with a 503 fault is not exercised")
        # The timeline API exists: the registration is in the ladder; arm a 503 for the next
        # REGISTER from the form, register again, and see the refusal with its hint.
        self.wait(lambda: self.browser.find_elements(By.CSS_SELECTOR, "#ladder g.arrow"),
                  "the registration in the ladder")
        Select(self.q("#fa-where")).select_by_value("scscf")
        Select(self.q("#fa-action")).select_by_value("reply")
        self.fill("#fa-code", "503")
        self.fill("#fa-retry", "30")
        self.q("#fault-form button[type=submit]").click()
        self.wait_text("#fault-table", "503")
        self.assertEqual(self.q("#e-fault").text, "")
        rc, _, _ = self.register_ue()
        self.assertNotEqual(rc, 0, "the REGISTER should have been refused by the fault rule")
        self.q("#ue-form button[type=submit]").click()
        labels = ("return [...document.querySelectorAll('#ladder g.arrow')]"
                  ".map(a => a.getAttribute('aria-label')).join('\\n')")
        self.wait(lambda: "503" in self.browser.execute_script(labels), "a 503 in the ladder")
        self.assertRegex(self.browser.execute_script(labels), r"503[^\n]*fault",
                         "the 503 arrow carries the fault's decision or hint")
        self.shot("12-ladder-503")

    def test_5_overview_and_phone_width(self):
        # A wrong password: a 403 the failures chart must show.
        rc, _, _ = self.register_ue(password="wrong-password")
        self.assertNotEqual(rc, 0)
        self.open("overview")
        self.wait(lambda: "403 auth_failed" in self.q("#chart-failures").text,
                  "the 403 in the failures chart")
        self.wait(lambda: len(self.browser.find_elements(By.CSS_SELECTOR, "#chart-bindings svg")) == 1,
                  "the charts")
        self.wait(lambda: "S-CSCF: " in self.q("#chart-bindings").text, "bindings values")
        self.assertIn("reason", self.browser.execute_script(
            "return document.querySelector('#chart-failures svg').getAttribute('aria-label') + ' reason'"))
        self.shot("13-overview")
        # Keyboard: the tab links work with Enter; Tab moves from the search field to its
        # button, which shows a visible focus ring.
        self.q('a[data-tab="subscribers"]').send_keys(Keys.ENTER)
        self.wait_text("#page-info", "of")
        self.q("#search-q").click()
        ActionChains(self.browser).send_keys(Keys.TAB).perform()
        focus = self.browser.execute_script(
            "const a = document.activeElement, s = getComputedStyle(a);"
            "return [a.textContent, s.outlineStyle, s.outlineWidth];")
        self.assertEqual(focus[0], "Search", focus)
        self.assertNotEqual(focus[1], "none", focus)
        self.browser.set_window_size(390, 844)
        try:
            self.shot("14-phone-subscribers")
            width = self.browser.execute_script("return document.documentElement.scrollWidth")
            self.assertLessEqual(width, 400, "the subscriber list scrolls sideways at phone width")
            self.open("registrations")
            self.wait(lambda: self.q("#reg-table tbody").text, "registrations")
            self.shot("15-phone-registrations")
        finally:
            self.browser.set_window_size(1280, 800)


if __name__ == "__main__":
    harness.main()
