"""The project config `amlrun.yaml`: datastores, data assets and the workspace, found upwards.

    datastores:
      raw:      {type: local, path: ./data/raw}
      lake:     {type: azure_blob, account_name: myacct, container_name: raw,
                 endpoint: https://myacct.blob.core.windows.net,          # optional (Azurite, sovereign clouds)
                 credential: {account_key_env: LAKE_KEY}}  # or sas_token_env / connection_string_env / identity
    data:
      sequences: azureml://datastores/lake/paths/sequences/     # azureml:sequences:1 / @latest resolve here
      images: {"1": azureml://datastores/lake/paths/v1/, "2": ./local/v2/}
    components:                                                 # registered components, as local YAML
      azureml:my_train@latest: ./components/train.yml           # (exact reference, or the bare name)
    cache: {max_size: 20GB}                                     # remote-input cache under the store
    fsspec: {real_azureml_fsspec: false}                        # true: let the real azureml-fsspec through
    environments: {default: auto, my-env: {venv: reqs.txt}, train: host}   # see amlrun.envs.choice
    tracking: {uri: sqlite:///./mlflow.db}                      # MLflow store (default: one under .amlrun/)
    workspace: {subscription_id: ..., resource_group: ..., workspace_name: ...}
    shared: [packages/shared]                                   # code `amlrun package` copies into every job

Secrets are never written inline: a credential names the environment variable that holds it, and an
inline key is refused with a file:line error saying how to move it. A user-level file
(`~/.config/amlrun/amlrun.yaml` or `$AMLRUN_USER_CONFIG`) may add entries; the project's file wins.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amlrun.errors import Problem, SpecError
from amlrun.spec.source import SpecSource, read_yaml

__all__ = ["CONFIG_NAME", "ProjectConfig", "find_project_config", "load_project_config", "parse_size",
           "registered_component_name"]

CONFIG_NAME = "amlrun.yaml"

_SECTIONS = ("datastores", "data", "workspace", "cache", "fsspec", "shared", "components", "environments",
             "tracking")
_LIST_SECTIONS = ("shared",)
_CREDENTIAL_ENV_KEYS = ("account_key_env", "sas_token_env", "connection_string_env")
_INLINE_SECRETS = {
    "account_key": "account_key_env", "key": "account_key_env", "sas_token": "sas_token_env",
    "sas": "sas_token_env", "connection_string": "connection_string_env", "client_secret": None,
    "password": None, "secret": None,
}
_BLOB_KEYS = {"type", "account_name", "container_name", "endpoint", "protocol", "credential", "description"}
_LOCAL_KEYS = {"type", "path", "description"}


@dataclass
class ProjectConfig:
    """Parsed, validated amlrun.yaml (possibly empty). `folders` maps each datastore to the folder of the
    file that declared it, so a local datastore's relative `path` is relative to its own file."""

    path: Path | None = None
    datastores: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    workspace: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    fsspec: dict[str, Any] = field(default_factory=dict)
    shared: list[str] = field(default_factory=list)
    components: dict[str, Any] = field(default_factory=dict)
    environments: dict[str, Any] = field(default_factory=dict)  # venv/container paths made absolute
    tracking: dict[str, Any] = field(default_factory=dict)
    sources: list[SpecSource] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)
    component_folders: dict[str, Path] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def datastore_folder(self, name: str) -> Path:
        return self.folders.get(name, self.folder)

    def component_file(self, reference: str) -> Path | None:
        """The local file `components:` maps a registered component to: by the exact reference
        (`azureml:train@latest`, `azureml://registries/...`), else by its bare name (`train`)."""
        for key in (reference, reference.removeprefix("azureml:"), registered_component_name(reference)):
            if key in self.components:
                return (self.component_folders.get(key, self.folder) / str(self.components[key])).resolve()
        return None


def registered_component_name(reference: str) -> str:
    """`azureml:train:1`, `azureml:train@latest`, `azureml://registries/r/components/train/versions/1` -> train."""
    text = reference.removeprefix("azureml:")
    if text.startswith("//"):
        parts = text.strip("/").split("/")
        return parts[parts.index("components") + 1] if "components" in parts[:-1] else parts[-1]
    return re.split(r"[:@]", text, maxsplit=1)[0]


