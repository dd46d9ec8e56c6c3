"""The Python side of parallel-job's task runtime: one long-lived process per worker slot.

Node starts this file with its own pipes besides stdout and stderr: fd 3 carries requests from Node and
fd 4 carries replies, one JSON object per line. User code prints freely: `print`, `sys.stderr` and
`logging` are sent to Node as log messages on fd 4, in order with the replies. Output written straight
to the file descriptors 1 and 2 (native libraries, a fault handler's dump) reaches Node on those pipes;
after every attempt this process writes a marker line on both, so Node knows it has read all of it.

The attempt's lifecycle (timeouts, retries, counting, rows, output folders) is Node's. This file loads
the entry script, calls init() / run() / shutdown() as Azure ML does, turns the results into rows and
counts, and says what went wrong when something does.
"""

import importlib.util
import inspect
import io
import json
import logging
import os
import sys
import threading
import time
import traceback

REQUESTS_FD = 3
REPLIES_FD = 4
MAX_ERROR_CHARS = 1000
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


def _die_with_parent():
    """On Linux, the kernel stops this process when the host that started it dies (a SIGKILLed host)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort: reading EOF on fd 3 also ends the process
        pass


class Channel:
    """JSON lines in on fd 3, out on fd 4. Sends are locked: user threads may log at any time."""

    def __init__(self):
        self._requests = io.open(REQUESTS_FD, "rb")
        self._replies = io.open(REPLIES_FD, "wb", buffering=0)
        self._lock = threading.Lock()

    def receive(self):
        line = self._requests.readline()
        return json.loads(line) if line else None

    def send(self, message):
        data = (json.dumps(message, ensure_ascii=False, default=str) + "\n").encode("utf-8", "replace")
        with self._lock:
            self._replies.write(data)


class AttemptLog:
    """Log lines of the running attempt (or of init), below the job's level dropped, capped in bytes."""

    def __init__(self, channel, threshold, max_bytes):
        self._channel = channel
        self._threshold = threshold
        self._max_bytes = max_bytes
        self._bytes = 0
        self._truncated = False
        self._lock = threading.Lock()

    def write(self, level, text):
        if LEVELS.get(level, 20) < self._threshold:
            return
        with self._lock:
            if self._truncated:
                return
            self._bytes += len(text.encode("utf-8", "replace")) + 40
            if self._bytes > self._max_bytes:
                self._truncated = True
                level = "WARNING"
                text = f"log truncated: this attempt wrote more than {self._max_bytes} bytes"
        self._channel.send({"type": "log", "level": level, "line": text})


class LineWriter(io.TextIOBase):
    """A text stream whose complete lines go to the attempt log (print, sys.stderr)."""

    def __init__(self, worker, level):
        super().__init__()
        self._worker = worker
        self._level = level
        self._partial = ""
        self._lock = threading.Lock()

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
        for line in lines:
            self._worker.log(self._level, line)
        return len(text)

    def flush(self):
        with self._lock:
            partial, self._partial = self._partial, ""
        if partial:
            self._worker.log(self._level, partial)


class LogHandler(logging.Handler):
    """`logging` records into the attempt log, at their own level."""

    def __init__(self, worker):
        super().__init__()
        self._worker = worker

    def emit(self, record):
        try:
            text = self.format(record)
            level = "ERROR" if record.levelno >= logging.ERROR else record.levelname
            self._worker.log(level if level in LEVELS else "INFO", text)
        except Exception:  # noqa: BLE001 - logging must never fail the task
            self.handleError(record)


class TaskFailure(Exception):
    """A failure with the runtime's code: the attempt fails with it, the process carries on."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def user_traceback(error):
    """The error's traceback without this runner's own frame on top: the user's code is what matters."""
    tb = error.__traceback__
    if tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb)).rstrip()


def short_error(error):
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "\u2026"


def type_name(value):
    return "None" if value is None else type(value).__name__


