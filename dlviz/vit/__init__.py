"""The Vision Transformer (Dosovitskiy et al. 2021) and attention rollout (Abnar & Zuidema 2020)."""
