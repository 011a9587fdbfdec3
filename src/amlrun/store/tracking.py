"""MLflow tracking for local runs, as AzureML gives it: every step's process logs into its own run.

On AzureML each job gets `MLFLOW_TRACKING_URI`, `MLFLOW_RUN_ID` and `MLFLOW_EXPERIMENT_NAME`; a
pipeline is the parent run and each step a child. Locally a step may have the full `mlflow` or only
`mlflow-skinny` (which cannot open a sqlite store: no sqlalchemy), in amlrun's interpreter or in a job
venv. Both speak MLflow's REST API, so every step gets `http://127.0.0.1:<port>`: a loopback endpoint
amlrun serves while the run lasts, with MLflow's own server code over the project's store (a sqlite
file under the run store, or what `amlrun.yaml` `tracking: {uri: ...}` / `MLFLOW_TRACKING_URI` names).

Nothing of MLflow is imported until a step sends its first request: a job that never calls MLflow
costs one listening socket and leaves no MLflow run. The run ids each step sees are chosen up front
(they must be in the step's environment before it starts); the runs are written into the store with
those ids when the endpoint wakes up, with the whole tree of the job (parent, steps, nested pipelines).
When the job ends, each run gets its final status, end time, literal inputs as params and tags.

A remote tracking URI (http, https, databricks, azureml) is handed to steps as it is; amlrun then
creates the runs there at once, through MLflow's client (the user asked for that server).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TrackedRun", "Tracking", "full_mlflow_installed", "project_tracking_uri", "resolve_tracking_uri",
           "tracking_artifact_root"]

REMOTE_SCHEMES = ("http://", "https://", "databricks", "azureml://")
STATUS_MAP = {"Completed": "FINISHED", "Reused": "FINISHED", "Failed": "FAILED", "Canceled": "KILLED",
              "Skipped": "KILLED", "NotStarted": "KILLED"}


def resolve_tracking_uri(store_root: Path, configured: str | None = None) -> str:
    """The project's tracking store: `tracking.uri` of amlrun.yaml, else `MLFLOW_TRACKING_URI`, else
    `sqlite:///<store>/tracking/mlflow.db`."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        if "://" not in uri and not uri.startswith("databricks"):
            return "sqlite:///" + str(Path(uri).expanduser().resolve())  # a bare path names a sqlite file
        return uri
    return "sqlite:///" + str(store_root / "tracking" / "mlflow.db")


def project_tracking_uri(store_root: Path, config: Any) -> str:
    """`resolve_tracking_uri` for a project: a relative sqlite path in amlrun.yaml is relative to that file."""
    configured = (config.tracking or {}).get("uri")
    if isinstance(configured, str) and configured.startswith("sqlite:///") \
            and not Path(configured.removeprefix("sqlite:///")).is_absolute():
        configured = "sqlite:///" + str((config.folder / configured.removeprefix("sqlite:///")).resolve())
    return resolve_tracking_uri(store_root, configured if isinstance(configured, str) else None)


def tracking_artifact_root(store_root: Path) -> str:
    return (store_root / "tracking" / "artifacts").as_uri()


@dataclass
class TrackedRun:
    """One MLflow run of the job tree: a job, a pipeline, a nested pipeline or a step."""

    key: str  # the amlrun run name
    run_id: str
    parent: str | None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    status: str | None = None  # amlrun's final status, once known
    ended: float | None = None
    created: bool = False
    finished: bool = False