def find_project_config(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    if here.is_file() or not here.exists():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def _user_config() -> Path | None:
    env = os.environ.get("AMLRUN_USER_CONFIG")
    path = Path(env) if env else Path.home() / ".config" / "amlrun" / CONFIG_NAME
    return path if path.is_file() else None


def load_project_config(start: Path | None = None) -> ProjectConfig:
    """The merged, validated config for the project containing `start` (a file or folder). Empty when none."""
    project = find_project_config(start)
    config = ProjectConfig(path=project)
    problems: list[Problem] = []
    user = _user_config()
    for path in (user, project):
        if path is None or (path == user and project is not None and path.resolve() == project.resolve()
                            and config.sources):
            continue
        source = read_yaml(path, empty_ok=True,
                           top_hint="amlrun.yaml holds sections like `datastores:` and `data:`")
        problems.extend(validate_config_source(source))
        config.sources.append(source)
        for section in _SECTIONS:
            value = source.data.get(section) or {}
            if isinstance(value, dict) and section not in _LIST_SECTIONS:
                getattr(config, section).update(value)
            elif isinstance(value, list) and section in _LIST_SECTIONS:
                getattr(config, section).extend(str(v) for v in value)
        for name in (source.data.get("datastores") or {}):
            config.folders[str(name)] = source.folder
        for name in (source.data.get("components") or {}) if isinstance(source.data.get("components"), dict) else ():
            config.component_folders[str(name)] = source.folder
        config.environments.update(_absolute_environments(source))
    if problems:
        raise SpecError(problems)
    return config


def validate_config_source(source: SpecSource) -> list[Problem]:
    """Every problem in one amlrun.yaml, with file:line:col (values of secrets are never echoed)."""
    smap, data, problems = source.source_map, source.data, []
    for key in data:
        if key not in _SECTIONS:
            problems.append(smap.problem((key,), f"unknown section {key!r}", f"known sections: {', '.join(_SECTIONS)}"))
    for section in _LIST_SECTIONS:
        if section in data and data[section] is not None and not (
                isinstance(data[section], list) and all(isinstance(v, str) for v in data[section])):
            problems.append(smap.problem((section,), f"`{section}` must be a list of folders",
                                         "write e.g. `shared: [packages/shared]`"))
    for section in _SECTIONS:
        if section in _LIST_SECTIONS:
            continue
        if section in data and data[section] is not None and not isinstance(data[section], dict):
            problems.append(smap.problem((section,), f"`{section}` must be a mapping", "write `name: value` entries"))
    problems.extend(_credentials_in_urls(source))
    datastores = data.get("datastores") or {}
    if isinstance(datastores, dict):
        for name, spec in datastores.items():
            problems.extend(_check_datastore(source, str(name), spec))
    assets = data.get("data") or {}
    if isinstance(assets, dict):
        for name, entry in assets.items():
            problems.extend(_check_asset(source, str(name), entry))
    components = data.get("components") or {}
    if isinstance(components, dict):
        problems.extend(smap.problem(("components", str(name)), f"component {name!r} maps to {_describe(target)}, "
                                     "not a YAML file", f"write `{name}: ./components/<file>.yml`")
                        for name, target in components.items() if not _is_target(target))
    environments = data.get("environments") or {}
    if isinstance(environments, dict):
        for name, entry in environments.items():
            problems.extend(_check_environment(source, str(name), entry))
    cache = data.get("cache") or {}
    if isinstance(cache, dict) and "max_size" in cache:
        try:
            parse_size(cache["max_size"])
        except ValueError:
            problems.append(smap.problem(("cache", "max_size"), f"cannot read size {cache['max_size']!r}",
                                         "write e.g. 500MB or 20GB"))
    return problems


_ENV_MODES = ("auto", "host", "container")


def _check_environment(source: SpecSource, name: str, entry: Any) -> list[Problem]:
    """`default: auto|host|container`; a step or environment name -> a mode, `{venv: file}` or `{container: x}`."""
    smap, at = source.source_map, ("environments", name)
    example = "host, auto, container, {venv: requirements.txt} or {container: <image or build folder>}"
    if isinstance(entry, str):
        if entry not in _ENV_MODES:
            return [smap.problem(at, f"unknown environment choice {entry!r}", f"use {example}", at_value=True)]
        return []
    if name == "default":
        return [smap.problem(at, "`default` is a mode", "write `default: auto`, `host` or `container`")]
    if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in ("venv", "container") \
            or not isinstance(next(iter(entry.values())), str):
        return [smap.problem(at, f"cannot read the environment choice for {name!r}", f"use {example}")]
    return []


def _absolute_environments(source: SpecSource) -> dict[str, Any]:
    """The file's `environments:` with `venv:`/`container:` paths relative to the file made absolute."""
    found: dict[str, Any] = {}
    for name, entry in (source.data.get("environments") or {}).items():
        if isinstance(entry, dict) and len(entry) == 1:
            kind, value = next(iter(entry.items()))
            candidate = source.folder / os.path.expanduser(str(value))
            if kind == "venv" or (kind == "container" and candidate.exists()):
                entry = {kind: str(candidate.resolve())}
        found[str(name)] = entry
    return found


_URL_CREDENTIAL = re.compile(r"(?i)[?&;](sig|signature|sv|se|sp|skoid|token|access_token|sas|key|code)="
                             r"|accountkey=|sharedaccesssignature=")


def _credentials_in_urls(source: SpecSource) -> list[Problem]:
    """A SAS token (or key) written into a URL anywhere in amlrun.yaml: refused like any inline secret."""
    found: list[Problem] = []

    def walk(value: Any, at: tuple[str | int, ...]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*at, str(key)))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*at, index))
        elif isinstance(value, str) and _URL_CREDENTIAL.search(value):
            env = f"{(at[1] if len(at) > 1 else 'STORE')}_SAS".upper()
            found.append(source.source_map.problem(
                at, "a URL carrying a credential (a SAS token or key in its query string) is refused: secrets "
                "never go in amlrun.yaml", f"write the URL without `?...`, put the token in an environment "
                f"variable (export {env}='sv=...') and name it: `credential: {{sas_token_env: {env}}}`",
                at_value=True))

    walk(source.data, ())
    return found


