"""Static checks of docker-compose.yml, docker-compose.cpu.yml and deploy/docker/*.Dockerfile.

`make compose-test` (tests/e2e/compose_check/) builds and runs the CPU stack on a real
engine; these checks run in `make test` without one, in well under a second. They hold the
compose file to the Compose Specification's JSON schema (vendored in tests/data/) and to the
local route (`make build`, `make triton`, `make gateway`): same entry points, same lock
files, same repository layout. Each `*_problems` function returns what is wrong (empty: nothing);
the tests assert the real files give no problem, and `test_each_check_catches_its_breakage`
breaks a copy of the files in one way per check and asserts that check reports it.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import json
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = "docker-compose.yml"
SCHEMA_FILE = ROOT / "tests" / "data" / "compose-spec.json"

# The lock file each image installs from, as the local environments do.
LOCKS = {
    "trainer": "requirements/merlin.lock.txt",
    "triton": "requirements/merlin.lock.txt",
    "rollout": "requirements/merlin.lock.txt",
    "gateway": "requirements/gateway.lock.txt",
    "locust": "requirements/loadtest.lock.txt",
}
BASE_IMAGES = {
    "trainer": "nvcr.io/nvidia/merlin/merlin-tensorflow:23.08",
    "triton": "nvcr.io/nvidia/merlin/merlin-tensorflow:23.08",
    "rollout": "nvcr.io/nvidia/merlin/merlin-tensorflow:23.08",
    "gateway": "python:3.11-slim",
    "locust": "python:3.11-slim",
}
NON_ROOT = ("gateway", "locust")
DEPENDS_ON = {
    ("trainer", "redis"): "service_healthy",
    ("triton", "trainer"): "service_completed_successfully",
    ("gateway", "triton"): "service_healthy",
    ("locust", "gateway"): "service_healthy",
}
PROFILES = {"locust": ["bench"], "rollout": ["tools"]}
# Triton as `make run` starts it: the rollout loads and unloads versions through the repository API.
EXPLICIT = {"--model-control-mode": "explicit", "--load-model": "*"}
LOCUSTFILE = "loadtests/locustfile.py"
USER_IDS_IN_BUILD = "feature_repo/data/user_features.parquet"
# Paths of the local route that must stay out of every build context.
IGNORED = (
    ".git/config",
    ".venvs/merlin/bin/python",
    "artifacts/manifest.json",
    ".artifacts.partial/manifest.json",
    "model_repository/executor_model/config.pbtxt",
    "run/triton.log",
    "feature_repo/data/registry.db",
    "services/gateway/__pycache__/main.cpython-311.pyc",
    ".pytest_cache/README.md",
    ".ruff_cache/CACHEDIR.TAG",
    ".mypy_cache/3.11/cache.db",
    ".env",
)
SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL"
)
SECRET_TEXT = (
    re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]*:(?!\$\{)[^\s@/'\"]+@"),  # user:password@host
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
)
ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[= ]\s*(\S+)")
DURATION = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")


# --- reading the files -------------------------------------------------------------------------


@dataclasses.dataclass
class Instruction:
    name: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest of the (joined) line
    heredocs: list[str]  # bodies of `<<EOF` documents that follow the line


@dataclasses.dataclass
class Project:
    """What the checks read; the mutation test breaks a copy of it."""

    root: Path
    compose_text: str
    raw: dict[str, Any]  # docker-compose.yml as written
    compose: dict[str, Any]  # interpolated with an empty environment: the defaults
    dockerfiles: dict[str, str]  # path relative to root -> text
    scripts: dict[str, str]  # deploy/docker/*.sh the Dockerfiles COPY and RUN -> text
    dockerignore: str
    makefile: str


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation (`$$`, `$V`, `${V}`, `${V:-d}`, `${V-d}`, `${V:+x}`)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["named"]
        op, arg = match["op"], match["arg"] or ""
        current = env.get(name)
        if op in (":-", "-"):
            unset = current is None or (op == ":-" and current == "")
            return arg if unset else str(current)
        if op in (":+", "+"):
            isset = current is not None and (op == "+" or current != "")
            return arg if isset else ""
        if op in (":?", "?") and (current is None or (op == ":?" and current == "")):
            raise ValueError(f"${{{name}}} is required: {arg}")
        return current or ""

    return _VARIABLE.sub(replace, value)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and heredoc bodies set aside."""
    instructions: list[Instruction] = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        joined = line
        while joined.endswith("\\"):
            joined = joined[:-1]
            following = next(lines, None)
            if following is None:
                break
            if following.lstrip().startswith("#"):
                joined += "\\"
                continue
            joined += " " + following.strip()
        name, _, args = joined.strip().partition(" ")
        heredocs = []
        for match in re.finditer(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2", args):
            body = []
            for body_line in lines:
                if (body_line.lstrip("\t") if match[1] else body_line) == match[3]:
                    break
                body.append(body_line)
            heredocs.append("\n".join(body))
        instructions.append(Instruction(name.upper(), args.strip(), heredocs))
    return instructions


def copy_sources(instruction: Instruction) -> list[str]:
    """The build-context sources of a COPY/ADD (none for `--from=` or heredoc sources)."""
    args = instruction.args
    flags = re.findall(r"^--\S+\s+", args)
    while flags:
        if flags[0].startswith("--from"):
            return []
        args = args[len(flags[0]) :]
        flags = re.findall(r"^--\S+\s+", args)
    words = json.loads(args) if args.startswith("[") else shlex.split(args)
    return [word for word in words[:-1] if not word.startswith("<<")]


def load_project(root: Path = ROOT) -> Project:
    compose_text = (root / COMPOSE_FILE).read_text()
    raw = yaml.safe_load(compose_text)
    compose = interpolate(raw, {})
    dockerfiles = {}
    for service in compose.get("services", {}).values():
        if isinstance(service, dict) and (build := service.get("build")) is not None:
            path = dockerfile_path(build)
            if (root / path).is_file():
                dockerfiles[path] = (root / path).read_text()
    scripts = {}
    for text in dockerfiles.values():
        for instruction in parse_dockerfile(text):
            for source in copy_sources(instruction) if instruction.name == "COPY" else []:
                if source.endswith(".sh") and (root / source).is_file():
                    scripts[source] = (root / source).read_text()
    ignore = root / ".dockerignore"
    makefile = root / "Makefile"
    return Project(
        root=root,
        compose_text=compose_text,
        raw=raw,
        compose=compose,
        dockerfiles=dockerfiles,
        scripts=scripts,
        dockerignore=ignore.read_text() if ignore.is_file() else "",
        makefile=makefile.read_text() if makefile.is_file() else "",
    )


def dockerfile_path(build: Any) -> str:
    """The Dockerfile of a `build:` entry, relative to the repository root."""
    if isinstance(build, str):
        build = {"context": build}
    context = PurePosixPath(build.get("context", "."))
    return str(PurePosixPath(_normalize(context / build.get("dockerfile", "Dockerfile"))))


def _normalize(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == ".." and parts and parts[-1] != "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts) or "."


def services(project: Project) -> dict[str, dict[str, Any]]:
    return project.compose.get("services") or {}


def command_line(project: Project, name: str) -> str:
    """The service's command as one shell string: compose `command`, else the image's CMD."""
    service = services(project).get(name, {})
    command = service.get("command")
    if command is None:
        instructions = parse_dockerfile(dockerfile_text(project, name))
        cmd = [i for i in instructions if i.name == "CMD"]
        if not cmd:
            return ""
        args = cmd[-1].args
        command = json.loads(args) if args.startswith("[") else args
    if isinstance(command, list):
        if len(command) == 3 and command[0] in ("sh", "bash", "/bin/sh") and command[1] == "-c":
            return str(command[2])
        return shlex.join(str(word) for word in command)
    return str(command)


def commands(script: str) -> list[list[str]]:
    """The simple commands of a shell script: words between `&&`, `||`, `|`, `;`, newlines."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    found: list[list[str]] = [[]]
    for token in lexer:
        if set(token) <= set(";&|\n"):
            found.append([])
        else:
            found[-1].append(token)
    return [words for words in found if words]


def find_command(line: str, *prefix: str) -> list[str] | None:
    for words in commands(line):
        if words[: len(prefix)] == list(prefix):
            return words
    return None


def option(words: list[str], name: str) -> str | None:
    for index, word in enumerate(words):
        if word == name and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def dockerfile_text(project: Project, name: str) -> str:
    build = services(project).get(name, {}).get("build")
    return project.dockerfiles.get(dockerfile_path(build), "") if build is not None else ""


def mounts(service: dict[str, Any]) -> Iterator[tuple[str, str, str, bool]]:
    """(type, source, target, read_only) of each volume entry, short or long syntax."""
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            kind = entry.get("type", "volume")
            yield kind, str(entry.get("source", "")), entry["target"], bool(entry.get("read_only"))
            continue
        parts = str(entry).split(":")
        source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        yield kind, source, target, len(parts) > 2 and "ro" in parts[2].split(",")


def volume_at(service: dict[str, Any], path: str) -> tuple[str, str] | None:
    """(volume name, mount target) of the named volume that holds `path` in the container."""
    best: tuple[str, str] | None = None
    for kind, source, target, _ in mounts(service):
        inside = path == target or path.startswith(target.rstrip("/") + "/")
        if kind == "volume" and source and inside and (best is None or len(target) > len(best[1])):
            best = (source, target)
    return best


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def dockerignored(patterns: str, path: str) -> bool:
    """Whether `path` (relative to the context) is left out by these .dockerignore rules."""
    ignored = False
    for raw in patterns.splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        rule = rule.lstrip("!").strip().strip("/")
        regex = ""
        for token in re.split(r"(\*\*/?|\*|\?|\[[^\]]*\])", rule):
            if token.startswith("**"):
                regex += "(.*/)?" if token.endswith("/") else ".*"
            elif token == "*":
                regex += "[^/]*"
            elif token == "?":
                regex += "[^/]"
            elif token.startswith("["):
                regex += token.replace("[!", "[^")
            else:
                regex += re.escape(token)
        # A rule that matches a directory leaves out everything below it.
        if re.fullmatch(regex + "(/.*)?", path):
            ignored = not negate
    return ignored


# --- the checks ----------------------------------------------------------------------------------


def schema_problems(project: Project) -> list[str]:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(project.compose)
    ]


def file_problems(project: Project) -> list[str]:
    """Every build context, Dockerfile, COPY source and host path the compose file names exists."""
    problems = []
    declared = set(project.compose.get("volumes") or {})
    for name, service in services(project).items():
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            if not (project.root / context).is_dir():
                problems.append(f"{name}: build context {context} is not a directory")
            path = dockerfile_path(build)
            if path not in project.dockerfiles:
                problems.append(f"{name}: no Dockerfile {path}")
            for instruction in parse_dockerfile(project.dockerfiles.get(path, "")):
                if instruction.name not in ("COPY", "ADD"):
                    continue
                for source in copy_sources(instruction):
                    problems += _source_problems(project, name, context, source)
        for kind, source, target, _ in mounts(service):
            if kind == "bind" and not (project.root / source).expanduser().exists():
                problems.append(f"{name}: host path {source} (mounted at {target}) does not exist")
            if kind == "volume" and source and source not in declared:
                problems.append(f"{name}: volume {source} is not declared under volumes:")
        for env_file in service.get("env_file") or []:
            path = env_file if isinstance(env_file, str) else env_file["path"]
            if not (project.root / path).is_file():
                problems.append(f"{name}: env_file {path} does not exist")
    return problems


def _source_problems(project: Project, service: str, context: str, source: str) -> list[str]:
    base = project.root / context
    if source in (".", "./"):
        return []
    matches = [path for path in base.glob(source) if path.exists()]
    if not matches:
        return [f"{service}: COPY source {source} does not exist in the build context"]
    problems = []
    for path in matches:
        relative = path.relative_to(base).as_posix()
        if dockerignored(project.dockerignore, relative):
            problems.append(f"{service}: COPY source {relative} is excluded by .dockerignore")
    return problems


def makefile_installs(makefile: str, lock: str) -> bool:
    """`make setup` installs from `lock`: named in a recipe, or through the one environment rule
    (`.venvs/%/.installed: requirements/%.lock.txt`) for an environment `setup` makes."""
    if re.search(rf"-r {re.escape(lock)}(\s|$)", makefile):
        return True
    named = re.fullmatch(r"requirements/([\w-]+)\.lock\.txt", lock)
    rule = re.search(r"^\.venvs/%/\.installed:\s*requirements/%\.lock\.txt\s*$", makefile, re.M)
    if not (named and rule):
        return False
    env = rf"\.venvs/{named.group(1)}"
    variables = re.findall(rf"^(\w+)\s*:?=\s*{env}\s*$", makefile, re.M)
    stamps = [env, *(rf"\$\({variable}\)" for variable in variables)]
    setup = re.search(r"^setup:(.*)$", makefile, re.M)
    return bool(setup and re.search(rf"(^|\s)({'|'.join(stamps)})/\.installed(\s|$)", setup[1]))


def lock_problems(project: Project) -> list[str]:
    """Each image installs from its lock file, with the pip version of the local setup."""
    problems = []
    pins = set(re.findall(r"PIP_VERSION\s*:?=\s*(\S+)", project.makefile))
    pins |= set(re.findall(r"pip==([0-9][^\s\"']*)", project.makefile))
    if len(pins) != 1:
        return [f"cannot tell the pip version of the local setup from the Makefile: {pins}"]
    pip = pins.pop()
    for name, lock in LOCKS.items():
        text = dockerfile_text(project, name)
        if not text:
            problems.append(f"{name}: no Dockerfile")
            continue
        if not makefile_installs(project.makefile, lock):
            problems.append(f"{name}: the local setup (Makefile) does not install from {lock}")
        instructions = parse_dockerfile(text)
        copied = {s for i in instructions if i.name in ("COPY", "ADD") for s in copy_sources(i)}
        if lock not in copied:
            problems.append(f"{name}: the Dockerfile does not COPY {lock}")
        runs = run_text(project, instructions)
        if f"pip install pip=={pip}" not in runs:
            problems.append(f"{name}: the Dockerfile does not install pip=={pip} as the Makefile")
        if name in ("trainer", "triton", "rollout"):
            # Merlin image: install what it lacks, constrained by the lock (not the whole lock).
            uses_lock = lock in runs and re.search(r"pip install[^\n]*(-c|--constraint)\s", runs)
        else:
            uses_lock = re.search(rf"pip install --no-deps -r {re.escape(lock)}(\s|$)", runs)
        if not uses_lock:
            problems.append(f"{name}: no RUN installs from {lock} as the local setup does")
    return problems


def run_text(project: Project, instructions: list[Instruction]) -> str:
    """What the RUN lines execute: their text, heredocs and the copied scripts they run.

    `pip-install.sh [--check] LOCK...` stands for the commands it runs (`pip install pip==X`,
    then `pip install --no-deps -r LOCK` for each LOCK) when the script does exactly that.
    """
    parts = []
    for instruction in (i for i in instructions if i.name == "RUN"):
        parts += [instruction.args, *instruction.heredocs]
        for path, script in project.scripts.items():
            name = PurePosixPath(path).name
            if not re.search(rf"(^|[\s/]){re.escape(name)}(\s|$)", instruction.args):
                continue
            parts.append(script)
            installs = 'python -m pip install --no-deps "$@"' in script
            if name == "pip-install.sh" and installs and '-r "$lock"' in script:
                words = instruction.args.split(name, 1)[1].split()
                parts += [f"pip install --no-deps -r {w}" for w in words if w.endswith(".txt")]
    return "\n".join(parts)


def base_image(project: Project, name: str, compose_args: bool = True) -> str:
    """The image the service's Dockerfile is built FROM, with its ARG defaults and (unless
    compose_args is False) the compose file's build args, interpolated with their defaults."""
    args: dict[str, str] = {}
    build = services(project).get(name, {}).get("build")
    given = build.get("args") if isinstance(build, dict) and compose_args else None
    if isinstance(given, list):
        given = dict(item.split("=", 1) for item in given if "=" in item)
    froms = []
    for instruction in parse_dockerfile(dockerfile_text(project, name)):
        if instruction.name == "ARG":
            key, _, default = instruction.args.partition("=")
            args[key] = str((given or {}).get(key, default))
        elif instruction.name == "FROM":
            froms.append(interpolate(instruction.args.split()[0], args))
    return froms[-1] if froms else ""


def image_problems(project: Project) -> list[str]:
    """Base images, one image for trainer and triton, slim images non-root and minimal."""
    problems = []
    for name, base in BASE_IMAGES.items():
        instructions = parse_dockerfile(dockerfile_text(project, name))
        for compose_args in (True, False):
            built_from = base_image(project, name, compose_args)
            if built_from != base:
                how = "by docker compose" if compose_args else "by default (docker build)"
                problems.append(f"{name}: built FROM {built_from!r} {how}, not {base}")
        if name in NON_ROOT:
            users = [i.args.split(":")[0] for i in instructions if i.name == "USER"]
            if not users or users[-1] in ("root", "0"):
                problems.append(f"{name}: the image runs as root (no non-root USER)")
            for instruction in instructions:
                if instruction.name in ("COPY", "ADD") and {".", "./"} & set(
                    copy_sources(instruction)
                ):
                    problems.append(f"{name}: copies the whole context, not only what it needs")
    redis_image = str(services(project).get("redis", {}).get("image", ""))
    if not re.fullmatch(r"(docker\.io/(library/)?)?redis:[\w.-]+", redis_image):
        problems.append(f"redis: {redis_image!r} is not the official redis image with a tag")
    trainer, triton = services(project).get("trainer", {}), services(project).get("triton", {})
    if trainer.get("build") != triton.get("build") or trainer.get("image") != triton.get("image"):
        problems.append("trainer and triton must run the same image (same build and image)")
    return problems


def entrypoint_problems(project: Project) -> list[str]:
    """The services run the local route's entry points on the same repository layout."""
    problems = []
    svc = services(project)
    trainer = svc.get("trainer", {})
    line = command_line(project, "trainer")
    build = find_command(line, "python", "-m", "training", "build")
    export = find_command(line, "python", "-m", "training", "export")
    if build is None or export is None:
        return ["trainer: does not run `python -m training build` and `python -m training export`"]
    cli = (project.root / "training" / "cli.py").read_text()
    for words in (build, export):
        for flag in (word.split("=")[0] for word in words[4:] if word.startswith("--")):
            if f'add_argument("{flag}"' not in cli:
                problems.append(f"trainer: `training {words[3]}` has no option {flag}")
    problems += _local_route_problems(project.makefile)
    out, built, repository = (
        option(build, "--out"),
        option(export, "--build"),
        option(export, "--out"),
    )
    if out is None or out != built:
        problems.append(f"trainer: export --build {built} is not the build's --out {out}")
    holder = volume_at(trainer, out or "")
    if holder is None or holder[0] != "artifacts" or holder[1] == out:
        problems.append(
            f"trainer: --out {out} must be a folder inside the `artifacts` volume "
            "(the build renames it into place, which a mount point cannot take)"
        )
    exported = volume_at(trainer, repository or "")
    if exported is None or exported[0] != "model_repository":
        problems.append(f"trainer: export --out {repository} is not in the model_repository volume")

    triton = svc.get("triton", {})
    serve = find_command(command_line(project, "triton"), "tritonserver")
    served = option(serve or [], "--model-repository")
    if serve is None or served is None:
        problems.append("triton: does not run `tritonserver --model-repository=...`")
    elif exported is not None:
        holder = volume_at(triton, served)
        relative_export = PurePosixPath(repository or "/").relative_to(exported[1])
        relative_served = PurePosixPath(served).relative_to(holder[1]) if holder else None
        if holder is None or holder[0] != exported[0] or relative_served != relative_export:
            problems.append(
                f"triton: --model-repository={served} is not the exported repository "
                f"({exported[0]} volume, {relative_export})"
            )

    gateway = find_command(command_line(project, "gateway"), "python", "-m", "services.gateway")
    if gateway is None:
        problems.append("gateway: does not run `python -m services.gateway`")
    if not (project.root / "services" / "gateway" / "__main__.py").is_file():
        problems.append("gateway: services/gateway/__main__.py does not exist")

    problems += _locust_problems(project, out)
    return problems


def _local_route_problems(makefile: str) -> list[str]:
    """The local route the compose file mirrors: build dir -> export -> served repository."""
    build = re.search(r"-m training build --out (\S+)", makefile)
    export = re.search(r"-m training export --build (\S+) --out (\S+)", makefile)
    serve = re.search(r"-m deploy\.triton\.launch start --model-repository (\S+)", makefile)
    if serve is None and re.search(r"^\t.*-m deploy\.stack triton\b", makefile, re.M):
        # `make triton` through deploy.stack: it serves $MODEL_REPOSITORY of STACK_ENV.
        serve = re.search(r"^STACK_ENV =.*\bMODEL_REPOSITORY=(\S+)", makefile, re.M)
    if not (build and export and serve and "-m services.gateway" in makefile):
        return ["the local route in the Makefile changed: update docker-compose.yml and this test"]
    if build[1] != export[1] or export[2] != serve[1]:
        return ["the Makefile's build -> export -> triton paths no longer chain as compose's do"]
    return []


def _locust_problems(project: Project, build_dir: str | None) -> list[str]:
    """Locust runs the locustfile headless against the gateway, on the build's known users."""
    problems = []
    svc = services(project)
    locust, gateway = svc.get("locust", {}), svc.get("gateway", {})
    words = find_command(command_line(project, "locust"), "locust") or []
    if option(words, "-f") != LOCUSTFILE and option(words, "--locustfile") != LOCUSTFILE:
        problems.append(f"locust: does not run -f {LOCUSTFILE}")
    if not (project.root / LOCUSTFILE).is_file():
        problems.append(f"locust: {LOCUSTFILE} does not exist")
    if "--headless" not in words:
        problems.append("locust: does not run --headless")
    host = urlsplit(option(words, "--host") or "")
    port = environment(gateway).get("GATEWAY_PORT", "8080")
    # The locustfile targets loopback URLs only: in the gateway's network namespace, that is it.
    in_gateway_network = locust.get("network_mode") == "service:gateway"
    if host.hostname in ("127.0.0.1", "localhost", "::1") and not in_gateway_network:
        problems.append("locust: a loopback --host reaches the gateway only in its network")
    elif host.hostname not in ("gateway", "127.0.0.1", "localhost", "::1"):
        problems.append(f"locust: --host {host.geturl()} is not the gateway")
    if str(host.port) != port:
        problems.append(f"locust: --host port {host.port} is not the gateway's port {port}")
    user_ids = option(words, "--user-ids") or ""
    holder = volume_at(locust, user_ids)
    built = volume_at(svc.get("trainer", {}), build_dir or "")
    if holder is None or built is None or holder[0] != built[0]:
        problems.append(f"locust: --user-ids {user_ids} is not in the trainer's build volume")
    elif (
        PurePosixPath(user_ids).relative_to(holder[1])
        != PurePosixPath(build_dir or "").relative_to(built[1]) / USER_IDS_IN_BUILD
    ):
        problems.append(f"locust: --user-ids {user_ids} is not the build's {USER_IDS_IN_BUILD}")
    # Where the build writes the user table: feature_repo/data/user_features.parquet.
    artifacts = (project.root / "training" / "build" / "artifacts.py").read_text()
    feature_store = (project.root / "training" / "build" / "feature_store.py").read_text()
    if (
        '"feature_repo": "feature_repo"' not in artifacts
        or '"user_features"' not in feature_store
        or '/ "data" / f"{name}.parquet"' not in feature_store
    ):
        problems.append(f"locust: the build no longer writes {USER_IDS_IN_BUILD}")
    return problems


def port_problems(project: Project) -> list[str]:
    """Published ports listen on the loopback unless the operator says otherwise."""
    problems = []
    for name, service in services(project).items():
        if service.get("network_mode") == "host":
            problems.append(f"{name}: network_mode host publishes every port on every interface")
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                host_ip = port.get("host_ip", "")
                published = port.get("published")
            else:
                spec = str(port).rsplit("/", 1)[0]
                head, _, container = spec.rpartition(":")
                host_ip, _, published = head.rpartition(":") if head else ("", "", "")
                published = published or None
            address = str(host_ip).strip("[]")
            try:
                loopback = ipaddress.ip_address(address).is_loopback
            except ValueError:
                loopback = address == "localhost"
            if published is None and not isinstance(port, dict):
                problems.append(f"{name}: port {port} is published on a random host port")
            if not loopback:
                problems.append(f"{name}: port {port} is not bound to 127.0.0.1 by default")
    return problems


def healthcheck_problems(project: Project) -> list[str]:
    problems = []
    svc = services(project)
    for name in ("redis", "triton", "gateway"):
        check = svc.get(name, {}).get("healthcheck")
        if not check or check.get("disable") or not check.get("test"):
            problems.append(f"{name}: no healthcheck")
            continue
        test = check["test"]
        if isinstance(test, list) and test[0] not in ("CMD", "CMD-SHELL"):
            problems.append(f"{name}: healthcheck test must start with CMD or CMD-SHELL: {test[0]}")
        for key in ("interval", "timeout", "start_period"):
            if key in check and not DURATION.match(str(check[key])):
                problems.append(f"{name}: healthcheck {key} {check[key]!r} is not a duration")
    redis = " ".join(_test_words(svc.get("redis", {})))
    if not re.search(r"\bredis-cli\b.*\bping\b", redis):
        problems.append("redis: the healthcheck does not run `redis-cli ping`")
    serve = find_command(command_line(project, "triton"), "tritonserver") or []
    http_port = option(serve, "--http-port") or "8000"
    if not _checks_url(svc.get("triton", {}), http_port, "/v2/health/ready"):
        problems.append(f"triton: the healthcheck does not ask :{http_port}/v2/health/ready")
    port = environment(svc.get("gateway", {})).get("GATEWAY_PORT", "8080")
    gateway = svc.get("gateway", {})
    if not (_checks_url(gateway, port, "/readyz") or _checks_url(gateway, port, "/healthz")):
        problems.append(f"gateway: the healthcheck does not ask :{port}/readyz or /healthz")
    return problems


def _test_words(service: dict[str, Any]) -> list[str]:
    test = (service.get("healthcheck") or {}).get("test") or []
    return [test] if isinstance(test, str) else [str(word) for word in test]


def _checks_url(service: dict[str, Any], port: str, path: str) -> bool:
    for url in re.findall(r"https?://[^\s'\")]+", " ".join(_test_words(service))):
        parts = urlsplit(url)
        loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if loopback and str(parts.port) == port and parts.path == path:
            return True
    return False


def wiring_problems(project: Project) -> list[str]:
    """depends_on conditions, profiles, GPU, and the addresses the services find each other at."""
    problems = []
    svc = services(project)
    for (name, dependency), condition in DEPENDS_ON.items():
        depends = svc.get(name, {}).get("depends_on") or {}
        found = depends.get(dependency, {}).get("condition") if isinstance(depends, dict) else None
        if found != condition:
            problems.append(f"{name}: depends_on {dependency} is {found}, not {condition}")
    for name, service in svc.items():
        expected = PROFILES.get(name)
        if service.get("profiles") != expected:
            problems.append(f"{name}: profiles {service.get('profiles')} (expected {expected})")
    devices = (
        svc.get("triton", {}).get("deploy", {}).get("resources", {}).get("reservations", {})
    ).get("devices") or []
    if not any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices):
        problems.append("triton: no nvidia GPU reservation under deploy.resources.reservations")

    urls = {name: environment(svc.get(name, {})).get("REDIS_URL") for name in ("trainer", "triton")}
    if len(set(urls.values())) != 1 or None in urls.values():
        problems.append(f"trainer and triton must use the same REDIS_URL: {urls}")
    redis_host = urlsplit(urls.get("triton") or "").hostname
    if redis_host != "redis" or "redis" not in svc:
        problems.append(f"REDIS_URL host {redis_host} is not the compose file's redis service")

    problems += _rollout_problems(project)
    env = environment(svc.get("gateway", {}))
    if env.get("GATEWAY_HOST") != "0.0.0.0":
        problems.append("gateway: GATEWAY_HOST must be 0.0.0.0 inside its container")
    serve = find_command(command_line(project, "triton"), "tritonserver") or []
    grpc = f"triton:{option(serve, '--grpc-port') or '8001'}"
    if env.get("GATEWAY_TRITON_URL") != grpc:
        problems.append(f"gateway: GATEWAY_TRITON_URL {env.get('GATEWAY_TRITON_URL')} != {grpc}")
    return problems


