"""What the benchmark scripts share: composing the app's config the way the CLI would."""
from __future__ import annotations


def compose(overrides: list[str], output_dir: str = "outputs/benchmarks"):
    """The `train` config with `overrides`, runs writing below `output_dir` (not tracked)."""
    from hydra import compose as hydra_compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="lightning_ae.conf", version_base="1.3"):
        return hydra_compose(config_name="train", overrides=[f"paths.output_dir={output_dir}", *overrides])
