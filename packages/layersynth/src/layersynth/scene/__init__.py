"""Stage 1, scene: what a sequence shows, drawn at random into a small record.

- `config`: SceneConfig, the frozen, validated ranges a scene is drawn from, with named presets.
- `params`: SceneParams and its parts (sprites, appearances, motions, deformations, occluder), the
  JSON-serialisable record every sequence stores.
- `sampling`: `sample_scene(rng, cfg, assets)`, the only place randomness enters a scene.
"""