def _rollout_problems(project: Project) -> list[str]:
    """Triton in explicit mode without bytecode writes; the rollout reaches it and its Redis."""
    problems = []
    svc = services(project)
    serve = find_command(command_line(project, "triton"), "tritonserver") or []
    for flag, value in EXPLICIT.items():
        if option(serve, flag) != value:
            problems.append(f"triton: {flag}={option(serve, flag)}, not {value}")
    triton_env, env = environment(svc.get("triton", {})), environment(svc.get("rollout", {}))
    if str(triton_env.get("PYTHONDONTWRITEBYTECODE")) != "1":
        problems.append("triton: PYTHONDONTWRITEBYTECODE is not 1 (a version folder would change)")
    # `docker compose run rollout deploy`: arguments replace `command`, the entrypoint stays.
    rollout = svc.get("rollout", {})
    if rollout.get("entrypoint") != ["python", "-m", "deploy.rollout"] or "command" in rollout:
        problems.append("rollout: entrypoint is not `python -m deploy.rollout` (and no command)")
    if "depends_on" in rollout:
        problems.append("rollout: depends_on (`run rollout` would start the trainer again)")
    want = {
        "RECSYS_ROLLOUT_TRITON_HOST": "triton",
        "TRITON_HTTP_PORT": option(serve, "--http-port") or "8000",
        "REDIS_URL": triton_env.get("REDIS_URL"),
    }
    for name, value in want.items():
        if env.get(name) != value:
            problems.append(f"rollout: {name}={env.get(name)}, not {value}")
    mounts = {v.split(":")[1]: v for v in svc.get("rollout", {}).get("volumes", [])}
    repository = mounts.get(str(env.get("MODEL_REPOSITORY")), "")
    served = option(serve, "--model-repository")
    if repository.split(":")[0] != "model_repository" or repository.endswith(":ro"):
        problems.append("rollout: MODEL_REPOSITORY is not the writable model_repository volume")
    elif env.get("MODEL_REPOSITORY") != served:
        problems.append(f"rollout: MODEL_REPOSITORY {env.get('MODEL_REPOSITORY')} != {served}")
    return problems


