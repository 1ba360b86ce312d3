"""Run a real Saleor (the one the user points at) with this plugin, for demos and
smoke checks: migrate, start the API server, talk GraphQL over HTTP, stop.

Nothing here installs or builds Saleor: SALEOR_PYTHON must already be a Python
that imports saleor (SALEOR_SRC is put on its path for a source checkout).
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_ID = "saleor-store-credit"
DEMO_PASSWORD = "store-credit-demo"

# A staff superuser and a shopper with known passwords (demo database only).
SETUP_USERS = f"""
from saleor.account.models import User
for email, staff in [("staff@example.com", True), ("shopper@example.com", False)]:
    user, _ = User.objects.get_or_create(email=email)
    user.is_staff = staff
    user.is_superuser = staff
    user.is_active = True
    user.set_password("{DEMO_PASSWORD}")
    user.save()
    if staff:
        # Saleor gives staff their channels through permission groups: a superuser in
        # no group has no accessible channel for order mutations (orderCancel, ...).
        from saleor.account.models import Group
        from saleor.permission.models import Permission
        group, _ = Group.objects.get_or_create(
            name="Full access (store credit demo)",
            defaults={{"restricted_access_to_channels": False}},
        )
        group.permissions.set(Permission.objects.all())
        group.user_set.add(user)