class Tracking:
    """The MLflow runs of one local job, and the endpoint its steps log through."""

    def __init__(self, uri: str, experiment: str, artifact_root: str, note: Any = None,
                 fallback: Path | None = None) -> None:
        self.uri = uri
        self.experiment = experiment
        self.artifact_root = artifact_root
        self.remote = uri.startswith(REMOTE_SCHEMES)
        self.runs: dict[str, TrackedRun] = {}
        self._note = note or (lambda message: None)
        self._lock = threading.RLock()
        self._store: Any = None
        self._experiment_id: str | None = None
        self._failure: str | None = None
        self._server: Any = None
        self._socket: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.endpoint = uri
        self.linked = False  # a Reused step points at an earlier run's MLflow values
        self.fallback = fallback  # a plain file store for steps when amlrun cannot serve the project's store
        self.serving = False

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> Tracking:
        """Listen on a loopback port (local store), or open the remote store at once."""
        if self.remote:
            self._load()
            return self
        if not _can_serve():  # amlrun without its tracking extra: steps still get a store they can write
            if self.fallback is not None:
                self.endpoint = self.fallback.resolve().as_uri()
            return self
        import socket

        self.serving = True
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)  # connections wait here until the thread below answers them
        self.endpoint = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, name="amlrun-mlflow", daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        """Answer connections until `close` (which wakes this loop with one last connection).

        The HTTP server (its stdlib imports cost tens of ms of CPU) is built when the first connection
        waits: a job whose steps never call MLflow never builds it."""
        import select

        select.select([self._socket], [], [])
        if self._stop.is_set():
            return
        self._server = _make_server(self._wsgi, self._socket)
        while not self._stop.is_set():
            self._server.handle_request()

    def prefetch(self, wanted: Any) -> None:
        """Load MLflow in the background now if `wanted()` says a step will call it (its code mentions
        MLflow): the step's first call then waits less, as both load side by side."""
        if not self.serving:
            if self.fallback is not None and wanted():
                self._note(f"MLflow calls of this job log to the file store {self.fallback}: amlrun's own "
                           "environment lacks what serves the project's tracking store (pip install 'amlrun[tracking]')")
            return
        if self.used or self._failure is not None:
            return

        def warm() -> None:
            if wanted():
                with self._lock:
                    self._load()

        threading.Thread(target=warm, name="amlrun-mlflow-prefetch", daemon=True).start()

    @property
    def used(self) -> bool:
        """True once MLflow was loaded: a step talked to the endpoint (or the store is remote)."""
        return self._store is not None

    def close(self) -> dict[str, str]:
        """Write final statuses and params, stop the endpoint; amlrun run name -> MLflow run id when used."""
        try:
            if self.used:
                with self._lock:
                    for run in self.runs.values():
                        self._create(run)
                    for run in self.runs.values():
                        self._finish(run)
        finally:
            if self._socket is not None:
                import socket

                self._stop.set()
                port = self._socket.getsockname()[1]
                with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_STREAM) as wake:
                    wake.settimeout(1)  # (create_connection resolves the name: the idna codec's imports)
                    wake.connect(("127.0.0.1", port))
                if self._thread is not None:
                    self._thread.join(timeout=5)
                self._socket.close()
                self._socket = None
        return {key: run.run_id for key, run in self.runs.items()} if self.used else {}

    # -- the job tree ---------------------------------------------------------------------------

    def add_run(self, key: str, parent: str | None, tags: dict[str, str] | None = None,
                params: dict[str, Any] | None = None, run_id: str | None = None) -> TrackedRun:
        """Register a run (before its process starts); its MLflow id is fixed now.

        `run_id`: the run exists already (a resumed job continues its MLflow runs)."""
        with self._lock:
            if key in self.runs:
                run = self.runs[key]
                run.tags.update(tags or {})
                run.params.update({k: _param(v) for k, v in (params or {}).items() if v is not None})
                run.status = run.ended = None
                run.finished = False
                return run
            run = TrackedRun(key=key, run_id=run_id or _new_id(), parent=parent, tags=dict(tags or {}),
                             params={k: _param(v) for k, v in (params or {}).items() if v is not None},
                             created=run_id is not None)
            self.runs[key] = run
            if self.used:
                self._create(run)
            return run

    def end_run(self, key: str, status: str, started: float | None = None, ended: float | None = None) -> None:
        with self._lock:
            run = self.runs.get(key)
            if run is None:
                return
            run.status, run.ended = status, ended or time.time()
            if started:
                run.started = started
            if self.used:
                self._create(run)
                self._finish(run)

    def env(self, key: str) -> dict[str, str]:
        """The variables AzureML sets for a job's process, pointing at this run."""
        if not self.serving and not self.remote:  # the file store: runs are the steps' own
            return {"MLFLOW_TRACKING_URI": self.endpoint, "MLFLOW_ALLOW_FILE_STORE": "true",
                    "MLFLOW_EXPERIMENT_NAME": self.experiment}
        run = self.runs[key]
        env = {"MLFLOW_TRACKING_URI": self.endpoint, "MLFLOW_RUN_ID": run.run_id,
               "MLFLOW_EXPERIMENT_NAME": self.experiment,
               "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}  # that URL dies with the run: `amlrun ui`
        if self._experiment_id:
            env["MLFLOW_EXPERIMENT_ID"] = self._experiment_id
        return env

    # -- MLflow (imported only here) --------------------------------------------------------------

    def _load(self) -> None:
        if self._store is not None or self._failure is not None:
            return
        try:
            self._store = _open_store(self.uri, self.artifact_root)
            self._experiment_id = _experiment_id(self._store, self.experiment, self.artifact_root)
        except Exception as exc:  # noqa: BLE001 - a step's MLflow call gets this as its error
            self._store = None
            self._failure = _load_failure(exc)
            self._note(self._failure)
            return
        for run in self.runs.values():
            self._create(run)

    def _create(self, run: TrackedRun) -> None:
        if run.created:
            return
        parent = self.runs.get(run.parent) if run.parent else None
        if parent is not None:
            self._create(parent)
        from mlflow.entities import RunTag

        tags = {"mlflow.runName": run.key, "mlflow.user": _user(), **run.tags}
        if parent is not None:
            tags["mlflow.parentRunId"] = parent.run_id
            tags["mlflow.rootRunId"] = self._root(run).run_id
        entities = [RunTag(k, str(v)) for k, v in tags.items()]
        start = int(run.started * 1000)
        if self.remote:
            created = self._store.create_run(self._experiment_id, _user(), start, entities, run.key)
            run.run_id = created.info.run_id
        else:
            _create_run_with_id(self._store, run.run_id, self._experiment_id, start, entities, run.key)
        run.created = True

    def _root(self, run: TrackedRun) -> TrackedRun:
        while run.parent and run.parent in self.runs:
            run = self.runs[run.parent]
        return run

    def _finish(self, run: TrackedRun) -> None:
        if run.finished or run.status is None:
            return
        from mlflow.entities import Param, RunTag

        current = self._store.get_run(run.run_id)
        logged = current.data.params
        params = [Param(k, v) for k, v in run.params.items() if k not in logged]
        tags = [RunTag("amlrun.status", run.status), *(RunTag(k, str(v)) for k, v in run.tags.items())]
        self._store.log_batch(run.run_id, metrics=[], params=params, tags=tags)
        end = int((run.ended or time.time()) * 1000)
        self._store.update_run_info(run.run_id, _status(run.status), end, run.key)
        run.finished = True

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Every request waits for MLflow to load (the first one loads it), then MLflow's app answers.

        Requests are served one at a time: run ids chosen up front are written in a window where a
        concurrent `runs/create` must not run, and the sqlite store takes one writer anyway.
        """
        with self._lock:
            self._load()
            if self._store is None:
                body = ('{"error_code": "INTERNAL_ERROR", "message": "amlrun cannot serve MLflow tracking: '
                        + (self._failure or "").replace('"', "'").replace("\n", " ") + '"}').encode()
                start_response("400 Bad Request", [("Content-Type", "application/json"),
                                                   ("Content-Length", str(len(body)))])
                return [body]
            from mlflow.server import app

            return list(app(environ, start_response))


def full_mlflow_installed() -> bool:
    """The full `mlflow` package (with its UI's built pages), not only mlflow-skinny; nothing imported."""
    import importlib.util

    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        return False
    return any((Path(folder) / "server" / "js" / "build" / "index.html").is_file()
               for folder in spec.submodule_search_locations)


def _can_serve() -> bool:
    """Whether amlrun's interpreter has what serves a local store over REST (found, not imported)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None
               for name in ("mlflow", "sqlalchemy", "alembic", "flask", "flask_cors"))


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)[:6000]


def _status(status: str) -> Any:
    from mlflow.entities import RunStatus

    return RunStatus.from_string(STATUS_MAP.get(status, "FAILED"))


def _new_id() -> str:
    """`uuid.uuid4().hex`, as MLflow draws run ids, without importing uuid (it imports platform, ctypes)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "amlrun"


def _load_failure(exc: Exception) -> str:
    if isinstance(exc, ImportError):
        return (f"MLflow tracking needs amlrun's tracking extra ({exc.name or exc} is missing): "
                "pip install 'amlrun[tracking]'")
    return f"MLflow tracking store could not be opened: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _open_store(uri: str, artifact_root: str) -> Any:
    """MLflow's store for `uri`, the same object MLflow's server answers requests with."""
    import logging

    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if uri.startswith(REMOTE_SCHEMES):
        from mlflow.tracking import MlflowClient

        return MlflowClient(uri)._tracking_client.store
    for name in ("alembic", "mlflow.store.db.utils"):  # creating the schema is not news to the user
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.server import handlers

    return handlers._get_tracking_store(uri, artifact_root)


def _experiment_id(store: Any, name: str, artifact_root: str) -> str:
    experiment = store.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return store.create_experiment(name, artifact_location=f"{artifact_root}/{_new_id()[:12]}")
    except Exception:  # noqa: BLE001 - another run created it meanwhile
        experiment = store.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


_CREATE_LOCK = threading.Lock()


def _create_run_with_id(store: Any, run_id: str, experiment_id: str | None, start: int, tags: list[Any],
                        name: str) -> None:
    """`store.create_run`, with the run id amlrun already gave the step's process.

    MLflow's stores (sqlite/SQL and file) draw the id from `uuid.uuid4()` inside `create_run`; no API
    takes one. For the length of that one call the store module's `uuid` hands out ours.
    """
    import types
    import uuid

    module = sys.modules[type(store).create_run.__module__]
    real = getattr(module, "uuid", None)
    if real is None:
        raise RuntimeError(f"cannot create MLflow runs with a given id in a {type(store).__name__}")
    with _CREATE_LOCK:
        module.uuid = types.SimpleNamespace(uuid4=lambda: uuid.UUID(hex=run_id))
        try:
            created = store.create_run(experiment_id=experiment_id, user_id=_user(), start_time=start,
                                       tags=tags, run_name=name)
        finally:
            module.uuid = real
    if created.info.run_id != run_id:
        raise RuntimeError(f"{type(store).__name__} did not keep run id {run_id}")


def _make_server(app: Any, sock: Any) -> Any:
    """A threaded WSGI server on the listening socket `sock` (no name lookups: they can hang offline)."""
    import socketserver
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

        def address_string(self) -> str:
            return self.client_address[0]

    class Server(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    server = Server(sock.getsockname(), Quiet, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.server_name, server.server_port = "127.0.0.1", sock.getsockname()[1]
    server.setup_environ()
    server.set_app(app)
    return server