def secret_problems(project: Project) -> list[str]:
    """No password, token or key is written in the compose file or a Dockerfile."""
    problems = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                literal = isinstance(value, str | int) and str(value) and "${" not in str(value)
                if SECRET_NAME.search(str(key).upper()) and literal:
                    problems.append(f"{where}/{key}: a literal secret")
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, str) and "=" in item:
                    key, value = item.split("=", 1)
                    if SECRET_NAME.search(key.upper()) and value and "${" not in value:
                        problems.append(f"{where}: {key}= a literal secret")
                walk(item, where)

    walk(project.raw, COMPOSE_FILE)
    texts = {COMPOSE_FILE: project.compose_text, **project.dockerfiles}
    for path, text in texts.items():
        problems += [f"{path}: {p.pattern} matches" for p in SECRET_TEXT if p.search(text)]
    for path, text in project.dockerfiles.items():
        for instruction in parse_dockerfile(text):
            if instruction.name in ("ENV", "ARG"):
                for key, value in ASSIGNMENT.findall(instruction.args):
                    if SECRET_NAME.search(key.upper()) and value:
                        problems.append(f"{path}: {instruction.name} {key} holds a literal secret")
    return problems


def dockerignore_problems(project: Project) -> list[str]:
    return [
        f".dockerignore does not keep {path} out of the build context"
        for path in IGNORED
        if not dockerignored(project.dockerignore, path)
    ]


