"""Azure ML's `azureml_user` package as parallel-job provides it: only `parallel_run.EntryScript`."""
