"""`python app.py` starts the LlamaBoard web UI (settings from the environment; see the README)."""

from workflows.startup import pause_collection

pause_collection()  # until the page is served (workflows.startup)

from llamaboard.launch import main  # noqa: E402

if __name__ == "__main__":
    main()
