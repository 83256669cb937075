"""fid_marginal/{classifier|inception}: the FID of decoded code grids drawn position by position from the training
codes' marginal frequencies (`lightning_ae.metrics.code_marginals`), scored exactly like `fid` (same images,
`fid.num_samples`, same feature network). Models with a prior over a code grid (`sample_indices`, `code_indices`,
`decode_indices`: vqvae_prior); the vqvae_prior row's baseline: its own samples must beat these."""
from __future__ import annotations

import torch

from lightning_ae.evaluation.calls import batched
from lightning_ae.evaluation.parts import fid
from lightning_ae.evaluation.splits import training
from lightning_ae.metrics.code_marginals import position_marginals, sample_independent


class MarginalSampler:
    """What `fid` needs of a model (`sample(n)`), drawing independent codes instead of the prior's."""

    can_sample = True

    def __init__(self, model, marginals: torch.Tensor, seed: int):
        self.model, self.marginals = model, marginals
        self.draws = torch.Generator().manual_seed(seed)

    def sample(self, n):
        return self.model.decode_indices(sample_independent(self.marginals, n, self.draws).to(self.model.device))


def applies(model, datamodule) -> bool:
    return all(callable(getattr(model, m, None)) for m in ("sample_indices", "code_indices", "decode_indices"))


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    x, _ = training(datamodule)
    codes = batched(model.code_indices, x, None, int(cfg.batch_size), device)
    num_codes = int(getattr(model, "num_codes", None) or model.vqvae.num_codes)
    sampler = MarginalSampler(model, position_marginals(codes, num_codes), int(cfg.seed))
    scores = fid.compute(sampler, datamodule, cfg, device)
    return {k.replace("fid/", "fid_marginal/", 1): v for k, v in scores.items()}
