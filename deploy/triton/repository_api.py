"""Triton's model repository API over HTTP (loopback, no proxy): the watchdog's and the rollout's.

A model's versions share one config. Loading it with a config whose only changes are
`version_policy` (or `instance_group`) loads and unloads versions without touching the others
(tritonserver's ModelLifeCycle: `ConfigChangeRequiresReload` ignores those two fields, r24.09+);
any other change reloads every loaded version. The comparison is with the config as Triton
read it from config.pbtxt, before the backend's auto-complete: the config GET returns differs
(the python backend adds `default_model_filename`, ...), so loads send the on-disk config
(`disk_config`), never the served one. Requests that name no version go to the highest READY
version.
"""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.pbtxt"


def disk_config(model_dir: Path) -> dict[str, Any]:
    """The model's config.pbtxt as the JSON the load API takes."""
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    config = text_format.Parse(
        (model_dir / CONFIG_FILE).read_text(), model_config_pb2.ModelConfig()
    )
    document: dict[str, Any] = json_format.MessageToDict(config, preserving_proto_field_name=True)
    return document


def write_disk_config(model_dir: Path, document: dict[str, Any]) -> None:
    """Replace config.pbtxt (Triton does not count it as a change of the loaded versions)."""
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    config = json_format.ParseDict(document, model_config_pb2.ModelConfig())
    tmp = model_dir / f".{CONFIG_FILE}.tmp"
    tmp.write_text(text_format.MessageToString(config))
    tmp.replace(model_dir / CONFIG_FILE)


class Repository:
    def __init__(self, host: str, port: int, model_repository: Path | None = None) -> None:
        self.host, self.port = host, port
        self.model_repository = model_repository
        """Where the server's models are: loads then send their on-disk config."""

    def _call(
        self, method: str, path: str, timeout: float, body: bytes | None = None
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def index(self) -> list[dict[str, Any]]:
        """One entry per model version Triton knows: name, version, state, reason."""
        status, body = self._call("POST", "/v2/repository/index", timeout=5.0, body=b"{}")
        if status != 200:
            raise ValueError(f"cannot read the repository index (HTTP {status})")
        entries: list[dict[str, Any]] = json.loads(body)
        return entries

    def ready_models(self) -> set[str]:
        try:
            return {m["name"] for m in self.index() if m.get("state") == "READY"}
        except ValueError:
            return set()

    def ready_versions(self, model: str) -> list[int]:
        """The model's READY versions, lowest first."""
        return sorted(
            int(m["version"])
            for m in self.index()
            if m.get("name") == model and m.get("state") == "READY" and m.get("version")
        )

    def config(self, model: str) -> dict[str, Any]:
        status, body = self._call("GET", f"/v2/models/{model}/config", timeout=10.0)
        if status != 200:
            raise ValueError(f"cannot read the config of '{model}' (HTTP {status})")
        config: dict[str, Any] = json.loads(body)
        return config

    def instance_count(self, model: str) -> int:
        """Python-backend instances the model runs (0 for an ensemble: no process of its own)."""
        config = self.config(model)
        if config.get("backend") != "python":
            return 0
        return sum(int(group.get("count", 1)) for group in config.get("instance_group", []))

    def load(self, model: str, config: dict[str, Any] | None, timeout: float) -> str | None:
        """Load `model` (with `config` as its config, if given); None on success, else Triton's
        error message. Returns once every version the config names is loaded or failed."""
        parameters = {"config": json.dumps(config)} if config is not None else {}
        request = json.dumps({"parameters": parameters}).encode()
        path = f"/v2/repository/models/{model}/load"
        status, body = self._call("POST", path, timeout=timeout, body=request)
        if status == 200:
            return None
        try:
            return str(json.loads(body).get("error", body[:200]))
        except ValueError:
            return body[:200].decode(errors="replace")

    def load_versions(self, model: str, versions: list[int], timeout: float) -> str | None:
        """Serve exactly `versions` of `model`: its on-disk config with `version_policy` set to
        them (nothing else changed, so the versions already loaded stay as they are)."""
        if self.model_repository is None:
            return "load_versions needs the model repository (its on-disk config)"
        config = disk_config(self.model_repository / model)
        return self.load(model, with_versions(config, versions), timeout)

    def reload(self, model: str, timeout: float) -> str | None:
        """Fresh instances of every READY version of `model`; None on success, else Triton's
        error message.

        A plain load of a loaded model whose files did not change is a no-op in Triton 2.51
        (measured: it returned at once, the dead instance stayed). So the load carries the
        model's own config with one parameter changed: a new config forces fresh instances,
        and the old ones are retired only once those are ready. Its version policy names the
        versions READY now, so a version unloaded on purpose (a rollout) is not brought back.
        With the model repository known, the parameter is written into config.pbtxt too, so a
        later rollout's load (from that file) changes nothing but the versions.
        """
        try:
            versions = self.ready_versions(model)
            if self.model_repository is None:
                config = self.config(model)
            else:
                config = disk_config(self.model_repository / model)
        except (ValueError, OSError) as exc:
            return str(exc)
        config.setdefault("parameters", {})["watchdog_reload"] = {
            "string_value": str(time.time_ns())
        }
        if self.model_repository is not None:
            write_disk_config(self.model_repository / model, config)
        if versions:
            config = with_versions(config, versions)
        return self.load(model, config, timeout)

    def infer(
        self, model: str, version: int, inputs: list[dict[str, Any]], timeout: float
    ) -> dict[str, Any]:
        """One HTTP/JSON inference on `version`; ValueError with Triton's message if it fails."""
        body = json.dumps({"inputs": inputs}).encode()
        path = f"/v2/models/{model}/versions/{version}/infer"
        status, reply = self._call("POST", path, timeout=timeout, body=body)
        try:
            answer: dict[str, Any] = json.loads(reply)
        except ValueError:
            answer = {"error": reply[:200].decode(errors="replace")}
        if status != 200:
            raise ValueError(str(answer.get("error", f"HTTP {status}")))
        return answer


def with_versions(config: dict[str, Any], versions: list[int]) -> dict[str, Any]:
    """`config` with version_policy `specific` naming `versions`."""
    return {**config, "version_policy": {"specific": {"versions": sorted(versions)}}}
