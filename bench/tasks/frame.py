"""A Python table task that does nothing with its DataFrame: run() returns it (one result per row)."""


def run(input_data):
    return input_data