"""


ADDRESS = {
    "firstName": "Sam", "lastName": "Shopper", "streetAddress1": "1470 Pinewood Avenue",
    "city": "PONTIAC", "postalCode": "48340", "country": "US", "countryArea": "MI",
}


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


class Saleor:
    def __init__(self, *, database: str, port: int):
        self.python = os.environ.get("SALEOR_PYTHON", "")
        self.src = os.environ.get("SALEOR_SRC", "")
        if not self.python:
            fail(
                "SALEOR_PYTHON is not set. Point it at the Python of a Saleor 3.23 "
                "virtualenv, and SALEOR_SRC at the Saleor checkout, e.g.\n"
                "  SALEOR_PYTHON=~/saleor/.venv/bin/python SALEOR_SRC=~/saleor make demo"
            )
        self.env = dict(os.environ)
        if self.src:
            self.env["PYTHONPATH"] = os.pathsep.join(
                p for p in [self.src, self.env.get("PYTHONPATH", "")] if p
            )
        check = subprocess.run(
            [self.python, "-c", "import saleor, sys; print(saleor.__version__)"],
            env=self.env, capture_output=True, text=True,
        )
        if check.returncode != 0:
            fail(
                f"{self.python} cannot import saleor"
                + ("" if self.src else " (set SALEOR_SRC to the Saleor checkout)")
                + f":\n{check.stderr.strip()[-400:]}"
            )
        self.version = check.stdout.strip()
        host = self.env.get("PGHOST", "127.0.0.1")
        user = self.env.get("PGUSER", "postgres")
        self.database = database
        self.env.update(
            {
                "DATABASE_URL": f"postgres://{user}@{host}:5432/{database}",
                "SECRET_KEY": self.env.get("SECRET_KEY") or secrets.token_hex(32),
                "ALLOWED_HOSTS": "localhost,127.0.0.1",
                "ALLOWED_CLIENT_HOSTS": "localhost,127.0.0.1",
                "DEBUG": "True",
                "CELERY_BROKER_URL": self.env.get(
                    "CELERY_BROKER_URL", "redis://127.0.0.1:6379/7"
                ),
                "HTTP_IP_FILTER_ALLOW_LOOPBACK_IPS": "True",
                "PUBLIC_URL": f"http://127.0.0.1:{port}",
                # One signing key for every process: without it each API worker makes
                # its own temporary key and refuses the tokens the others issued.
                "RSA_PRIVATE_KEY": self.env.get("RSA_PRIVATE_KEY") or subprocess.run(
                    ["openssl", "genrsa", "2048"], capture_output=True, text=True,
                    check=True).stdout,
            }
        )
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_dir = ROOT / "artifacts"
        self.processes: list[subprocess.Popen] = []

    def step(self, text: str) -> None:
        print(f"-> {text}", flush=True)

    def install_plugin(self) -> None:
        if os.environ.get("SC_NO_INSTALL"):
            # Leave Saleor's environment alone (several checkouts share one venv):
            # this checkout goes first on the path of every process we start.
            self.step("using saleor-store-credit from this checkout (SC_NO_INSTALL)")
            self.env["PYTHONPATH"] = os.pathsep.join(
                p for p in [str(ROOT), self.env.get("PYTHONPATH", "")] if p
            )
            return
        self.step("installing saleor-store-credit into Saleor's environment")
        subprocess.run(
            [self.python, "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)],
            env=self.env, check=True,
        )

    def ensure_database(self) -> None:
        exists = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc",
             f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        if not exists:
            subprocess.run(
                ["createdb", "-h", "127.0.0.1", "-U", "postgres", self.database],
                check=True,
            )

    def manage(self, *args: str, quiet: bool = False) -> str:
        result = subprocess.run(
            [self.python, "manage.py", *args], cwd=self.src or None, env=self.env,
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            fail(f"manage.py {' '.join(args)} failed:\n{result.stderr[-2000:]}")
        return result.stdout

    def migrate(self) -> None:
        self.step(f"migrating database {self.database} (first run: a few minutes)")
        out = self.manage("migrate", "--no-input")
        applied = [line for line in out.splitlines() if "saleor_store_credit" in line]
        for line in applied:
            print("   " + line.strip())
        self.manage("showmigrations", "saleor_store_credit")

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code)

    def log(self, name: str):
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return open(self.log_dir / f"{name}.log", "w")

    def start_api(self, workers: int = 1) -> None:
        """Saleor's ASGI app under uvicorn. With several workers: that many uvicorn
        processes sharing one listening socket (`--fd`), so the kernel spreads the
        connections. Not `uvicorn --workers`: its supervisor kills a child that does
        not answer a ping within 5 s, which a loaded machine's Saleor import can miss,
        over and over."""
        self.step(f"starting Saleor {self.version} API at {self.url}"
                  + (f" ({workers} worker processes)" if workers > 1 else ""))
        log = self.log("saleor-api")
        if workers == 1:
            commands = [(["--host", "127.0.0.1", "--port", str(self.port)], ())]
        else:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(1024)
            listener.set_inheritable(True)
            self.listener = listener
            commands = [(["--fd", str(listener.fileno())], (listener.fileno(),))] * workers
        started = []
        for args, fds in commands:
            process = subprocess.Popen(
                [self.python, "-m", "uvicorn", "saleor.asgi:application", *args,
                 "--lifespan", "auto", "--no-access-log"],  # as Saleor's Dockerfile
                cwd=self.src or None, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=fds,
            )
            self.processes.append(process)
            started.append(process)
        # a loaded machine imports Saleor slowly: SC_API_START_SECONDS
        deadline = time.time() + int(os.environ.get("SC_API_START_SECONDS", 300 + 60 * workers))
        while time.time() < deadline:
            if any(p.poll() is not None for p in started):
                fail(f"the API server exited; see {self.log_dir}/saleor-api.log")
            text = (self.log_dir / "saleor-api.log").read_text(errors="replace")
            if text.count("Uvicorn running on") >= len(started):
                try:
                    urllib.request.urlopen(f"{self.url}/health/", timeout=5)
                    return
                except (urllib.error.URLError, ConnectionError, OSError):
                    pass
            time.sleep(0.5)
        fail("the API server did not answer in time")

    def start_worker(self, concurrency: int = 1) -> None:
        """A Celery worker: `solo` for one, `prefork` (Saleor's default) for more."""
        self.step("starting a Celery worker"
                  + (f" ({concurrency} processes)" if concurrency > 1 else ""))
        pool = ["--pool", "solo"] if concurrency == 1 else ["--pool", "prefork"]
        self.processes.append(
            subprocess.Popen(
                [self.python, "-m", "celery", "--app", "saleor.celeryconf:app",
                 "worker", "--loglevel", "info", "--concurrency", str(concurrency), *pool],
                cwd=self.src or None, env=self.env, stdout=self.log("saleor-worker"),
                stderr=subprocess.STDOUT,
            )
        )

    def start_beat(self, scheduler: str | None = None) -> None:
        """`celery beat` with Celery's default scheduler (as under `celery worker -B`), or
        Saleor's `saleor.schedulers.schedulers.DatabaseScheduler`."""
        self.step(f"starting celery beat ({scheduler or 'default scheduler'})")
        args = ["--scheduler", scheduler] if scheduler else [
            "--schedule", str(self.log_dir / "celerybeat-schedule")]
        self.processes.append(
            subprocess.Popen(
                [self.python, "-m", "celery", "--app", "saleor.celeryconf:app", "beat",
                 "--loglevel", "info", *args],
                cwd=self.src or None, env=self.env, stdout=self.log("saleor-beat"),
                stderr=subprocess.STDOUT,
            )
        )

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    def graphql(self, path: str, query: str, variables=None, token=None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            self.url + path, data=body, headers={"Content-Type": "application/json"}
        )
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return {"http_status": exc.code, "body": exc.read().decode()[:2000]}

    def saleor(self, query, variables=None, token=None):
        return self.graphql("/graphql/", query, variables, token)

    def store_credit(self, query, variables=None, token=None):
        return self.graphql(f"/plugins/global/{PLUGIN_ID}/graphql/", query, variables, token)

    def login_staff(self, email: str, password: str) -> None:
        """Remember a staff login; `staff_token` stays fresh from then on."""
        self._staff_login = (email, password)
        self._staff_token = (self.token(email, password), time.time())

    @property
    def staff_token(self) -> str:
        # Saleor's access tokens live JWT_TTL_ACCESS (5 minutes by default); a long
        # run (a busy machine) logs in again before the token runs out
        token, issued = self._staff_token
        if time.time() - issued > 240 and getattr(self, "_staff_login", None):
            self.login_staff(*self._staff_login)
            token = self._staff_token[0]
        return token

    @staff_token.setter
    def staff_token(self, token: str) -> None:
        """A token set by hand is used as it is (no renewal)."""
        self._staff_login = None
        self._staff_token = (token, time.time())

    def token(self, email: str, password: str) -> str:
        data = self.saleor(
            "mutation($e: String!, $p: String!) { tokenCreate(email: $e, password: $p)"
            " { token errors { message } } }",
            {"e": email, "p": password},
        )
        token = (data.get("data") or {}).get("tokenCreate", {}).get("token")
        if not token:
            fail(f"could not log in {email}: {data}")
        return token

    def ready_checkout(self, token: str, email: str, channel: str, quantity: int = 2):
        """A checkout of the sample catalogue's dearest shippable product, with
        addresses and the first shipping method: (checkout, product name, total)."""
        from decimal import Decimal

        products = self.saleor(
            """query ($c: String) { products(first: 50, channel: $c) { edges { node { name
               productType { isShippingRequired kind } variants {
               id quantityAvailable(countryCode: US) pricing { price { gross { amount } } } } } } } }""",
            {"c": channel}, token=token,
        )
        candidates = [
            (Decimal(str(v["pricing"]["price"]["gross"]["amount"])), node["name"], v["id"])
            for edge in products["data"]["products"]["edges"]
            for node in [edge["node"]] for v in node["variants"] or []
            if (v["quantityAvailable"] or 0) >= quantity and v["pricing"]
            and node["productType"]["isShippingRequired"]
            and node["productType"]["kind"] == "NORMAL"
        ]
        if not candidates:
            fail("no purchasable product in the sample catalogue")
        _price, name, variant_id = max(candidates)
        created = self.saleor(
            """mutation ($input: CheckoutCreateInput!) { checkoutCreate(input: $input) {
               checkout { id shippingMethods { id name } } errors { field code message } } }""",
            {"input": {"channel": channel, "email": email,
                       "lines": [{"variantId": variant_id, "quantity": quantity}],
                       "shippingAddress": ADDRESS, "billingAddress": ADDRESS}},
            token=token,
        )["data"]["checkoutCreate"]
        if created["errors"]:
            fail(f"checkoutCreate: {created['errors']}")
        checkout = created["checkout"]
        delivery = self.saleor(
            """mutation ($id: ID!, $m: ID!) { checkoutDeliveryMethodUpdate(id: $id,
               deliveryMethodId: $m) { checkout { totalPrice { gross { amount } } }
               errors { message } } }""",
            {"id": checkout["id"], "m": checkout["shippingMethods"][0]["id"]}, token=token,
        )["data"]["checkoutDeliveryMethodUpdate"]
        if delivery["errors"]:
            fail(f"checkoutDeliveryMethodUpdate: {delivery['errors']}")
        total = Decimal(str(delivery["checkout"]["totalPrice"]["gross"]["amount"]))
        return checkout, name, total
