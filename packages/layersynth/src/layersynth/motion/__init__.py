"""Stage 2, motion: the maps that move layers, in maths that gives the same bits everywhere.

- `homography`: smooth homography trajectories (eight components, each a quadratic in time).
- `tps`: thin-plate splines: fit, evaluate, differentiate, invert by Newton steps.
- `detmath`: small-array maths that is bit-exact across x86-64 machines (for regeneration).
"""
