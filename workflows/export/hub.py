"""Upload a finished export to the Hugging Face Hub (``export_hub_model_id``), after the local export is complete."""

from pathlib import Path

from workflows.errors import UserError


def push_to_hub(folder: Path, repo_id: str) -> None:
    """Upload ``folder``; any failure (offline, no token, no permission) is a clear error that says the local export is fine."""
    try:
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(repo_id, exist_ok=True, private=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id)
    except Exception as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(
            f"The export in {folder} is complete and checked, but uploading it to the Hub as `{repo_id}` (export_hub_model_id) "
            f"failed: {type(error).__name__}: {first_line}. Upload the folder later (huggingface-cli upload {repo_id} {folder}) "
            "on a machine with hub access and a token."
        ) from None
