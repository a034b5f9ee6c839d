import sys


def main() -> int:
    """``python -m workflows`` (and the ``llamaboard`` command): the CLI; training first gets its allocator tuned."""
    if sys.argv[1:2] == ["train"]:
        from workflows.allocator import restart_tuned

        restart_tuned()  # before anything else is imported: the restart then costs one interpreter start
    from workflows.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
