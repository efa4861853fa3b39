"""Assets: what scenes are drawn from, built-in or from the user's local dataset copies.

- `sources`: the Assets bundle and the source interfaces; the built-in procedural assets.
- `procedural_shapes`, `procedural_textures` (with `texture_noise`): the built-in banks, cached
  on disk through `bank_cache`.
- `loading`: Assets from `--textures`, `--silhouettes`, `--backgrounds` folders.
- `texture_folder`, `silhouette_bank`, `background_video`: PASS-like images, YouTube-VOS
  silhouettes, background videos, each behind a cached index.
- `lockfile`: datasets.lock, verification of local copies, user locks.
- `fetch`: the one explicit download (`layersynth datasets fetch`).
"""
