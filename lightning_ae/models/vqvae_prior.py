"""The VQ-VAE's second stage (van den Oord et al., NeurIPS 2017, §3.2 and §4): an autoregressive prior over
the grid of code indices of a trained, frozen VQ-VAE, so that the pair can generate images.

    k = VQ-VAE.code_indices(x) ∈ {0..K−1}^{h×w}
    loss = −log p_θ(k) = −Σ_ij log p_θ(k_ij | k_<ij)     (PixelCNN, nats per image; also per code)
    sample(n):  k ~ p_θ (raster order),  x = VQ-VAE.decode(e_k)

The VQ-VAE comes from `vqvae_ckpt` (a checkpoint written by `model=vqvae`; its stored run config rebuilds
the network; an exported folder stores that config as `vqvae` instead) and never trains here: its weights are frozen and it stays in eval mode, so its codebook does
not move. The prior's own checkpoints hold the VQ-VAE weights too, but rebuilding one reads `vqvae_ckpt`
again, so keep that file.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from lightning_ae.errors import UserError

from .base import AutoencoderModule
from .vqvae import VQVAE


def load_vqvae(path: str | None) -> VQVAE:
    """Rebuild a VQ-VAE from a lightning_ae checkpoint (config stored by the train entry point + weights), read
    as data: weights only, its stored config vetted (lightning_ae.safe_load)."""
    from lightning_ae.building import build_stored_model
    from lightning_ae.checkpointing import check_checkpoint

    if not path:
        raise UserError("model=vqvae_prior needs a trained VQ-VAE: set model.vqvae_ckpt=<run dir>/checkpoints/"
                        "last.ckpt (train one first with model=vqvae on the same data)")
    if not Path(path).is_file():
        raise UserError(f"model.vqvae_ckpt={path} does not exist; give the .ckpt of a model=vqvae run")
    ckpt = check_checkpoint(Path(path))  # weights only; its stored model/data targets vetted
    config = ckpt["lightning_ae"]["config"]
    model_cfg = config["model"]
    if not str(model_cfg.get("_target_", "")).endswith("VQVAE"):
        raise UserError(f"model.vqvae_ckpt={path} is not a model=vqvae checkpoint "
                        f"(it holds {model_cfg.get('_target_', 'no lightning_ae config')})")
    vqvae = build_stored_model(config, f"model.vqvae_ckpt={path}")
    vqvae.load_state_dict(ckpt["state_dict"])
    vqvae.run_config = config
    return vqvae


class VQVAEPrior(AutoencoderModule):
    loss_terms = ("loss", "nats_per_code")
    can_sample = True

    def __init__(self, net, vqvae_ckpt: str | None = None, shape=None, optimizer=None, scheduler=None,
                 temperature: float = 1.0, compile: bool = False, fused_steps: int = 1, vqvae: VQVAE | None = None):
        """`vqvae`: the first stage built from its config alone (an exported folder's config.yaml holds that config
        in place of `vqvae_ckpt`; the weights come with the prior's own), else it is read from `vqvae_ckpt`."""
        vqvae = vqvae if vqvae is not None else load_vqvae(vqvae_ckpt)
        if shape is not None and tuple(int(s) for s in shape) != vqvae.shape:
            raise UserError(f"model.vqvae_ckpt was trained on images of shape {vqvae.shape} but this data has "
                            f"{tuple(shape)}; use the same data (and size) as the VQ-VAE run")
        super().__init__(shape=vqvae.shape, latent_dim=vqvae.latent_dim, optimizer=optimizer, scheduler=scheduler,
                         likelihood=vqvae.likelihood.kind, likelihood_std=vqvae.likelihood.std, compile=compile,
                         fused_steps=fused_steps)
        self.vqvae = vqvae.requires_grad_(False).eval()
        self.prior = net(num_codes=vqvae.num_codes)
        self.temperature = float(temperature)

    def train(self, mode: bool = True):
        super().train(mode)
        self.vqvae.eval()  # frozen first stage: no EMA codebook updates, no dropout/BN changes
        return self

    def portable_config(self) -> dict:
        """The VQ-VAE's own model config in place of `vqvae_ckpt`: its weights are part of the prior's."""
        vqvae = self.run_config["model"].get("vqvae") or self.vqvae.run_config["model"]
        return {**super().portable_config(), "vqvae_ckpt": None, "vqvae": vqvae}

    # -- interface: the VQ-VAE's latent space, the prior's samples ---------------------------------
    def code_indices(self, x):
        return self.vqvae.code_indices(x)

    def encode(self, x):
        return self.vqvae.encode(x)

    def decode(self, z):
        return self.vqvae.decode(z)

    def sample_indices(self, n: int) -> torch.Tensor:
        h, w = self.vqvae.grid
        return self.prior.sample(n, h, w, device=self.device, temperature=self.temperature)

    def decode_indices(self, idx):
        return self.vqvae.decode_indices(idx)

    def sample(self, n):
        return self.decode_indices(self.sample_indices(n))

    # -- training story -------------------------------------------------------------------------
    def loss(self, batch):
        x, _ = batch
        with torch.no_grad():
            idx = self.vqvae.code_indices(x)
        logits = self.prior(idx).float()
        nll = F.cross_entropy(logits, idx, reduction="none").flatten(1).sum(1).mean()
        return {"loss": nll, "nats_per_code": nll / idx[0].numel()}
