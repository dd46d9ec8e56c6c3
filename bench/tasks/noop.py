"""A no-op Python entry script: run() returns its mini-batch (one result per item)."""


def init():
    pass


def run(mini_batch):
    return mini_batch
