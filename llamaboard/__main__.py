"""`python -m llamaboard` (and `llamaboard webui`) start the web UI, like `python app.py`."""

from workflows.startup import pause_collection

pause_collection()  # until the page is served (workflows.startup)

from llamaboard.launch import main  # noqa: E402

if __name__ == "__main__":
    main()
