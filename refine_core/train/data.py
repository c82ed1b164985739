"""Training data: BVH mocap retargeted to SMPL-24, split by performer, cached.

The work lives in focused modules; this one keeps the names other code
imports and the command line (``python -m refine_core.train.data``):
- ``bvh``: the BVH parser (``read_bvh``, ``bvh_globals``);
- ``retarget``: one retargeting method, a joint map per rig (CMU CC_Base,
  cgspeed, daz, ACCAD, fair);
- ``floor``: floor levelling and foot-contact numbers;
- ``dataset``: data folders, the split by performer, the cache, AMASS folders;
- ``renders``: stick-figure PNGs and the foot-contact table of docs/data.md.
"""
import argparse

from .bvh import Bvh, bvh_globals, read_bvh  # noqa: F401
from .dataset import (  # noqa: F401
    CACHE_ENV,
    DATA_ENV,
    MORE_ENV,
    MORE_TEST,
    MORE_VAL,
    SPLITS,
    TRAIN_SUBJECTS,
    VAL_SUBJECTS,
    Z_UP_TO_Y_UP,
    cache_dir,
    cmu_files,
    data_root,
    load_amass_folder,
    load_bvh,
    load_clips,
    load_cmu,
    load_more_bvh,
    more_clips,
    more_root,
)
from .floor import CONTACT_SPEED, FOOT_JOINTS, contact_stats, level_floor, lower_foot  # noqa: F401
from .renders import RENDER_CLIPS, print_feet, render, render_docs, render_rigs  # noqa: F401
from .retarget import BONE_MAP, RIGS, TPose, is_tpose, reference_tpose, retarget, retarget_rig, tpose_of  # noqa: F401


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", metavar="DIR", 
                        help="write stick-figure PNGs of a few clips to DIR (CMU clips and one per rig)")
    parser.add_argument("--root", help=f"CMU BVH folder (default ${DATA_ENV} or ../shared/data/cmu_bvh)")
    parser.add_argument("--build-cache", action="store_true", 
                        help="retarget every split of both sources into the cache (30 fps; CMU also 60)")
    parser.add_argument("--feet", metavar="SPLIT", 
                        help="print foot-contact numbers per subject of a CMU split (train, val, all) at 30 fps")
    parser.add_argument("--rig-feet", action="store_true", 
                        help="print foot-contact numbers per rig of every more_bvh clip at 30 fps")
    parser.add_argument("--counts", action="store_true", help="print clips and frames at 30 fps per split and rig")
    args = parser.parse_args(argv)
    if args.feet:
        print_feet(load_cmu(args.root, 30, args.feet))
    if args.rig_feet:
        print_feet([m for s in SPLITS for m in load_clips(s, sources=("more",))], key="rig")
    if args.render:
        for p in render_docs(args.render, args.root) + render_rigs(args.render):
            print(p)
    if args.build_cache:
        for split in ("train", "val"):
            for fps in (30, 60):
                ms = load_cmu(args.root, fps, split)
                print(f"cmu {split} {fps} fps: {len(ms)} clips, {sum(m.num_frames for m in ms)} frames")
        for split in SPLITS:
            ms = load_clips(split, sources=("more",))
            print(f"more {split} 30 fps: {len(ms)} clips, {sum(m.num_frames for m in ms)} frames")
    if args.counts:
        print("| split | rig | performers | clips | frames (30 fps) | minutes |")
        print("|---|---|---|---|---|---|")
        for split in SPLITS:
            ms = load_clips(split)
            for rig in sorted({m.meta["rig"] for m in ms}):
                sub = [m for m in ms if m.meta["rig"] == rig]
                frames = sum(m.num_frames for m in sub)
                people = ", ".join(sorted({m.meta["performer"] for m in sub}))
                print(f"| {split} | {rig} | {people} | {len(sub)} | {frames:,} | {frames / 1800:.1f} |")
            total = sum(m.num_frames for m in ms)
            print(f"| {split} | all | | {len(ms)} | {total:,} | {total / 1800:.1f} |")


if __name__ == "__main__":
    main()
