"""Hardware commands of the CLI (generate, cosim, ...)."""


def add_commands(sub, add_config_args):
    pass