CHECKS: dict[str, Callable[[Project], list[str]]] = {
    "schema": schema_problems,
    "files": file_problems,
    "locks": lock_problems,
    "images": image_problems,
    "entrypoints": entrypoint_problems,
    "ports": port_problems,
    "healthchecks": healthcheck_problems,
    "wiring": wiring_problems,
    "secrets": secret_problems,
    "dockerignore": dockerignore_problems,
}


# --- the tests ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project() -> Project:
    return load_project()


@pytest.mark.parametrize("check", list(CHECKS))
def test_compose_and_dockerfiles(project: Project, check: str) -> None:
    assert CHECKS[check](project) == []


Edit = Callable[[Project], None]


def _service(project: Project, name: str) -> dict[str, Any]:
    return project.raw["services"][name]


def script(path: str, old: str, new: str) -> Edit:
    """Replace text in a script the Dockerfiles copy and run."""

    def edit(project: Project) -> None:
        assert old in project.scripts[path], f"{old!r} not in {path}"
        project.scripts[path] = project.scripts[path].replace(old, new)

    return edit


def dfile(name: str, old: str, new: str) -> Edit:
    """Replace text in the Dockerfile of service `name`."""

    def edit(project: Project) -> None:
        path = dockerfile_path(_service(project, name)["build"])
        assert old in project.dockerfiles[path], f"{old!r} not in {path}"
        project.dockerfiles[path] = project.dockerfiles[path].replace(old, new)

    return edit


