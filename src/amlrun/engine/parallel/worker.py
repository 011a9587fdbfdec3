"""A parallel-job worker process: import the entry script, init() once, run() per mini-batch, shutdown().

Started by the driver as `python worker.py` (by path, standard library only, so it runs in whatever
interpreter the job's environment gives). Configuration comes in `AMLRUN_PRS_CONFIG` (JSON); messages
travel over two inherited pipes as pickles: the driver sends mini-batch descriptors (file paths, or the
path of a table's rows: an Arrow IPC file, plain column values or a pickled DataFrame), the worker answers with the formatted
result rows of the whole mini-batch.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["MiniBatchContext", "format_rows", "main", "read_table_batch", "serve", "zygote"]


class MiniBatchContext:
    """The second argument of a two-argument `run(mini_batch, mini_batch_context)`."""

    def __init__(self, minibatch_index: int, partition_key_value: dict[str, Any], dataset: str) -> None:
        self.minibatch_index = minibatch_index
        self.partition_key_value = partition_key_value
        self.dataset = dataset

    def __repr__(self) -> str:
        return (f"MiniBatchContext(minibatch_index={self.minibatch_index}, "
                f"partition_key_value={self.partition_key_value!r})")


def format_rows(result: Any, header: bool) -> tuple[int, str, str | None]:
    """(item count, rows as text, header line) in append_row's format: one line per item,
    list items with str(), DataFrame rows space-separated."""
    if result is None:
        return 0, "", None
    if hasattr(result, "to_csv") and hasattr(result, "columns"):
        body = result.to_csv(sep=" ", header=False, index=False)
        head = " ".join(map(str, result.columns)) + "\n" if header else None
        return len(result), body, head
    if not isinstance(result, list | tuple) and hasattr(result, "__iter__") and hasattr(result, "__len__") \
            and not isinstance(result, str | bytes | dict):
        result = list(result)  # a Series or an array: one item per element
    if isinstance(result, list | tuple):
        if not result:
            return 0, "", None
        return len(result), "".join(f"{item}\n" for item in result), None
    raise TypeError(f"run() returned {type(result).__name__}; it must return a list, a tuple or a DataFrame")


class ScriptError(Exception):
    """The entry script is not usable as one (no run()); the message says it all."""


def describe_failure(exc: BaseException, code_dir: str) -> str:
    """One line for the user: where in their code (`score.py:3`) and what (`ValueError: bad`).

    The full traceback goes to the worker's stderr log; amlrun's own frames are noise here.
    """
    if isinstance(exc, ScriptError):
        return str(exc)
    root = os.path.realpath(code_dir)

    def local(filename: str | None) -> str | None:
        if not filename:
            return None
        real = os.path.realpath(filename)
        return os.path.relpath(real, root) if real.startswith(root + os.sep) else None

    where = ""
    if isinstance(exc, SyntaxError) and local(exc.filename):
        where = f"{local(exc.filename)}:{exc.lineno}: "
        what = f"{type(exc).__name__}: {exc.msg}"
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if local(f.filename)]
        if frames:
            where = f"{local(frames[-1].filename)}:{frames[-1].lineno} in {frames[-1].name}(): "
        text = "".join(traceback.format_exception_only(type(exc), exc))
        what = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return (where + what)[:500]


def _load_script(config: dict[str, Any]) -> Any:
    code_dir = config["code_dir"]
    script = os.path.join(code_dir, config["entry_script"])
    sys.path.insert(0, os.path.dirname(script))
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    sys.argv = [script, *config["argv"]]
    name = os.path.splitext(os.path.basename(script))[0]
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import entry script {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise ScriptError(f"entry script {config['entry_script']} has no run(mini_batch) function "
                          "(define `def run(mini_batch):` returning a list or a DataFrame)")
    return module


def _wants_context(run: Any) -> bool:
    try:
        params = [p for p in inspect.signature(run).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def read_table_batch(path: str) -> Any:
    """A table mini-batch as the DataFrame run() gets: `<i>.arrow` (Arrow IPC, made a DataFrame here, in
    the worker, so the reading process needs no pandas), `<i>.cols` (columns as plain values, from a
    driver whose pandas is not this one) or `<i>.pkl` (a pickled DataFrame)."""
    if path.endswith(".cols"):
        return _read_portable_frame(path)
    if path.endswith(".arrow"):
        import pyarrow
        import pyarrow.ipc

        with pyarrow.OSFile(path, "rb") as source:
            table = pyarrow.ipc.open_file(source).read_all()
        return table.to_pandas()
    import pandas

    return pandas.read_pickle(path)


def _read_portable_frame(path: str) -> Any:
    """The DataFrame partition.write_portable_frame wrote, with this Python's pandas."""
    import pickle

    import numpy
    import pandas

    with open(path, "rb") as fh:
        data = pickle.load(fh)
    strings = "str" if int(pandas.__version__.split(".")[0]) >= 3 else object  # older: "str" makes None "None"
    names, series = [], []
    for name, dtype, values, extra in data["columns"]:
        if "numpy" in extra:  # datetime64/timedelta64 in its unit
            column = pandas.Series(numpy.array(values, dtype="int64").view(extra["numpy"]))
            if extra.get("tz"):
                column = column.dt.tz_localize("UTC").dt.tz_convert(extra["tz"])
        else:
            try:
                column = pandas.Series(values, dtype=strings if dtype == "str" else dtype)
            except (TypeError, ValueError, ImportError):
                column = pandas.Series(values, dtype=object)
        names.append(name)
        series.append(column)
    frame = pandas.concat(series, axis=1) if series else pandas.DataFrame()
    frame.columns = names
    return frame