class MiniBatchContext:
    """The second argument of run(mini_batch, mini_batch_context), as in Azure ML, plus our additions."""

    def __init__(self, request, item_positions, failed):
        self.partition_key_value = dict(request.get("partitionKeyValue") or {})
        self.minibatch_index = request["miniBatchIndex"]
        self.attempt = request["attempt"]
        self.job_id = request["jobId"]
        self._positions = item_positions
        self._failed = failed

    def fail(self, item, reason):
        """Names an item of this mini-batch as failed: a file path, a row (Series) or a row position."""
        position = self._positions(item)
        if position is None:
            logging.getLogger("parallel_job").warning(
                "mini_batch_context.fail() named something that is not an item of this mini-batch; it was ignored"
            )
            return
        if position not in self._failed:
            reason_text = short_error(reason) if isinstance(reason, BaseException) else str(reason)
            self._failed[position] = reason_text[:MAX_ERROR_CHARS]


class Worker:
    def __init__(self, channel, start):
        self.channel = channel
        self.entry_script = start["entryScript"]
        self.needs_pandas = bool(start.get("needsPandas"))
        self.max_log_bytes = int(start["maxLogBytes"])
        self.threshold = LEVELS.get(start.get("loggingLevel", "INFO"), 20)
        self.module = None
        self.initialized = False
        self.attempt_log = None
        self.idle_log = AttemptLog(channel, self.threshold, self.max_log_bytes)
        self.markers = start["marker"].encode("ascii") + b"\n"
        sys.stdout = LineWriter(self, "INFO")
        sys.stderr = LineWriter(self, "WARNING")
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        handler = LogHandler(self)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(self.threshold)

    # -------------------------------------------------------------------------------------- logging

    def log(self, level, text):
        (self.attempt_log or self.idle_log).write(level, text)

    def flush_output(self):
        sys.stdout.flush()
        sys.stderr.flush()
        # Native writes on fds 1 and 2: the marker tells Node it has read everything before it.
        for fd in (1, 2):
            try:
                os.write(fd, self.markers)
            except OSError:
                pass

    # -------------------------------------------------------------------------------------- loading

    def load(self):
        name = os.path.splitext(os.path.basename(self.entry_script))[0]
        spec = importlib.util.spec_from_file_location(name, self.entry_script)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        if not callable(getattr(module, "run", None)):
            raise TaskFailure(
                "TASK_BROKEN",
                f"{os.path.basename(self.entry_script)} has no run() function: define run(mini_batch) "
                "(or run(mini_batch, mini_batch_context))",
            )
        return module

    def initialize(self):
        if self.needs_pandas:
            try:
                import pandas  # noqa: F401 - imported here so that a missing pandas fails init, not run()
            except ImportError as error:
                raise TaskFailure(
                    "TASK_BROKEN",
                    f"This job's input is a table, so run() receives a pandas DataFrame, but the Python at "
                    f"{sys.executable} cannot import pandas ({error}). Install it for that interpreter "
                    "(pip install pandas, or Debian's python3-pandas), or point PARALLEL_JOB_PYTHON at one that has it.",
                ) from error
        try:
            self.module = self.load()
        except TaskFailure:
            raise
        except (SyntaxError, ImportError) as error:
            self.log("ERROR", user_traceback(error))
            hint = ""
            if isinstance(error, ModuleNotFoundError):
                hint = f" Install {error.name} for the interpreter {sys.executable} (PARALLEL_JOB_PYTHON)."
            raise TaskFailure(
                "TASK_BROKEN", f"The entry script could not be loaded: {short_error(error)}.{hint}"
            ) from error
        except Exception as error:  # noqa: BLE001 - module-level code of the user's script
            self.log("ERROR", user_traceback(error))
            raise TaskFailure("TASK_INIT_FAILED", f"Loading the entry script failed: {short_error(error)}") from error
        init = getattr(self.module, "init", None)
        if callable(init):
            try:
                init()
            except Exception as error:  # noqa: BLE001
                self.log("ERROR", f"init() failed: {user_traceback(error)}")
                raise TaskFailure("TASK_INIT_FAILED", f"init() failed: {short_error(error)}") from error

    # -------------------------------------------------------------------------------------- attempts

    def run_attempt(self, request):
        self.attempt_log = AttemptLog(self.channel, self.threshold, request.get("maxLogBytes", self.max_log_bytes))
        reply = {"type": "result", "initRan": False, "initMs": 0, "runMs": 0, "warnings": []}
        try:
            if not self.initialized:
                self.channel.send({"type": "phase", "phase": "init"})
                started = time.perf_counter()
                try:
                    self.initialize()
                finally:
                    reply["initMs"] = (time.perf_counter() - started) * 1000
                self.initialized = True
                reply["initRan"] = True
            self.channel.send({"type": "phase", "phase": "run"})
            reply.update(self.run_once(request, reply))
        except TaskFailure as failure:
            # Failures of the user's code logged their traceback already; the runtime's own say why here.
            if failure.code not in ("TASK_RUN_FAILED", "TASK_INIT_FAILED"):
                self.log("ERROR", failure.message)
            reply.update({"ok": False, "code": failure.code, "message": failure.message})
        finally:
            self.flush_output()
            self.attempt_log = None
        self.channel.send(reply)
        # After a failed init the next attempt starts in a fresh process, as Azure ML would.
        return not (reply.get("ok") is False and reply.get("code") in ("TASK_INIT_FAILED", "TASK_BROKEN") and not self.initialized)

    def run_once(self, request, reply):
        mini_batch, positions = self.mini_batch(request)
        failed = {}
        context = MiniBatchContext(request, positions, failed)
        run = self.module.run
        started = time.perf_counter()
        try:
            result = run(mini_batch, context) if takes_context(run) else run(mini_batch)
        except Exception as error:  # noqa: BLE001
            reply["runMs"] = (time.perf_counter() - started) * 1000
            self.log("ERROR", f"run() failed: {user_traceback(error)}")
            raise TaskFailure("TASK_RUN_FAILED", f"run() failed: {short_error(error)}") from error
        reply["runMs"] = (time.perf_counter() - started) * 1000
        length, rows = result_rows(result, request)
        items = len(mini_batch)
        if length > items:
            message = (
                f"run() returned {length} results for {items} items: succeeded items are capped at {items}; "
                "every result is still written"
            )
            reply["warnings"].append(message)
            self.log("WARNING", message)
        return {
            "ok": True,
            "resultLength": length,
            "rows": rows,
            "failed": [{"position": p, "error": e} for p, e in sorted(failed.items())],
        }

    def mini_batch(self, request):
        batch = request["batch"]
        if batch["kind"] == "files":
            paths = list(batch["paths"])
            index = {path: i for i, path in enumerate(paths)}
            names = {name: i for i, name in enumerate(batch.get("names", []))}

            def position(item):
                key = os.fspath(item) if isinstance(item, (str, os.PathLike)) else None
                if key is None:
                    return None
                return index.get(key, names.get(key))

            return paths, position
        frame = read_table(batch)
        count = len(frame)

        def row_position(item):
            if isinstance(item, bool):
                return None
            if isinstance(item, int):
                return item if 0 <= item < count else None
            label = getattr(item, "name", None)  # a row of the DataFrame (a Series) carries its index label
            if isinstance(label, int) and 0 <= label < count and not isinstance(label, bool):
                return label
            return None

        return frame, row_position

    def shutdown(self):
        reply = {"type": "shutdown", "ranShutdown": False}
        shutdown = getattr(self.module, "shutdown", None) if self.initialized else None
        if callable(shutdown):
            self.attempt_log = AttemptLog(self.channel, self.threshold, self.max_log_bytes)
            reply["ranShutdown"] = True
            try:
                shutdown()
            except Exception as error:  # noqa: BLE001
                reply["error"] = short_error(error)
            finally:
                self.flush_output()
                self.attempt_log = None
        self.channel.send(reply)