def put(name: str, *keys_and_value: Any) -> Edit:
    """Set services.<name>.<keys...> to the value in the compose file (None: remove it)."""
    *keys, value = keys_and_value

    def edit(project: Project) -> None:
        node = _service(project, name)
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value

    return edit


def cmd(name: str, old: str, new: str) -> Edit:
    """Replace text in the compose command of service `name`."""

    def edit(project: Project) -> None:
        service = _service(project, name)
        command = json.dumps(service["command"])
        assert old in command, f"{old!r} not in the {name} command"
        service["command"] = json.loads(command.replace(old, new))

    return edit


def text(attribute: str, old: str, new: str) -> Edit:
    """Replace text in the Project's `.dockerignore`, Makefile or compose text."""

    def edit(project: Project) -> None:
        value = getattr(project, attribute)
        assert old in value, f"{old!r} not in {attribute}"
        setattr(project, attribute, value.replace(old, new))

    return edit


def both(*edits: Edit) -> Edit:
    def edit(project: Project) -> None:
        for one in edits:
            one(project)

    return edit


def _bind_mount(project: Project) -> None:
    _service(project, "trainer")["volumes"].append("./no-such-dir:/data/raw:ro")


def _secret(project: Project) -> None:
    _service(project, "triton")["environment"]["REDIS_PASSWORD"] = "hunter2"


