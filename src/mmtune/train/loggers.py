"""Where training metrics go: the config's ``report_to`` and Axolotl's W&B / MLflow keys.

The Trainer's own integrations do the logging (transformers ``WandbCallback`` / ``MLflowCallback``);
they read their settings from environment variables when the run starts, so this module turns
the config keys into ``TrainingArguments.report_to``, ``run_name`` and those variables. A chosen
logger whose package is missing is a ``ConfigError`` before preprocessing, not a failure after it.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from mmtune.config import Config
from mmtune.errors import ConfigError

LOGGERS = ("tensorboard", "wandb", "mlflow")
# The package each logger imports, and what to install for it.
_PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb"), "mlflow": ("mlflow", "mlflow")}


def report_to(cfg: Config) -> list[str]:
    """The loggers of the run. ``report_to`` unset: TensorBoard, plus W&B when ``wandb_project`` is set
    and MLflow when ``mlflow_tracking_uri`` or ``mlflow_experiment_name`` is (as Axolotl turns them on)."""
    if cfg.report_to is None:
        chosen = ["tensorboard"]
        if cfg.wandb_project:
            chosen.append("wandb")
        if cfg.mlflow_tracking_uri or cfg.mlflow_experiment_name:
            chosen.append("mlflow")
        return chosen
    names = [cfg.report_to] if isinstance(cfg.report_to, str) else list(cfg.report_to)
    names = [n.strip().lower() for n in names]
    if "none" in names:
        if len(names) > 1:
            raise ConfigError(f"report_to: 'none' cannot be listed with other loggers (got {', '.join(names)})")
        return []
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise ConfigError(f"report_to: unknown logger {unknown[0]!r}; choose from {', '.join(LOGGERS)}, none")
    return list(dict.fromkeys(names))


def check_loggers(cfg: Config) -> list[str]:
    """The run's loggers, each one's package importable (else a ConfigError naming the install)."""
    chosen = report_to(cfg)
    for name in chosen:
        module, pip = _PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"report_to {name} needs the {module} package: pip install {pip} (or pip install 'mmtune[loggers]')"
            )
    if "mlflow" in chosen:
        _check_mlflow_store(cfg.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))
    return chosen


def _check_mlflow_store(uri: str | None) -> None:
    """Open the MLflow store now: a store MLflow refuses (MLflow 3 refuses a plain file store unless
    MLFLOW_ALLOW_FILE_STORE=true; a database store needs sqlalchemy) fails here, not after preprocessing."""
    import mlflow

    try:
        mlflow.MlflowClient(tracking_uri=uri)
    except Exception as e:  # MlflowException, ImportError of a store's driver: MLflow's own words
        raise ConfigError(f"mlflow_tracking_uri {uri or '(MLflow default)'}: {str(e).splitlines()[0]}") from None


def run_name(cfg: Config) -> str | None:
    """The run's name in the trackers (both W&B and MLflow name the run from ``TrainingArguments.run_name``)."""
    return cfg.wandb_name or cfg.mlflow_run_name


def logger_env(cfg: Config) -> dict[str, str]:
    """The environment variables transformers' W&B and MLflow integrations read, from the config keys set."""
    keys = {
        "WANDB_PROJECT": cfg.wandb_project,
        "WANDB_ENTITY": cfg.wandb_entity,
        "WANDB_MODE": cfg.wandb_mode,
        "WANDB_NAME": cfg.wandb_name,
        "MLFLOW_TRACKING_URI": cfg.mlflow_tracking_uri,
        "MLFLOW_EXPERIMENT_NAME": cfg.mlflow_experiment_name,
    }
    return {k: v for k, v in keys.items() if v}


def apply_loggers(cfg: Config) -> list[str]:
    """Set the loggers' environment for this process (the config wins over the shell's variables:
    it is the run's record) and return ``report_to`` for ``TrainingArguments``."""
    chosen = check_loggers(cfg)
    os.environ.update(logger_env(cfg))
    if "wandb" in chosen and "WANDB_DIR" not in os.environ:
        # W&B writes its run folder into the working directory unless told: keep it with the run's outputs
        os.makedirs(cfg.output_dir, exist_ok=True)
        os.environ["WANDB_DIR"] = os.path.abspath(cfg.output_dir)
    return chosen


def finish_loggers() -> None:
    """End the W&B run of this process. transformers leaves it open until the process exits (which
    also writes its summary), so a second ``train`` in the same process, a notebook or the quickstart,
    would log into the first run; MLflow's callback ends its own run."""
    wandb = sys.modules.get("wandb")  # only when the run imported it: no import for runs without W&B
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()