def _check_asset(source: SpecSource, name: str, entry: Any) -> list[Problem]:
    """A data asset maps to a path/URI, or to `{version: path/URI}`; anything else would resolve to nonsense."""
    smap, at = source.source_map, ("data", name)
    example = f"e.g. `{name}: azureml://datastores/<datastore>/paths/<folder>/` or `{name}: ./local/folder`"
    if isinstance(entry, dict):
        if not entry:
            return [smap.problem(at, f"data asset {name!r} lists no versions", f"write `{name}: {{\"1\": <path or URI>}}`")]
        return [smap.problem((*at, str(version)), f"version {version!r} of data asset {name!r} maps to "
                             f"{_describe(target)}, not a path or URI", f"write `\"{version}\": <path or URI>`")
                for version, target in entry.items() if not _is_target(target)]
    if not _is_target(entry):
        return [smap.problem(at, f"data asset {name!r} maps to {_describe(entry)}, not a path or URI", example)]
    return []


def _is_target(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _describe(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "nothing"
    return {"list": "a list", "int": "a number", "float": "a number", "bool": "true/false"}.get(
        type(value).__name__, f"a {type(value).__name__}")


def _check_datastore(source: SpecSource, name: str, spec: Any) -> list[Problem]:
    smap, at = source.source_map, ("datastores", name)
    out: list[Problem] = []
    if not re.match(r"^[A-Za-z0-9_]+$", name):
        out.append(smap.problem(at, f"datastore name {name!r} may hold only letters, digits and underscores",
                                "rename it"))
    if not isinstance(spec, dict):
        return [*out, smap.problem(at, "a datastore must be a mapping", "write `{type: local, path: ./data}`")]
    out.extend(_inline_secret_problems(source, at, spec, name))
    kind = spec.get("type")
    if kind == "local":
        if not isinstance(spec.get("path"), str) or not spec["path"]:
            out.append(smap.problem((*at, "path"), "a local datastore needs a `path`", "e.g. `path: ./data`"))
        out.extend(smap.problem((*at, k), f"unknown field {k!r} for a local datastore", "remove it")
                   for k in spec if k not in _LOCAL_KEYS and k not in _INLINE_SECRETS)
    elif kind == "azure_blob":
        credential = spec.get("credential")
        uses_conn = isinstance(credential, dict) and "connection_string_env" in credential
        for required in ("account_name", "container_name") if not uses_conn else ("container_name",):
            if not isinstance(spec.get(required), str) or not spec[required]:
                out.append(smap.problem((*at, required), f"an azure_blob datastore needs `{required}`",
                                        f"add `{required}: ...`"))
        out.extend(smap.problem((*at, k), f"unknown field {k!r} for an azure_blob datastore",
                                f"known fields: {', '.join(sorted(_BLOB_KEYS))}")
                   for k in spec if k not in _BLOB_KEYS and k not in _INLINE_SECRETS)
        out.extend(_check_credential(source, (*at, "credential"), credential))
    else:
        out.append(smap.problem((*at, "type"), f"unknown datastore type {kind!r}",
                                "use `type: local` or `type: azure_blob`"))
    return out


def _inline_secret_problems(source: SpecSource, at: tuple[str, ...], spec: dict[str, Any], name: str) -> list[Problem]:
    out = []
    for key, env_key in _INLINE_SECRETS.items():
        if key in spec:
            var = f"{name.upper()}_{key.upper()}"
            fix = (f"put it in an environment variable (export {var}=...) and write "
                   f"`credential: {{{env_key}: {var}}}` instead" if env_key else
                   "use `credential: identity` (azure-identity's DefaultAzureCredential) instead")
            out.append(source.source_map.problem((*at, key), f"inline secret `{key}` refused: secrets never go in "
                                                 "amlrun.yaml", fix))
    return out


def _check_credential(source: SpecSource, at: tuple[str, ...], credential: Any) -> list[Problem]:
    smap = source.source_map
    if credential is None or credential in ("identity", "default", "anonymous"):
        return []
    if not isinstance(credential, dict):
        return [smap.problem(at, f"cannot read credential {type(credential).__name__}",
                             "use {account_key_env: VAR}, {sas_token_env: VAR}, {connection_string_env: VAR} or identity")]
    out = []
    for key in (k for k in _INLINE_SECRETS if k in credential):
        out.append(smap.problem(
            (*at, key), f"inline secret `{key}` refused: secrets never go in amlrun.yaml",
            f"put it in an environment variable (export {at[1].upper()}_{key.upper()}=...) and write "
            f"`{_INLINE_SECRETS[key] or 'identity'}: {at[1].upper()}_{key.upper()}` instead"))
    given = [k for k in _CREDENTIAL_ENV_KEYS if k in credential]
    if credential.get("type") not in (None, "identity", "default"):
        out.append(smap.problem((*at, "type"), f"unknown credential type {credential.get('type')!r}", "use identity"))
    if len(given) > 1:
        out.append(smap.problem(at, f"give one of {', '.join(given)}", "remove the others"))
    for key in given:
        value = credential[key]
        if not isinstance(value, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            out.append(smap.problem((*at, key), f"`{key}` must name an environment variable",
                                    f"e.g. `{key}: MY_STORAGE_SECRET`, with the secret exported in that variable"))
    for key in credential:
        if key not in (*_CREDENTIAL_ENV_KEYS, "type", *_INLINE_SECRETS):
            out.append(smap.problem((*at, key), f"unknown credential field {key!r}",
                                    f"use one of {', '.join(_CREDENTIAL_ENV_KEYS)} or `type: identity`"))
    return out


def parse_size(value: Any) -> int:
    """`500MB`, `20GB`, `1.5 GiB` or a plain byte count -> bytes (binary multiples)."""
    if isinstance(value, int):
        return value
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", str(value), re.IGNORECASE)
    if not match:
        raise ValueError(value)
    power = " kmgt".index(match[2].lower() or " ")
    return int(float(match[1]) * 1024**power)