PIP_INSTALL = "deploy/docker/pip-install.sh"
GPU_INSTALL = "deploy/docker/merlin-gpu-install.sh"
SERVE = ["tritonserver", "--model-repository=/data/model_repository"]
URL = "redis://default:hunter2@redis:6379/0"
CACHE = "redis://cache:6379/0"
# (check, what breaks, how): every check must report each of its breakages.
BREAKAGES: list[tuple[str, str, Edit]] = [
    ("schema", "unknown key", put("redis", "healthchek", {"test": ["CMD", "true"]})),
    ("schema", "wrong type", put("triton", "shm_size", ["1gb"])),
    ("files", "build context", put("gateway", "build", "context", "no-such-dir")),
    ("files", "Dockerfile", put("gateway", "build", "dockerfile", "none.Dockerfile")),
    ("files", "COPY source", dfile("gateway", "services/gateway ", "services/gw ")),
    ("files", "COPY ignored", text("dockerignore", "\ntests\n", "\ntests\nservices\n")),
    ("files", "bind mount", _bind_mount),
    ("files", "env_file", put("gateway", "env_file", ["gateway.env"])),
    ("files", "undeclared volume", put("redis", "volumes", ["redis_state:/data"])),
    ("locks", "no lock", dfile("gateway", "requirements/gateway.lock.txt req", "x/gw.txt req")),
    ("locks", "script", script(PIP_INSTALL, '--no-deps "$@"', '"$@"')),
    ("locks", "other lock", dfile("locust", "loadtest.lock", "gateway.lock")),
    ("locks", "merlin lock", script(GPU_INSTALL, '"requirements/merlin.lock.txt"', '"x"')),
    ("locks", "merlin -c", script(GPU_INSTALL, "-c /tmp/constraints.txt ", "")),
    ("locks", "pip version", script(PIP_INSTALL, "pip==24.3.1", "pip")),
    ("images", "build arg", put("gateway", "build", "args", "BASE_IMAGE", "python:3.12")),
    ("images", "base", dfile("triton", "tensorflow:23.08", "pytorch:23.08")),
    ("images", "slim base", dfile("gateway", "python:3.11-slim", "python:3.11")),
    ("images", "root", dfile("gateway", "USER gateway", "USER root")),
    ("images", "no user", dfile("locust", "USER locust", "")),
    ("images", "whole context", dfile("gateway", "COPY services/gateway ", "COPY . ")),
    ("images", "two images", put("triton", "image", "recsys/triton:1")),
    ("images", "redis image", put("redis", "image", "bitnami/redis:7.2")),
    ("entrypoints", "build", cmd("trainer", "training build", "training.build")),
    ("entrypoints", "export", cmd("trainer", "-m training export", "-m export")),
    ("entrypoints", "cli option", cmd("trainer", "--rows", "--row-count")),
    ("entrypoints", "build dir", cmd("trainer", "--build /data/artifacts/", "--build /b/")),
    ("entrypoints", "mount point", cmd("trainer", "artifacts/build", "artifacts")),
    ("entrypoints", "repository", put("triton", "command", [SERVE[0], "--model-repository=/m"])),
    ("entrypoints", "no triton", put("triton", "command", ["sleep", "infinity"])),
    ("entrypoints", "other volume", put("triton", "volumes", ["artifacts:/data/model_repository"])),
    ("entrypoints", "gateway", put("gateway", "command", ["uvicorn", "services.gateway.main"])),
    (
        "entrypoints",
        "gateway CMD",
        both(
            put("gateway", "command", None),
            dfile("gateway", '"services.gateway"]', '"services.gateway.main"]'),
        ),
    ),
    ("entrypoints", "locustfile", cmd("locust", LOCUSTFILE, "loadtests/other.py")),
    ("entrypoints", "headless", cmd("locust", '"--headless", ', "")),
    ("entrypoints", "locust host", cmd("locust", "127.0.0.1:8080", "127.0.0.1:9090")),
    ("entrypoints", "locust network", put("locust", "network_mode", None)),
    ("entrypoints", "user ids", cmd("locust", "artifacts/build/", "artifacts/")),
    ("entrypoints", "make build", text("makefile", "-m training build ", "-m train build ")),
    ("entrypoints", "make export", text("makefile", "--out $(MODEL_REPOSITORY)", "--out x")),
    ("ports", "all interfaces", put("gateway", "ports", ["${BIND_ADDRESS:-0.0.0.0}:8080:8080"])),
    ("ports", "no host ip", put("triton", "ports", ["8000:8000"])),
    ("ports", "long syntax", put("gateway", "ports", [{"target": 8080, "published": 8080}])),
    ("ports", "host network", put("gateway", "network_mode", "host")),
    ("healthchecks", "redis", put("redis", "healthcheck", None)),
    ("healthchecks", "redis ping", put("redis", "healthcheck", "test", ["CMD", "true"])),
    ("healthchecks", "triton", put("triton", "healthcheck", "test", ["CMD", "true"])),
    ("healthchecks", "triton port", put("triton", "command", [*SERVE, "--http-port=9000"])),
    ("healthchecks", "gateway", put("gateway", "healthcheck", "disable", True)),
    ("healthchecks", "gateway port", put("gateway", "environment", "GATEWAY_PORT", "9000")),
    ("healthchecks", "duration", put("gateway", "healthcheck", "interval", "5")),
    ("wiring", "trainer", put("trainer", "depends_on", "redis", "condition", "service_started")),
    ("wiring", "triton", put("triton", "depends_on", {"redis": {"condition": "service_healthy"}})),
    ("wiring", "gateway", put("gateway", "depends_on", ["triton"])),
    ("wiring", "locust", put("locust", "depends_on", "gateway", "condition", "service_started")),
    ("wiring", "profile", put("locust", "profiles", None)),
    ("wiring", "tools profile", put("rollout", "profiles", None)),
    (
        "wiring",
        "rollout deps",
        put("rollout", "depends_on", {"redis": {"condition": "service_healthy"}}),
    ),
    ("wiring", "rollout command", put("rollout", "command", ["python", "-m", "deploy.rollout"])),
    (
        "wiring",
        "explicit",
        cmd("triton", '"--model-control-mode=explicit"', '"--strict-readiness=true"'),
    ),
    ("wiring", "bytecode", put("triton", "environment", "PYTHONDONTWRITEBYTECODE", None)),
    ("wiring", "rollout host", put("rollout", "environment", "RECSYS_ROLLOUT_TRITON_HOST", "x")),
    (
        "wiring",
        "rollout repo",
        put("rollout", "volumes", ["model_repository:/data/model_repository:ro"]),
    ),
    ("wiring", "core profile", put("gateway", "profiles", ["bench"])),
    ("wiring", "gpu", put("triton", "deploy", None)),
    ("wiring", "redis url", put("triton", "environment", "REDIS_URL", "redis://redis:6379/1")),
    (
        "wiring",
        "redis host",
        both(
            put("trainer", "environment", "REDIS_URL", CACHE),
            put("triton", "environment", "REDIS_URL", CACHE),
        ),
    ),
    ("wiring", "gateway host", put("gateway", "environment", "GATEWAY_HOST", "127.0.0.1")),
    ("wiring", "triton url", put("gateway", "environment", "GATEWAY_TRITON_URL", "triton:8000")),
    ("secrets", "env", _secret),
    ("secrets", "env list", put("gateway", "environment", ["API_KEY=abc"])),
    ("secrets", "url", text("compose_text", "\nservices:", f"\n# {URL}\nservices:")),
    ("secrets", "dockerfile", dfile("gateway", "ENV GATEWAY_HOST", "ENV API_TOKEN=a X")),
    ("dockerignore", "venvs", text("dockerignore", "\n.venvs\n", "\n")),
    ("dockerignore", "artifacts", text("dockerignore", "\nartifacts\n", "\n")),
    ("dockerignore", "run", text("dockerignore", "\nrun\n", "\n")),
    ("dockerignore", "caches", text("dockerignore", "**/__pycache__\n**/*.py[cod]", "")),
    ("dockerignore", "tool caches", text("dockerignore", ".ruff_cache\n", "")),
]


@pytest.mark.parametrize(
    ("check", "edit"),
    [pytest.param(check, edit, id=f"{check}-{label}") for check, label, edit in BREAKAGES],
)
def test_each_check_catches_its_breakage(project: Project, check: str, edit: Edit) -> None:
    broken = copy.deepcopy(project)
    edit(broken)
    broken.compose = interpolate(broken.raw, {})
    assert CHECKS[check](broken), f"{check} did not notice the breakage"


def test_every_check_has_breakages() -> None:
    assert {check for check, _, _ in BREAKAGES} == set(CHECKS)


def test_interpolation_defaults_and_overrides() -> None:
    value = "${BIND_ADDRESS:-127.0.0.1}:8080 $$HOME ${UNSET-x} ${EMPTY:-y} ${EMPTY-z}"
    assert interpolate(value, {"EMPTY": ""}) == "127.0.0.1:8080 $HOME x y "
    assert interpolate(value, {"BIND_ADDRESS": "0.0.0.0"}).startswith("0.0.0.0:8080")
