"""A real Home Assistant Core for the tests: its Python (``make ha-venv``: HA 2025.x needs Python 3.13, the project
3.11, so HA lives in its own venv), probe scripts run under it, and an HA process started on a minimal config that
talks to the test's Mosquitto, read back through its REST API and its log, stopped by PID.

The config is written before the first start, so HA has nothing to create or ask: ``configuration.yaml`` with only
``http`` (loopback, a free port) and ``api``; the MQTT integration as a config entry in ``.storage`` (HA 2022.3+
takes the broker only from a config entry); an owner user with a long-lived token in ``.storage/auth``, whose JWT the
test signs itself, as HA does (HS256 with the refresh token's key, ``iss`` its id). No ``default_config``, no
recorder, no onboarding, ``--skip-pip``: nothing is downloaded at start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.brokers import BinaryMissing, free_port, stop_process

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "tests" / "ha" / "requirements.txt"
PROBES = REPO / "tests" / "ha"
#: The pinned version (``homeassistant==X`` in tests/ha/requirements.txt): the one the tests and docs speak of.
HA_VERSION = re.search(r"^homeassistant==(\S+)", REQUIREMENTS.read_text(), re.M).group(1)  # type: ignore[union-attr]


def ha_venv() -> Path:
    return Path(os.environ.get("WATTCAST_HA_VENV", REPO / ".ha-venv"))


def ha_python() -> Path:
    """The HA venv's Python, or :class:`BinaryMissing` saying how to get it (a skip locally, a failure under CI)."""
    python = ha_venv() / "bin" / "python"
    hass = ha_venv() / "bin" / "hass"
    if not (python.is_file() and hass.is_file()):
        raise BinaryMissing(
            f"Home Assistant Core {HA_VERSION} is not installed in {ha_venv()}: run `make ha-venv` (it needs Python "
            "3.13: `pyenv install 3.13`, or HA_PYTHON=/path/to/python3.13; a few minutes from PyPI), or set "
            "WATTCAST_HA_VENV to a venv that has it"
        )
    return python


