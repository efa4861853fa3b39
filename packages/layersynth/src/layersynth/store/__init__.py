"""Storage: the shard schema, its one writer and one reader, and what sits beside the shards.

- `schema`: the arrays of a sequence, their encoding and the version checks (docs/shards.md).
- `gaps`: the frame gaps a flow holds and picking one gap's flow (`gap_index`, `flow_for`).
- `writer`: ShardWriter, the one writer; `add_arrays` for in-place additions.
- `reader`: `open_dataset(folder)`, Dataset and Shard, the one reader.
- `manifest`: manifest.json, the finished shards with their ids and checksums.
- `card`: DATASET.md, the dataset card; `folder_lock`: one run at a time per output folder.
- `oclr_export`, `middlebury_flo`: the released OCLR data layout and its .flo flow files.
"""
