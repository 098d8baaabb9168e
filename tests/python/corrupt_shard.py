#!/usr/bin/python3
"""Damages a sherl shard in one precise way, for the tests of `sherl-info --verify`.
Uses h5py (with the zstd plugin from HDF5_PLUGIN_PATH) so that the rest of the file stays valid.

usage: corrupt_shard.py SHARD drop-dataset NAME
       corrupt_shard.py SHARD offsets          # offsets[2] = offsets[1]: not increasing
       corrupt_shard.py SHARD version N        # format_version = N
       corrupt_shard.py SHARD flip-chunk       # flips one byte inside chunk 0 of 'features'
"""
import sys

import h5py


def flip_chunk(path):
    with h5py.File(path, "r") as f:
        info = f["features"].id.get_chunk_info(0)
    where = info.byte_offset + info.size // 2
    with open(path, "r+b") as raw:
        raw.seek(where)
        byte = raw.read(1)
        raw.seek(where)
        raw.write(bytes([byte[0] ^ 0xFF]))


def main(path, action, *args):
    if action == "flip-chunk":
        return flip_chunk(path)
    with h5py.File(path, "r+") as f:
        if action == "drop-dataset":
            del f[args[0]]
        elif action == "offsets":
            f["offsets"][2] = f["offsets"][1]
        elif action == "version":
            f.attrs["format_version"] = int(args[0])
        else:
            sys.exit("unknown action " + action)


if __name__ == "__main__":
    main(*sys.argv[1:])
