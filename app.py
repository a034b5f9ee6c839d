"""`python app.py` starts the LlamaBoard web UI (settings from the environment; see the README)."""

from llamaboard.launch import main

if __name__ == "__main__":
    main()
