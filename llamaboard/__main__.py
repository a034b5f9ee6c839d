"""`python -m llamaboard` (and `llamaboard webui`) start the web UI, like `python app.py`."""

from llamaboard.launch import main

if __name__ == "__main__":
    main()