def run_probe(script: str, stdin: Any, timeout_s: float = 120.0) -> Any:
    """Run ``tests/ha/<script>`` under HA's Python with ``stdin`` as JSON; its JSON answer on stdout."""
    done = subprocess.run(
        [str(ha_python()), str(PROBES / script)],
        input=json.dumps(stdin),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token(refresh_token_id: str, jwt_key: str, lifetime_s: int = 3600) -> str:
    """An HS256 JWT as HA's ``AuthManager.async_create_access_token`` makes it for a long-lived refresh token."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"iss": refresh_token_id, "iat": now, "exp": now + lifetime_s}).encode())
    signature = hmac.new(jwt_key.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(signature)}"


def _storage(key: str, data: dict[str, Any], version: int = 1, minor_version: int = 1) -> str:
    return json.dumps({"version": version, "minor_version": minor_version, "key": key, "data": data}, indent=1)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


@dataclass
class HomeAssistantCore:
    """One ``hass`` process on a config in ``config_dir``, its MQTT integration on ``broker_port``."""

    config_dir: Path
    broker_port: int
    #: more of ``configuration.yaml`` (e.g. ``mqtt_statestream:``), for integrations without requirements
    extra_config: str = ""
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _token: str = ""

    @property
    def log_path(self) -> Path:
        return self.config_dir / "home-assistant.log"

    def write_config(self) -> None:
        storage = self.config_dir / ".storage"
        storage.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "configuration.yaml").write_text(
            "homeassistant:\n  name: wattcast test\n  time_zone: UTC\n  unit_system: metric\n"
            "  latitude: 0\n  longitude: 0\n  elevation: 0\n  country: GB\n  currency: EUR\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {self.http_port}\n"
            "api:\n"
            "logger:\n  default: info\n" + self.extra_config
        )
        now = _now_iso()
        mqtt_entry = {
            "created_at": now,
            "data": {"broker": "127.0.0.1", "port": self.broker_port},
            "disabled_by": None,
            "discovery_keys": {},
            "domain": "mqtt",
            "entry_id": uuid.uuid4().hex,
            "minor_version": 2,
            "modified_at": now,
            "options": {"discovery": True, "discovery_prefix": "homeassistant"},
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "subentries": [],
            "title": "127.0.0.1",
            "unique_id": None,
            "version": 1,
        }
        (storage / "core.config_entries").write_text(
            _storage("core.config_entries", {"entries": [mqtt_entry]}, minor_version=5)
        )
        user_id, token_id, jwt_key = uuid.uuid4().hex, uuid.uuid4().hex, hashlib.sha256(os.urandom(32)).hexdigest()
        auth = {
            "users": [
                {
                    "id": user_id,
                    "group_ids": ["system-admin"],
                    "is_owner": True,
                    "is_active": True,
                    "name": "wattcast test",
                    "system_generated": False,
                    "local_only": False,
                }
            ],
            "groups": [{"id": "system-admin", "name": "Administrators"}],
            "credentials": [],
            "refresh_tokens": [
                {
                    "id": token_id,
                    "user_id": user_id,
                    "client_id": None,
                    "client_name": "wattcast tests",
                    "client_icon": None,
                    "token_type": "long_lived_access_token",
                    "created_at": now,
                    "access_token_expiration": 3600.0,
                    "token": hashlib.sha256(os.urandom(32)).hexdigest(),
                    "jwt_key": jwt_key,
                    "last_used_at": None,
                    "last_used_ip": None,
                    "expire_at": None,
                    "credential_id": None,
                    "version": HA_VERSION,
                }
            ],
        }
        (storage / "auth").write_text(_storage("auth", auth))
        self._token = access_token(token_id, jwt_key)

    def start(self, timeout_s: float = 90.0) -> HomeAssistantCore:
        """Start ``hass`` and wait until its API answers and the MQTT integration is set up. The config is written
        on the first start only: a restart keeps what HA stored (entity registry, restored states)."""
        hass = ha_python().parent / "hass"
        if not self._token:
            self.write_config()
        with (self.config_dir / "hass.stderr").open("wb") as stderr:  # never a pipe nobody reads
            self.process = subprocess.Popen(
                [str(hass), "-c", str(self.config_dir), "--skip-pip", "--log-file", str(self.log_path)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        started = time.monotonic()
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hass exited {self.process.returncode}: {self.log_tail()}")
            try:
                if "mqtt" in self.get("/api/config")["components"]:
                    log.info("Home Assistant %s up with MQTT in %.1f s", HA_VERSION, time.monotonic() - started)
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"Home Assistant did not set up MQTT within {timeout_s} s: {self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM by PID (HA then writes its registries to ``.storage``)."""
        if self.process is not None:
            stop_process(self.process, timeout_s=30.0)
        self.process = None

    def get(self, path: str) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", headers={"Authorization": f"Bearer {self._token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def states(self) -> dict[str, dict[str, Any]]:
        """``/api/states`` by entity id."""
        return {s["entity_id"]: s for s in self.get("/api/states")}

    def log_text(self) -> str:
        """The log of this start and of the one before (HA keeps the previous run's as ``.log.1``)."""
        logs = (self.log_path.with_name(self.log_path.name + ".1"), self.log_path)
        return "".join(path.read_text(errors="replace") for path in logs if path.exists())

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    def restart(self) -> HomeAssistantCore:
        self.stop()
        return self.start()

    def problems(self, *about: str) -> list[str]:
        """Log lines at WARNING or above that mention any of ``about`` (case-insensitive)."""
        words = [w.lower() for w in about]
        return [
            line
            for line in self.log_text().splitlines()
            if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line) and any(w in line.lower() for w in words)
        ]

    def entity_registry(self) -> dict[str, dict[str, Any]]:
        """``.storage/core.entity_registry`` by entity id (complete once HA has stopped)."""
        data = json.loads((self.config_dir / ".storage" / "core.entity_registry").read_text())
        return {e["entity_id"]: e for e in data["data"]["entities"]}
