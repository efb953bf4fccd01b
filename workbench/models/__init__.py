"""Backbones: encoders, the VSE cosine head, the batched SAF / SGR heads and the SGRAF ensemble."""

from workbench.models.encoders import Captions, ImageEncoder, TextEncoder, l2norm
from workbench.models.retrieval import RetrievalModel, build_model, mean_pool
from workbench.models.sgraf import SGRAFHead, scan_attention

__all__ = [
    "Captions",
    "ImageEncoder",
    "TextEncoder",
    "l2norm",
    "RetrievalModel",
    "build_model",
    "mean_pool",
    "SGRAFHead",
    "scan_attention",
]