def takes_context(run):
    """Azure ML's two forms: run(mini_batch) and run(mini_batch, mini_batch_context)."""
    try:
        parameters = list(inspect.signature(run).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in parameters)


def read_table(batch):
    """The mini-batch's good records as one DataFrame, typed as pandas reads the file format."""
    import pandas as pd

    if batch["format"] == "parquet":
        return read_parquet_rows(pd, batch)
    frames = []
    for path in batch["files"]:
        if batch["format"] == "csv":
            frames.append(pd.read_csv(path))
        else:
            with open(path, "r", encoding="utf-8") as lines:
                frames.append(pd.DataFrame.from_records([json.loads(line) for line in lines if line.strip()]))
    if not frames:
        return pd.DataFrame()
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def read_parquet_rows(pd, batch):
    """Parquet rows sent as JSON lines, each column given back the type its Parquet kind has in pandas.

    JSON has no int64 beyond 2**53, timestamps, decimals nor bytes: Node writes them as digits, ISO text,
    numbers or digits, and base64, and the column's kind says which (see src/activities/pythonBatch.ts).
    """
    columns = batch.get("columns") or []
    rows = []
    for path in batch["files"]:
        with open(path, "r", encoding="utf-8") as lines:
            rows.extend(json.loads(line) for line in lines if line.strip())
    names = [column["name"] for column in columns]
    frame = pd.DataFrame.from_records(rows, columns=names) if names else pd.DataFrame.from_records(rows)
    for column in columns:
        name, kind = column["name"], column["python"]
        if kind != "other" and len(frame) > 0:
            frame[name] = parquet_column(pd, frame[name], kind)
    return frame


