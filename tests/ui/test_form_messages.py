"""Save/Load config stay in their folder and speak in one line; form errors name the field by its label."""

import pytest
import yaml

from llamaboard.controls import FieldSpec, field_component, float_step
from llamaboard.monitor import progress_html
from llamaboard.notices import error_notice
from llamaboard.paths import PathNotAllowedError, Workspace
from llamaboard.saved_configs import read_config, save_config
from workflows.config import load_config
from workflows.errors import ConfigError
from workflows.run_dir import RunState


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path)})


def config_in(workspace: Workspace):
    return load_config(
        None, {"dataset": "identity", "dataset_dir": str(workspace.workdir / "data"), "output_dir": str(workspace.saves_dir / "x")}
    )


def test_save_config_writes_only_yaml_inside_configs_and_never_over_a_file_unasked(workspace):
    config = config_in(workspace)
    path = save_config(workspace, "configs/train.yaml", config, replace=False)
    assert path == workspace.workdir / "configs" / "train.yaml"
    saved = yaml.safe_load(path.read_text())
    assert (saved["dataset_dir"], saved["output_dir"]) == ("data", "saves/x")  # relative to the workdir
    with pytest.raises(ConfigError, match="exists already: tick"):
        save_config(workspace, "train.yaml", config, replace=False)
    save_config(workspace, "train.yaml", config.replace(learning_rate=1e-3), replace=True)
    assert yaml.safe_load(path.read_text())["learning_rate"] == 1e-3
    for outside in ("../saves/queue.json", "../data/dataset_info.json", "/etc/x.yaml", "../app.yaml"):
        with pytest.raises(PathNotAllowedError):
            save_config(workspace, outside, config, replace=True)
    with pytest.raises(PathNotAllowedError, match="must end in .yaml or .yml"):
        save_config(workspace, "notes.txt", config, replace=True)
    assert sorted(path.name for path in (workspace.workdir / "configs").iterdir()) == ["train.yaml"]


def test_load_config_errors_are_one_line_without_server_paths(workspace):
    (workspace.workdir / "configs").mkdir()
    (workspace.workdir / "configs" / "bad.yaml").write_text("learning_rate: [1\n")
    with pytest.raises(ConfigError) as error:
        read_config(workspace, "configs/bad.yaml")
    assert "`configs/bad.yaml` is not valid YAML" in str(error.value) and str(workspace.workdir) not in str(error.value)
    saved = save_config(workspace, "ok.yaml", config_in(workspace), replace=False)
    assert read_config(workspace, "configs/ok.yaml").data.dataset == "identity" and saved.exists()


def test_form_errors_name_the_field_by_its_label_and_say_empty():
    with pytest.raises(ConfigError) as error:
        load_config(None, {"learning_rate": None})
    assert "`learning_rate` is empty in" in str(error.value)
    html = error_notice(error.value, "en")
    assert "Learning rate (`learning_rate`) is empty" in html and 'class="lb-error"' in html
    with pytest.raises(ConfigError) as error:
        load_config(None, {"per_device_train_batch_size": -1})
    assert "Batch size (`per_device_train_batch_size`)" in error_notice(error.value, "en")


def test_number_boxes_leave_range_checks_to_the_schema_and_floats_step_by_their_magnitude():
    box = field_component(FieldSpec.of("per_device_train_batch_size"), label="Batch size")
    assert box.minimum is None  # no Gradio toast that names no field: the schema's message names it
    assert float_step(5e-5) == pytest.approx(1e-5) and float_step(0.003) == pytest.approx(1e-3) and float_step(0.0) == 0.01
    assert field_component(FieldSpec.of("learning_rate"), label="lr").step == pytest.approx(1e-5)


def test_progress_text_of_a_finished_and_a_failed_job():
    latest = {"current_steps": 85, "total_steps": 86, "loss": 1.0, "percentage": 98.8, "elapsed_time": "0:01:00"}
    assert "step 86/86" in progress_html("r", RunState("finished"), latest, "en")
    failed = progress_html("r", RunState("failed", error="boom"), None, "en")
    assert "No step was logged" in failed and "Waiting" not in failed
