"""The generation pipeline: settings, seeds, shard tasks, runners and resume.

- `generation`: `generate(settings, out, ...)`: every shard made by one task, in-process, in a local
  pool or on a Dask cluster; manifest after each shard; resume by what the manifest lists.
- `validation`: what `layersynth validate` checks: checksums, schema, ids, and with --deep each
  sequence regenerated from its seed and compared bit for bit.
"""