def parquet_column(pd, series, kind):
    import base64
    import datetime
    import decimal

    def each(convert):
        return series.map(lambda value: None if value is None or value != value else convert(value))

    if kind == "int":
        return pd.to_numeric(each(int))
    if kind in ("timestamp", "timestamp_utc"):
        stamps = pd.to_datetime(series, utc=True)
        return stamps if kind == "timestamp_utc" else stamps.dt.tz_localize(None)
    if kind == "date":
        return each(lambda text: datetime.date.fromisoformat(text[:10]))
    if kind == "decimal":
        return each(lambda value: decimal.Decimal(str(value)))
    if kind == "binary":
        return each(base64.b64decode)
    return series


def result_rows(result, request):
    """The number of results and the append_row text: one row per element, or per DataFrame row."""
    max_bytes = request["maxRowsBytes"]
    serialize = request["serializeRows"]
    if isinstance(result, (list, tuple)):
        if not serialize:
            return len(result), ""
        parts = []
        total = 0
        for index, value in enumerate(result):
            try:
                line = f"{value}\n"
            except Exception as error:  # noqa: BLE001 - a __str__ that raises
                raise TaskFailure(
                    "TASK_BAD_RESULT", f"run() returned rows that cannot be written: result[{index}]: {short_error(error)}"
                ) from error
            total += len(line.encode("utf-8", "replace"))
            if total > max_bytes:
                raise TaskFailure("TASK_BAD_RESULT", rows_too_large(max_bytes, index, len(result)))
            parts.append(line)
        return len(result), "".join(parts)
    if is_data_frame(result):
        if not serialize or len(result) == 0:
            return len(result), ""
        text = result.to_csv(sep=" ", header=False, index=False)
        if len(text.encode("utf-8", "replace")) > max_bytes:
            raise TaskFailure("TASK_BAD_RESULT", rows_too_large(max_bytes, None, len(result)))
        return len(result), text
    raise TaskFailure(
        "TASK_BAD_RESULT",
        f"run() returned {type_name(result)}: it must return a list, a tuple or a pandas DataFrame with one "
        "element per succeeded item",
    )


def rows_too_large(max_bytes, index, count):
    where = f" at result[{index}]" if index is not None else ""
    return (
        f"run() returned rows that cannot be written: the rows pass {max_bytes:,} bytes{where} ({count:,} rows "
        "returned): write large results as files in an output folder, or use smaller mini-batches"
    )


def is_data_frame(value):
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def main():
    _die_with_parent()
    channel = Channel()
    start = channel.receive()
    if start is None:
        return
    sys.argv = [start["entryScript"], *start["argv"]]
    # The code folder first, as in Azure ML; then this folder, for azureml_user.parallel_run.
    sys.path.insert(0, start["codeDir"])
    sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
    worker = Worker(channel, start)
    channel.send({"type": "ready", "pid": os.getpid(), "python": sys.version.split()[0]})
    while True:
        request = channel.receive()
        if request is None:
            return
        if request["type"] == "run":
            if not worker.run_attempt(request):
                return
        elif request["type"] == "shutdown":
            worker.shutdown()
            return


if __name__ == "__main__":
    main()