def _mini_batch(kind: str, payload: Any) -> Any:
    if kind == "table":
        return read_table_batch(payload)
    return list(payload)


def serve(config: dict[str, Any], read_fd: int, write_fd: int) -> int:
    """Be one worker: init(), then run() every mini-batch the driver sends, then shutdown()."""
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    os.chdir(config["code_dir"])
    stage = "loading the entry script"
    try:
        if config.get("tabular"):
            try:
                import pandas  # noqa: F401 - import while the driver still reads the table, not on the first mini-batch
            except ImportError:
                raise ScriptError(f"this parallel job reads an MLTable, so its mini-batches are pandas DataFrames, but "
                                  f"its environment ({sys.prefix}) has no pandas: add pandas to its conda file or "
                                  "requirements, as AzureML needs too") from None
        module = _load_script(config)
        stage = "init() of the entry script"
        if callable(getattr(module, "init", None)):
            module.init()
    except BaseException as exc:  # noqa: BLE001 - everything the user's code raises is reported, not fatal here
        traceback.print_exc()  # the whole story, in logs/user/stderr/<worker>.stderr.txt
        sys.stderr.flush()
        _post_mortem(exc)
        outbox.send(("init_error", stage, describe_failure(exc, config["code_dir"])))
        return 3
    run = module.run
    with_context = _wants_context(run)
    header = bool(config.get("header"))
    dataset = config.get("dataset", "")
    outbox.send(("ready", os.getpid()))
    while True:
        try:
            message = inbox.recv()
        except EOFError:
            break
        if message[0] == "stop":
            break
        _, index, kind, payload, key_value = message
        started = time.monotonic()
        try:
            batch = _mini_batch(kind, payload)
            items = len(batch)
            result = run(batch, MiniBatchContext(index, key_value, dataset)) if with_context else run(batch)
            count, body, head = format_rows(result, header)
        except Exception as exc:  # noqa: BLE001
            _post_mortem(exc, traceback.format_exc())
            outbox.send(("error", index, traceback.format_exc(), time.monotonic() - started))
            continue
        sys.stdout.flush()
        outbox.send(("done", index, items, count, body, head, time.monotonic() - started))
    if callable(getattr(module, "shutdown", None)):
        try:
            module.shutdown()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    sys.stdout.flush()
    return 0


