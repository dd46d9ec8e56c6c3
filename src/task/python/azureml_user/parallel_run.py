"""`from azureml_user.parallel_run import EntryScript`, as Azure ML entry scripts use it.

EntryScript() is one object per process. `logger` writes to the attempt's log (the init log during
init()); `log_dir` and `output_dir` are real folders of this worker: files written to `log_dir` are kept
with the attempt's logs, and files written to `output_dir` are published with the job's output folder
(see docs/python-tasks.md).
"""

import logging
import os


class EntryScript:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    @property
    def logger(self):
        return logging.getLogger("EntryScript")

    @property
    def log_dir(self):
        return os.environ["PARALLEL_JOB_LOG_DIR"]

    @property
    def output_dir(self):
        return os.environ["PARALLEL_JOB_OUTPUT_DIR"]

    @property
    def working_dir(self):
        return os.getcwd()

    @property
    def agent_name(self):
        return os.environ.get("PARALLEL_JOB_AGENT_NAME", f"process-{os.getpid()}")