def _post_mortem(exc: BaseException, shown: str | None = None) -> None:
    """`amlrun run --pdb`: open pdb on the frames of an exception the entry script raised (foreground worker)."""
    if os.environ.get("AMLRUN_DEBUG_MODE") != "pdb" or not isinstance(exc, Exception):
        return
    if shown:
        sys.stderr.write(shown)
    print("[amlrun] post-mortem: the entry script raised; inspect its frames here (`q` quits)",
          file=sys.stderr, flush=True)
    import pdb

    pdb.post_mortem(exc.__traceback__)


def _reap(sock: Any) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock.send(f"exit {pid} {os.waitstatus_to_exitcode(status)}".encode())


def zygote(config: dict[str, Any], control_fd: int) -> int:
    """Import the heavy modules once, then fork a fresh worker per request from the driver.

    Requests arrive on a SOCK_SEQPACKET socket with four file descriptors (the worker's two pipe
    ends, its stdout and stderr); replies are `pid <n>`, and `exit <pid> <code>` whenever a worker ends.
    """
    import select
    import socket

    if config.get("tabular"):
        with contextlib.suppress(ImportError):  # without pandas each worker says so, as its init error
            import pandas  # noqa: F401
            import pyarrow.ipc  # noqa: F401 - how mini-batches arrive
    os.chdir(config["code_dir"])
    sock = socket.socket(fileno=control_fd)
    while True:
        readable, _, _ = select.select([sock], [], [], 0.1)
        _reap(sock)
        if not readable:
            continue
        message, fds, _, _ = socket.recv_fds(sock, 65536, 4)
        if not message:
            return 0  # the driver is gone; workers notice through their own pipes
        request = json.loads(message)
        sock.send(f"pid {_fork_worker(sock, config, request['worker'], fds)}".encode())


def _die_with_zygote() -> None:
    """A forked worker is killed by the kernel when the zygote dies (which dies with amlrun): no orphans."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _fork(sock: Any, fds: list[int], body: Callable[[], int]) -> int:
    """Fork a child that runs `body` and exits with its code (70 if it raised); the parent keeps no `fds`."""
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            sock.close()
            code = body()
        except BaseException:  # noqa: BLE001 - the child's last words go to its stderr
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    for fd in fds:
        os.close(fd)
    return pid


def _fork_worker(sock: Any, config: dict[str, Any], name: str, fds: list[int]) -> int:
    """Fork one worker: its own session, stdout/stderr on fds[2]/fds[3], mini-batches over fds[0]/fds[1]."""
    def body() -> int:
        os.setsid()
        _die_with_zygote()
        os.dup2(fds[2], 1)
        os.dup2(fds[3], 2)
        os.close(fds[2])
        os.close(fds[3])
        os.environ["AMLRUN_PRS_WORKER"] = name
        return serve({**config, "worker": name}, fds[0], fds[1])

    return _fork(sock, fds, body)


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]  # our modules must not shadow theirs
    config = json.loads(os.environ["AMLRUN_PRS_CONFIG"])
    if os.environ.get("AMLRUN_PRS_ZYGOTE_FD"):
        return zygote(config, int(os.environ.pop("AMLRUN_PRS_ZYGOTE_FD")))
    if os.environ.get("AMLRUN_PRS_STDIO_LOG"):  # in a container: the driver talks over stdin/stdout
        read_fd, write_fd = os.dup(0), os.dup(1)
        log = os.open(os.environ["AMLRUN_PRS_STDIO_LOG"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.close(log)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        return serve(config, read_fd, write_fd)
    read_fd, write_fd = (int(x) for x in os.environ["AMLRUN_PRS_FDS"].split(","))
    return serve(config, read_fd, write_fd)


if __name__ == "__main__":
    sys.exit(main())
