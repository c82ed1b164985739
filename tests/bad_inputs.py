"""The reliability corpus: bad (and borderline) inputs, built at test time.

Each ``Case`` writes its file(s) into a folder and says what must happen:

- stage "read": the file cannot be read. CLI: exit 2, one stderr line naming
  the file and ``expect``, no output file. Add-on import: the error is
  reported, nothing is created, other armatures' keys are unchanged.
- stage "refine": the file reads (and imports) but cannot be refined
  (fewer than 3 frames). CLI: as "read"; add-on: the refine operator reports
  it and the keys are unchanged.
- stage "output": the input is fine, the output cannot be written (CLI exit
  2 naming the output; whatever was at the output path is left exactly as
  it was; add-on: export reports it, the same).
- stage "argument": a command-line argument (``args``) is refused: CLI exit
  2, one line stating the problem, no output (the add-on has no such
  argument; its own checks are tested in tests/addon).
- stage "method": the input is fine but the method's result is not (NaN
  from finite values): CLI exit 1, one line naming the method and the
  input, no output written.
- stage "ok": a borderline input the project accepts (``note`` says what it
  does with it); the CLI exits 0 and writes the output; stderr holds at
  most ``warning:`` lines (and, when the case says what is dropped with a
  warning, ``warns`` among them).

``max_rss_mb``: the CLI process's peak resident memory must stay under it
(memory bombs); ``timeout_s``: the CLI must return within it (a hang is a
failure, not a stuck suite). Every case, whatever its stage, leaves no
temporary file (``.*.tmp``) in its folder.

Hostile cases (``marker=True``) carry a payload that would create
``folder / MARKER`` if it ever ran. Bad files are made from the valid samples
of tests/format_samples.py by truncation and mutation. ``run_cli`` runs one
case through ``python -m refine_core refine``; the tests and
tools/reliability_report.py share it.
"""
import os
import pickle
import resource
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import format_samples as fs

ROOT = Path(__file__).resolve().parents[1]
MARKER = "PAYLOAD_RAN"
LONG_FRAMES = 100_000


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Path]  # writes the input into a folder, returns its path
    expect: str | None  # substring of the one-line problem; None for "ok"
    stage: str = "read"  # read | refine | output | ok
    method: str = "butterworth"
    marker: bool = False  # hostile payload: folder / MARKER must never appear
    note: str = ""  # what the project does with a borderline input
    output: Callable[[Path], Path] | None = None  # output path (default folder/refined.npz)
    warns: str | None = None  # stage "ok": substring of the warning printed on stderr
    max_rss_mb: float | None = None  # peak RSS of the CLI process must stay below this
    timeout_s: float = 600.0  # the CLI must return within this
    args: tuple = ()  # more CLI arguments, e.g. ("--fps", "60")


# ------------------------------------------------------------------ helpers
def _poses_npz(name, frames=10, **override):
    """A builder of an AMASS-style .npz with some arrays replaced."""
    def build(folder):
        q = fs.random_quats(max(frames, 1), seed=1)[:frames]
        arrays = {"poses": fs._aa(q).reshape(frames, 72), "trans": np.zeros((frames, 3)),
                  "mocap_framerate": np.float64(30.0)}
        arrays.update({k: v(frames) if callable(v) else v for k, v in override.items()})
        arrays = {k: v for k, v in arrays.items() if v is not None}  # None drops a key
        path = Path(folder) / name
        np.savez(path, **arrays)
        return path
    return build


def _with_nan(shape, row, value=np.nan):
    def make(frames):
        a = np.zeros(shape(frames))
        a[row] = value
        return a
    return make


def _sample_cut(sample, keep):
    """A builder writing the first ``keep`` (fraction or byte count) of a valid sample."""
    def build(folder):
        src = fs.BUILDERS[sample](Path(folder)).path
        data = src.read_bytes()
        n = int(len(data) * keep) if isinstance(keep, float) else keep
        path = Path(folder) / f"cut_{src.name}"
        path.write_bytes(data[:n])
        src.unlink()
        return path
    return build


def _bytes(name, data):
    def build(folder):
        path = Path(folder) / name
        path.write_bytes(data)
        return path
    return build


def _npy(name, make):
    def build(folder):
        path = Path(folder) / name
        np.save(path, make())
        return path
    return build


def _renamed(sample, new_name):
    """A valid sample under another file name (content decides the format)."""
    def build(folder):
        src = fs.BUILDERS[sample](Path(folder)).path
        return src.rename(Path(folder) / new_name)
    return build


def _motion_npz(relpath, frames, fps=30.0):
    """A valid interchange file of a synthetic walk at ``folder/relpath``."""
    def build(folder):
        from refine_core.formats import write_npz
        from refine_core.synthetic import walking_motion

        path = Path(folder) / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz(walking_motion(frames, fps), path)
        return path
    return build


class _Payload:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _hostile(name, writer):
    def build(folder):
        payload = _Payload(Path(folder) / MARKER)
        path = Path(folder) / name
        if writer == "pickle":
            path.write_bytes(pickle.dumps({"pose": np.zeros((5, 72)), "x": payload}))
        elif writer == "joblib":
            import joblib

            joblib.dump({1: {"pose": np.zeros((5, 72)), "x": payload}}, path, compress=3)
        elif writer == "npz":
            np.savez(path, poses=np.zeros((5, 72)), x=np.array([payload], dtype=object))
        else:  # torch.save: a zip whose data.pkl names os.system
            import torch

            torch.save({"smpl_params_global": {"body_pose": torch.zeros(5, 63)}, "x": payload}, path)
        return path
    return build


def _unknown_keys(folder):
    path = Path(folder) / "only_unknown_keys.npz"
    np.savez(path, camera=np.zeros((10, 3)), bbox=np.ones((10, 4)))
    return path


def _folder_input(folder):
    path = Path(folder) / "a folder.npz"
    path.mkdir()
    return path


def _missing(folder):
    return Path(folder) / "does_not_exist.npz"


def _scaled_quats(folder):
    path = Path(folder) / "non_unit_quats.npy"
    np.save(path, fs.random_quats(10, seed=2) * np.linspace(0.5, 3.0, 24)[None, :, None])
    return path


def _zero_quat(folder):
    q = fs.random_quats(10, seed=2)
    q[3, 7] = 0.0
    path = Path(folder) / "zero_quat.npy"
    np.save(path, q)
    return path


def _bad_matrices(folder):
    q = fs.random_quats(10, seed=2)
    m = fs._mats(q)
    m[6, 2] *= 2.0
    path = Path(folder) / "scaled_matrices.npy"
    np.save(path, m)
    return path


def _split_mismatch(folder):
    path = Path(folder) / "split_mismatch.npz"
    np.savez(path, root_orient=np.zeros((10, 3)), pose_body=np.zeros((8, 63)), trans=np.zeros((10, 3)))
    return path


# ------------------------------------------------------------ output cases
def read_only_output(folder):
    """``folder/read only out/refined.npz`` in a folder nobody may write to.

    chmod is enough for ordinary users; root ignores it, so the folder is
    also made immutable (chattr +i) where that is allowed. ``release``
    undoes both. If neither holds, /sys (read-only even to root) stands in.
    """
    ro = Path(folder) / "read only out"
    ro.mkdir(exist_ok=True)
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if _writable(ro):
        subprocess.run(["chattr", "+i", str(ro)], capture_output=True)
    if _writable(ro):
        return Path("/sys/motion_refine_reliability.npz")
    return ro / "refined.npz"


def missing_output_folder(folder):
    return Path(folder) / "no such folder" / "refined.npz"


def _writable(folder):
    probe = Path(folder) / ".probe"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True


def release(folder):
    """Make a case folder removable again (undo read_only_output)."""
    ro = Path(folder) / "read only out"
    if ro.exists():
        subprocess.run(["chattr", "-i", str(ro)], capture_output=True)
        ro.chmod(stat.S_IRWXU)


def default_output(folder):
    return Path(folder) / "refined.npz"


# -------------------------------------------------------------- the corpus
_fps_not_positive = "frame rate must be a positive number"
CASES = [
    # empty and truncated files
    Case("empty_file", _bytes("empty.npz", b""), "file is empty"),
    Case("truncated_amass_npz", _sample_cut("amass_npz", 0.5), "truncated or corrupt"),
    Case("truncated_smplx_npz_header_only", _sample_cut("smplx_npz", 16), "truncated or corrupt"),
    Case("truncated_npy", _sample_cut("array_aa72", 0.5), "truncated or corrupt .npy"),
    Case("truncated_vibe_pkl", _sample_cut("vibe_pkl", 0.5), "truncated or corrupt"),
    Case("truncated_phalp_pkl_compressed", _sample_cut("phalp_pkl", 0.5), "not a readable pickle/joblib file"),
    Case("truncated_gvhmr_pt", _sample_cut("gvhmr_pt", 0.5), "truncated or corrupt"),
    # wrong extensions and not-a-motion files
    Case("text_named_npz", _bytes("notes.npz", b"hello, this is not a motion\n"), "unknown format"),
    Case("png_named_pkl", _bytes("picture.pkl", b"\x89PNG\r\n\x1a\n" + bytes(200)), "unknown format"),
    Case("npz_named_txt", _renamed("amass_npz", "smpl_amass.txt"), None, "ok",
         note="read by content: the extension is ignored"),
    Case("pkl_named_npz", _renamed("vibe_pkl", "vibe_output.npz"), None, "ok",
         note="read by content: the extension is ignored"),
    Case("folder_as_input", _folder_input, "is a folder"),
    Case("missing_file", _missing, "file not found"),
    # wrong shapes and dtypes
    Case("poses_99_columns", _poses_npz("poses99.npz", poses=lambda t: np.zeros((t, 99))), "(10, 99)"),
    Case("poses_1d", _poses_npz("poses1d.npz", poses=np.zeros(72)), "expected one row per frame"),
    Case("array_10x7_npy", _npy("a10x7.npy", lambda: np.zeros((10, 7))), "(10, 7)"),
    Case("scalar_npy", _npy("scalar.npy", lambda: np.float64(3.0)), "not a motion"),
    Case("string_poses", _poses_npz("strings.npz", poses=lambda t: np.full((t, 72), "x")), "not a numeric array"),
    Case("complex_poses", _poses_npz("complex.npz", poses=lambda t: np.zeros((t, 72), complex)), "not a numeric array"),
    Case("bool_poses", _poses_npz("bool.npz", poses=lambda t: np.zeros((t, 72), bool)), "not a numeric array"),
    Case("int_and_float16_poses", _poses_npz("ints.npz", poses=lambda t: np.zeros((t, 72), np.int32),
                                             trans=lambda t: np.zeros((t, 3), np.float16)), None, "ok",
         note="integer and half-precision arrays are numbers: read as float64"),
    Case("trans_two_columns", _poses_npz("trans2.npz", trans=lambda t: np.zeros((t, 2))), "expected (10, 3)"),
    # NaN and inf
    Case("nan_in_poses", _poses_npz("nan_poses.npz", poses=_with_nan(lambda t: (t, 72), (4, 5))),
         "NaN or infinite values at frame(s) 4"),
    Case("inf_in_trans", _poses_npz("inf_trans.npz", trans=_with_nan(lambda t: (t, 3), 2, np.inf)),
         "NaN or infinite values at frame(s) 2"),
    Case("nan_in_betas", _poses_npz("nan_betas.npz", betas=np.full(10, np.nan)), "betas contain NaN"),
    # quaternions and matrices
    Case("non_unit_quaternions", _scaled_quats, None, "ok",
         note="normalised on reading (estimators write slightly non-unit ones)"),
    Case("zero_quaternion", _zero_quat, "zero-length rotation quaternion at frame(s) 3"),
    Case("non_rotation_matrices", _bad_matrices, "not rotation matrices"),
    # frame counts
    Case("zero_frames", _poses_npz("zero_frames.npz", frames=0), "has 0 frames"),
    Case("single_frame", _poses_npz("one_frame.npz", frames=1), "at least 3 needed", "refine",
         note="reads and imports; too short to refine"),
    Case("two_frames", _poses_npz("two_frames.npz", frames=2), "at least 3 needed", "refine",
         note="reads and imports; too short to refine"),
    Case("three_frames", _motion_npz("three_frames.npz", 3), None, "ok", method="savgol",
         note="shorter than every window: refiners pad the edges"),
    # frame rate
    Case("fps_zero", _poses_npz("fps0.npz", mocap_framerate=np.float64(0)), _fps_not_positive),
    Case("fps_negative", _poses_npz("fps_neg.npz", mocap_framerate=np.float64(-30)), _fps_not_positive),
    Case("fps_nan", _poses_npz("fps_nan.npz", mocap_framerate=np.float64(np.nan)), _fps_not_positive),
    Case("fps_text", _poses_npz("fps_text.npz", mocap_framerate=np.array("thirty")), "must be a single number"),
    Case("fps_missing", _poses_npz("fps_missing.npz", mocap_framerate=None), None, "ok",
         note="30 fps assumed and said so (`info`: fps_assumed)"),
    # mismatched lengths, unknown keys
    Case("trans_shorter_than_poses", _poses_npz("len.npz", trans=np.zeros((7, 3))), "poses have 10 frames"),
    Case("split_keys_mismatch", _split_mismatch, "10 frames"),
    Case("unknown_keys_only", _unknown_keys, "unknown format"),
    # hostile files
    Case("pickle_runs_command", _hostile("vibe_output.pkl", "pickle"), "refusing to unpickle", marker=True),
    Case("joblib_runs_command", _hostile("wham_output.pkl", "joblib"), "refusing to unpickle", marker=True),
    Case("npz_object_array_runs_command", _hostile("evil.npz", "npz"), "refusing to unpickle", marker=True),
    Case("pt_carrying_code", _hostile("hmr4d_results.pt", "torch"), "refusing to unpickle", marker=True),
    # size and paths
    Case("frames_100000", _motion_npz("long.npz", LONG_FRAMES), None, "ok", method="savgol",
         note="refined in full (memory bounded: benchmarks/bench_memory.py)"),
    Case("unicode_and_spaces_in_path", _motion_npz("mötion ünïcode 動き/my walk 01.npz", 40), None, "ok",
         note="any path the OS allows"),
    # outputs
    Case("read_only_output_folder", _motion_npz("walk.npz", 40), "cannot write", "output", output=read_only_output),
    Case("missing_output_folder", _motion_npz("walk.npz", 40), "does not exist", "output", output=missing_output_folder),
]
# ------------------------------------------------ issue 20: input half
# Inputs people have (AIST++, GLAMR, HumanData, ROMP, ...), joint-position
# files, memory bombs (D2), BUILD onto allow-listed classes (D3), FIFOs and
# devices (D5), self-referencing / deep pickles and odd tensors (D6).
BOMB_RSS_MB = 1500.0


class _Reduce:
    """Pickles as ``func(*args)`` without calling it: the hostile constructor calls."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _pickled(name, make, protocol=2):
    def build(folder):
        path = Path(folder) / name
        path.write_bytes(pickle.dumps(make(), protocol=protocol))
        return path
    return build


def _deep_list_pickle(folder, depth=50_000):
    """[[[...]]] 50,000 deep, written opcode by opcode (pickle.dumps itself
    recurses): EMPTY_LIST x depth, then APPEND x (depth - 1)."""
    path = Path(folder) / "deep.pkl"
    path.write_bytes(b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b".")
    return path


def _self_reference(folder):
    d = {"poses": np.zeros((5, 72))}
    d["self"] = d
    path = Path(folder) / "self_reference.pkl"
    path.write_bytes(pickle.dumps(d, protocol=4))
    return path


def _build_onto_wrapper(folder):
    """The 87-byte D3 pickle: BUILD sets NumpyArrayWrapper.read = slice on the class itself."""
    path = Path(folder) / "class_build.pkl"
    path.write_bytes(b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\nq\x00N}q\x01X\x04\x00\x00\x00readq\x02"
                     b"cbuiltins\nslice\nq\x03s\x86q\x04b.")
    return path


def _deflate_bomb_npz(name, bomb_key, shape=(200_000, 3600)):
    """A valid 40-frame motion plus member ``bomb_key``.npy: deflated zeros
    declaring ``shape`` float64 (5.76 GB), about 5.6 MB on disk. Built from
    one full-flushed compressed MiB repeated (identical input after a full
    flush compresses to identical bytes), so it costs milliseconds; the CRC
    is not computed (a reader that gets to check it has already allocated
    the array)."""
    def build(folder):
        from refine_core.formats import write_npz
        from refine_core.synthetic import walking_motion

        path = Path(folder) / name
        write_npz(walking_motion(40), path)
        if bomb_key == "poses":  # the motion's own key is the bomb: rebuild without it
            with np.load(path) as f:
                keep = {k: f[k] for k in f.files if k != "poses"}
            np.savez(path, **keep)
        header = _npy_header(shape)
        nbytes = int(np.prod(shape)) * 8
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = comp.compress(header) + comp.flush(zlib.Z_FULL_FLUSH)
        mib = comp.compress(bytes(1 << 20)) + comp.flush(zlib.Z_FULL_FLUSH)
        full, rest = divmod(nbytes, 1 << 20)
        tail = comp.compress(bytes(rest)) + comp.flush()
        data = head + mib * full + tail
        with zipfile.ZipFile(path, "a") as zf:
            info = zipfile.ZipInfo(f"{bomb_key}.npy", date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size, info.compress_size, info.CRC = len(header) + nbytes, len(data), 0
            zf.fp.seek(zf.start_dir)
            info.header_offset = zf.fp.tell()
            zf.fp.write(info.FileHeader(zip64=True))
            zf.fp.write(data)
            zf.start_dir = zf.fp.tell()
            zf.filelist.append(info)
            zf.NameToInfo[info.filename] = info
            zf._didModify = True
        return path
    return build


def _npy_header(shape, dtype="<f8"):
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def _npy_header_only(folder):
    path = Path(folder) / "header_says_5_76_gb.npy"
    path.write_bytes(_npy_header((200_000, 3600)) + bytes(64))
    return path


def _fifo(folder):
    path = Path(folder) / "motion.npz"
    os.mkfifo(path)
    return path


def _torch_file(name, make):
    def build(folder):
        import warnings

        import torch

        path = Path(folder) / name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notices on quantized / nested tensors
            params = {"global_orient": torch.zeros(5, 3), "body_pose": make(torch), "transl": torch.zeros(5, 3)}
            torch.save({"smpl_params_global": params}, path)
        return path
    return build


def _npz_holding(name, **arrays):
    def build(folder):
        path = Path(folder) / name
        np.savez(path, **{k: v() if callable(v) else v for k, v in arrays.items()})
        return path
    return build


def _deep_object_npz(folder):
    nested = []
    for _ in range(100):  # np.savez pickles it with the C pickler, which recurses: 100 is within its reach
        nested = [nested]
    path = Path(folder) / "deep_object.npz"
    np.savez(path, poses=np.zeros((5, 72)), deep=np.array([nested, None], dtype=object)[:1])
    return path


def _romp_frame_npz(folder):
    q = fs.random_quats(2, seed=3)
    path = Path(folder) / "image_0001.npz"
    np.savez(path, results=fs._romp_frame(q, np.random.default_rng(0), 2))
    return path


def _romp_untracked(folder):
    """video_results.npz without tracking (no track ids) and two people in frame 3."""
    rng = np.random.default_rng(0)
    frames = {f"{t:08d}.jpg": fs._romp_frame(fs.random_quats(2 if t == 3 else 1, seed=t), rng, 2 if t == 3 else 1)
              for t in range(6)}
    path = Path(folder) / "video_results.npz"
    np.savez(path, results=frames, sequence_results={})
    return path


def _sample_edit(sample, edit, name=None):
    """A valid sample of tests/format_samples.py with its content edited by ``edit(obj) -> obj``."""
    def build(folder):
        s = fs.BUILDERS[sample](Path(folder))
        path = Path(folder) / (name or s.path.name)
        if s.path.suffix == ".npz":
            with np.load(s.path, allow_pickle=True) as f:
                obj = {k: f[k] for k in f.files}
            s.path.unlink()
            np.savez(path, **edit(obj))
        else:
            obj = pickle.loads(s.path.read_bytes())
            s.path.unlink()
            path.write_bytes(pickle.dumps(edit(obj)))
        return path
    return build


def _without(key):
    def edit(obj):
        obj.pop(key)
        return obj
    return edit


def _set(key, value):
    def edit(obj):
        obj[key] = value
        return obj
    return edit


def _glamr_without_world_and_cam(obj):
    for person in obj["person_data"].values():
        for key in ("smpl_orient_world", "root_trans_world", "smpl_orient_cam"):
            person.pop(key)
    return obj


def _humandata_bad_body(obj):
    smpl = obj["smpl"].item()
    smpl["body_pose"] = smpl["body_pose"][:, :10]
    obj["smpl"] = np.array(smpl, dtype=object)
    return obj


def issue20_input_cases():
    """Issue 20's input cases, and their siblings."""
    ndarray_bomb = (3_000_000, 72)
    return [
        # D2: memory bombs, refused before anything is allocated; peak RSS bounded
        Case("pickle_ndarray_constructor_bomb", _pickled("ndarray_bomb.pkl", lambda: _Reduce(np.ndarray, ndarray_bomb)),
             "declares", marker=False, max_rss_mb=BOMB_RSS_MB),
        Case("pickle_bytearray_8gib", _pickled("bytearray.pkl", lambda: _Reduce(bytearray, 8 << 30)), "declares",
             max_rss_mb=BOMB_RSS_MB),
        Case("pickle_bytes_8gib", _pickled("bytes.pkl", lambda: _Reduce(bytes, 8 << 30)), "declares",
             max_rss_mb=BOMB_RSS_MB),
        Case("pickle_zero_stride_ndarray", _pickled("zero_stride.pkl", lambda: _Reduce(
            np.ndarray, (10**9,), np.dtype("f8"), bytes(8), 0, (0,))), "declares", max_rss_mb=BOMB_RSS_MB),
        Case("pickle_reconstruct_bomb", _pickled("reconstruct.pkl", lambda: _Reduce(
            np.zeros(1).__reduce__()[0], np.ndarray, (10**9,), b"d")), "declares", max_rss_mb=BOMB_RSS_MB),
        Case("joblib_track_holding_a_bomb", _pickled("vibe_output.pkl", lambda: {1: {
            "pose": np.zeros((5, 72)), "verts": _Reduce(np.ndarray, ndarray_bomb)}}), "declares", max_rss_mb=BOMB_RSS_MB),
        Case("pt_zero_stride_tensor", _torch_file("hmr4d_results.pt", lambda torch: torch.zeros(1).expand(5, 10**8)),
             "declares", max_rss_mb=BOMB_RSS_MB),
        Case("npz_deflate_bomb_extra", _deflate_bomb_npz("walk_with_bomb.npz", "junk"), None, "ok",
             warns="dropped extra 'junk'", max_rss_mb=BOMB_RSS_MB,
             note="the motion is read; the 5.76 GB member is never read, dropped with a warning, not in the output"),
        Case("npz_deflate_bomb_poses", _deflate_bomb_npz("poses_bomb.npz", "poses"), "poses declares",
             max_rss_mb=BOMB_RSS_MB),
        Case("npy_header_declares_5_76_gb", _npy_header_only, "truncated or corrupt .npy", max_rss_mb=BOMB_RSS_MB),
        # D3: a pickle that BUILDs onto an allow-listed class
        Case("pickle_build_onto_array_record_class", _build_onto_wrapper, "sets attributes"),
        # D5: not regular files
        Case("fifo_as_input", _fifo, "named pipe (FIFO)", timeout_s=120.0),
        Case("dev_null_as_input", lambda folder: Path("/dev/null"), "is a device", timeout_s=120.0),
        Case("dev_zero_as_input", lambda folder: Path("/dev/zero"), "is a device", timeout_s=120.0),
        # D6: self-reference, deep nesting, tensors that are not plain data
        Case("pickle_self_reference", _self_reference, "contains itself"),
        Case("pickle_50000_deep", _deep_list_pickle, "nested more than 64 levels deep"),
        Case("npz_object_100_deep", _deep_object_npz, "nested more than 64 levels deep"),
        Case("pt_sparse_tensor", _torch_file("sparse.pt", lambda torch: torch.zeros(5, 63).to_sparse()), "sparse tensor"),
        Case("pt_meta_tensor", _torch_file("meta.pt", lambda torch: torch.empty(5, 63, device="meta")), "meta tensor"),
        Case("pt_quantized_tensor", _torch_file("quantized.pt", lambda torch: torch.quantize_per_tensor(
            torch.zeros(5, 63), 0.1, 0, torch.qint8)), "quantized tensor"),
        Case("pt_nested_tensor", _torch_file("nested.pt", lambda torch: torch.nested.nested_tensor(
            [torch.zeros(5, 63), torch.zeros(4, 63)])), "nested tensor"),
        # files that hold joint positions or features, not rotations
        Case("joint_positions_22", _npy("positions22.npy", lambda: np.zeros((10, 22, 3))), "holds joint positions"),
        Case("humanml3d_features_263", _npy("features263.npy", lambda: np.zeros((10, 263))), "motion features"),
        Case("mdm_results_npy", _npy("results.npy", lambda: np.array({"motion": np.zeros((3, 22, 3, 60)), "text": ["walk"] * 3,
                                                                      "lengths": np.full(3, 60)}, dtype=object)),
             "holds joint positions"),
        Case("array_10x7_lists_every_shape", _npy("a10x7.npy", lambda: np.zeros((10, 7))), "(T, 156) SMPL-H or (T, 165)"),
        # layouts of issue 20 that cannot be read, with what they hold
        Case("romp_single_image_npz", _romp_frame_npz, "ROMP results of one image"),
        Case("romp_untracked_crowded_frame", _romp_untracked, "without track ids"),
        Case("aistpp_zero_scaling", _sample_edit("aistpp_pkl", _set("smpl_scaling", np.zeros(1, np.float32))),
             "smpl_scaling must be one positive number"),
        Case("glamr_without_orientation", _sample_edit("glamr_pkl", _glamr_without_world_and_cam), "missing key"),
        Case("humandata_body_pose_10_joints", _sample_edit("humandata_npz", _humandata_bad_body), "has shape (40, 10, 3)"),
        Case("npz_dict_member_unknown", _npz_holding("results.npz", results=lambda: np.array(
            {"foo": np.zeros(3), "bar": np.ones(2)}, dtype=object)), "no SMPL motion keys found (keys: foo"),
        # ... and those that are read
        Case("aistpp_motion", _renamed("aistpp_pkl", "gBR_sBM_cAll_d04_mBR0_ch01.pkl"), None, "ok",
             note="AIST++: smpl_trans / smpl_scaling in metres, 60 fps, y up"),
        Case("edge_output", _renamed("edge_pkl", "edge_slice0.pkl"), None, "ok", note="EDGE output: metres, 30 fps, z up"),
        Case("glamr_result", _renamed("glamr_pkl", "basketball_seed1.pkl"), None, "ok",
             note="GLAMR: the longest person, world frame"),
        Case("humandata_npz", _renamed("humandata_npz", "inference_result.npz"), None, "ok",
             note="mmhuman3d HumanData: the longest person_id"),
        Case("romp_video_results", _renamed("romp_npz", "video_results.npz"), None, "ok",
             note="ROMP: the 0-d dict members unwrapped; the longest track"),
        Case("pose_shape_npz", _renamed("pose_shape_npz", "3dpw_test.npz"), None, "ok", note="MoSh-style pose/shape"),
        Case("npz_dict_member_amass", _npz_holding("wrapped.npz", results=lambda: np.array(
            {"poses": np.zeros((10, 72)), "trans": np.zeros((10, 3)), "mocap_framerate": 60.0}, dtype=object)), None, "ok",
             note="an npz holding only a dict is read as the dict (ROMP writes them so)"),
    ]


CASES += issue20_input_cases()


# ---------------------------------------------------------------- running
def output_state(path):
    """What is at ``path``, not following a link: None if nothing, else
    (file type, inode, size, mtime, link target). Compared before and after
    a run, it says whether the output path was written or replaced."""
    p = os.fspath(path).rstrip(os.sep) or os.sep  # "newdir/": was a file "newdir" written?
    try:
        st = os.lstat(p)
    except OSError:
        return None
    return (stat.S_IFMT(st.st_mode), st.st_ino, st.st_size, st.st_mtime_ns,
            os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)


def temps_left(folder) -> list:
    """Hidden temporary files (atomic_write's ``.NAME.*.tmp``) anywhere under ``folder``."""
    return sorted(p.name for p in Path(folder).rglob(".*") if ".tmp" in p.name)


@dataclass
class CliResult:
    input: Path
    output: Path
    code: int
    stderr: str
    stdout: str
    output_written: bool
    payload_ran: bool
    peak_rss_mb: float = 0.0  # the CLI process's peak resident memory (getrusage of that child)
    seconds: float = 0.0
    timed_out: bool = False
    temps: tuple = ()  # temporary files left in the case folder

    @property
    def message(self) -> str:
        """The last stderr line (the one-line error), else stdout's."""
        lines = (self.stderr or self.stdout).strip().splitlines()
        return lines[-1] if lines else ""


def run_cli(case: Case, folder) -> CliResult:
    """Build ``case`` in ``folder`` and refine it with the CLI in a fresh process
    (killed after ``case.timeout_s``); measures that process's peak RSS."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    src = case.build(folder)
    out = (case.output or default_output)(folder)
    before = output_state(out)
    try:
        code, stdout, stderr, rss_kb, seconds, timed_out = _run_measured(
            [sys.executable, "-m", "refine_core", "refine", str(src), "-o", str(out), "--method", case.method,
             *case.args], case.timeout_s)
        after = output_state(out)
        written = after is not None and after != before
    finally:
        release(folder)
    return CliResult(src, out, code, stderr, stdout, written, (folder / MARKER).exists(), rss_kb / 1024.0,
                     seconds, timed_out, tuple(temps_left(folder)))


TIME = Path("/usr/bin/time")


def _run_measured(argv, timeout_s):
    """(exit code, stdout, stderr, peak RSS in KiB, seconds, timed out) of ``argv``
    run from the repository root, killed (its whole process group) after ``timeout_s``.

    The peak RSS is GNU time's %M (getrusage of its child, forked from the
    small ``time`` process). Without /usr/bin/time it is this process's
    RUSAGE_CHILDREN maximum, which also counts what the child inherited
    before exec: an upper bound."""
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        cmd = [str(TIME), "-f", "%M", "-o", str(rss_file), *argv] if TIME.exists() else argv
        with open(Path(tmp) / "out", "w+") as out, open(Path(tmp) / "err", "w+") as err:
            start = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=ROOT, start_new_session=True,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)})
            try:
                proc.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
                timed_out = True
            seconds = time.monotonic() - start
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        text = rss_file.read_text().split() if rss_file.exists() else []
        rss_kb = float(text[-1]) if text and text[-1].isdigit() else float(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        return proc.returncode, stdout, stderr, rss_kb, seconds, timed_out  # time -o keeps its own notes out of stderr


EXIT_CODES = {"read": 2, "refine": 2, "output": 2, "argument": 2, "method": 1}


def problems(case: Case, r: CliResult) -> str:
    """'' if the case did what the corpus expects, else what went wrong."""
    if r.payload_ran:
        return "PAYLOAD RAN"
    limits = [msg for bad, msg in (
        (r.timed_out, f"did not return within {case.timeout_s:.0f} s"),
        (case.max_rss_mb is not None and r.peak_rss_mb >= (case.max_rss_mb or 0), f"peak RSS {r.peak_rss_mb:.0f} MB"),
        (bool(r.temps), f"temporary files left: {', '.join(r.temps)}")) if bad]
    lines = r.stderr.strip().splitlines()
    if case.stage == "ok":
        found = limits + ([] if r.code == 0 and r.output_written else [f"expected success, got exit {r.code}"])
        noise = [line for line in lines if not line.startswith("warning: ")]
        warned = case.warns is None or case.warns in r.stderr
        return "; ".join(found + ([f"stderr: {noise[0]}"] if noise else []) + ([] if warned else ["warning missing"]))
    named = {"output": r.output, "argument": ""}.get(case.stage, r.input)
    code = EXIT_CODES[case.stage]
    found = limits + [msg for bad, msg in (
        (r.code != code, f"exit {r.code}, expected {code}"), (len(lines) != 1, f"{len(lines)} stderr lines"),
        (str(named) not in r.message, "file not named"), (case.expect not in r.message, "problem not stated"),
        (r.output_written, "output written")) if bad]
    return "; ".join(found)




# ------------------------------------ issue 20: outputs, interruptions, --fps, messages
def _char_device_output(folder):
    """A character device (like /dev/null) as the output: made in the case
    folder where root may (mknod), so that a regression replaces only that
    node; an ordinary user gets /dev/null itself (which they cannot replace)."""
    node = Path(folder) / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        return node
    except OSError:
        if os.geteuid() != 0:
            return Path("/dev/null")
    os.mkfifo(node)  # root without CAP_MKNOD: another non-regular file stands in
    return node


def _symlink_output(target_exists):
    def output(folder):
        target = Path(folder) / "target.npz"
        if target_exists:
            target.write_bytes(b"the user's file, not to be touched")
        link = Path(folder) / "link.npz"
        link.symlink_to(target.name)
        return link
    return output


def _fifo_output(folder):
    path = Path(folder) / "refined.npz"
    os.mkfifo(path)
    return path


def _folder_output(folder):
    path = Path(folder) / "refined.npz"
    path.mkdir(exist_ok=True)
    return path


def _trailing_slash_output(exists):
    def output(folder):
        path = Path(folder) / "newdir"
        if exists:
            path.mkdir(exist_ok=True)
        return str(path) + os.sep
    return output


def _named_output(name):
    return lambda folder: Path(folder) / name


def _with_stale_temp(build):
    """``build``'s input plus a temporary sibling of the default output left by a
    writer that is gone: a real process that created it (atomic.temp_sibling)
    and exited without removing it, as SIGKILL leaves one."""
    def with_temp(folder):
        src = build(folder)
        code = ("import sys; from refine_core.atomic import temp_sibling; "
                "temp_sibling(sys.argv[1]).write_bytes(bytes(1000))")
        subprocess.run([sys.executable, "-c", code, str(default_output(folder))], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        return src
    return with_temp


def _npz_with_member_names(name, members):
    """A valid AMASS-style npz with extra members stored under raw zip names (paths)."""
    def build(folder):
        import io
        import zipfile

        path = _poses_npz(name)(folder)
        with zipfile.ZipFile(path, "a") as zf:
            for member in members:
                data = io.BytesIO()
                np.save(data, np.arange(3.0))
                zf.writestr(member, data.getvalue())
        return path
    return build


def _huge_trans(folder):
    """Finite translations near the float limit: valid input, but filtering overflows to inf."""
    path = Path(folder) / "huge_trans.npz"
    np.savez(path, poses=np.zeros((40, 72)), trans=np.full((40, 3), 1.7e308), mocap_framerate=np.float64(30))
    return path


def issue20_output_cases() -> list:
    """Issue 20's output and command-line cases (D1, D8, D9, D14, D15, --fps)."""
    walk = _motion_npz("walk.npz", 40)
    above_max = "fps this tool accepts"
    return [
        # D1: what is at the output path is never replaced unless it is a regular file
        Case("output_character_device", walk, "not a regular file", "output", output=_char_device_output),
        Case("output_symlink_to_file", walk, "is a symbolic link", "output", output=_symlink_output(True)),
        Case("output_dangling_symlink", walk, "is a symbolic link", "output", output=_symlink_output(False)),
        Case("output_fifo", walk, "named pipe (FIFO), not a regular file", "output", output=_fifo_output),
        Case("output_existing_folder", walk, "is a folder", "output", output=_folder_output),
        # D15: folders named with a trailing separator, long names, npz member paths
        Case("output_new_folder_trailing_slash", walk, "ends with a path separator", "output",
             output=_trailing_slash_output(False)),
        Case("output_existing_folder_trailing_slash", walk, "ends with a path separator", "output",
             output=_trailing_slash_output(True)),
        Case("output_name_250_bytes", walk, None, "ok", output=_named_output("o" * 246 + ".npz"),
             note="written (the temporary name is shortened to fit 255 bytes)"),
        Case("output_name_255_bytes_multibyte", walk, None, "ok", output=_named_output("動" * 83 + "ab.npz"),
             note="written (the temporary name is cut at a character boundary)"),
        Case("output_name_256_bytes", walk, "256 bytes long", "output", output=_named_output("o" * 252 + ".npz")),
        Case("npz_member_names_are_paths", _npz_with_member_names("member_paths.npz", ["../../x.npy", "/abs/y.npy", "c:\\z.npy"]),
             None, "ok", note="extras renamed `.._.._x`, `_abs_y`, `c__z` with a `warning:` line each"),
        # D9: a temporary file left by a killed writer goes on the next write to the same output
        Case("stale_temp_of_killed_writer", _with_stale_temp(walk), None, "ok",
             note="written; the dead writer's temporary file is removed"),
        # D8: frame rates, in the file and given with --fps
        Case("fps_1e10_in_file", _poses_npz("fps_1e10.npz", mocap_framerate=np.float64(1e10)), above_max),
        Case("fps_1001_in_file", _poses_npz("fps_1001.npz", mocap_framerate=np.float64(1001)), above_max),
        Case("fps_1000_in_file", _poses_npz("fps_1000.npz", mocap_framerate=np.float64(1000)), None, "ok",
             note="the highest frame rate accepted (Butterworth designs fine)"),
        Case("fps_arg_60_on_file_without_fps", _poses_npz("no_fps.npz", mocap_framerate=None), None, "ok",
             args=("--fps", "60"), note="refined at 60 fps; 60 written into the output"),
        Case("fps_arg_zero", walk, "--fps 0: frame rate must be a positive number", "argument", args=("--fps", "0")),
        Case("fps_arg_negative", walk, "--fps -30: frame rate must be a positive number", "argument",
             args=("--fps", "-30")),
        Case("fps_arg_nan", walk, "--fps nan: frame rate must be a positive number", "argument", args=("--fps", "nan")),
        Case("fps_arg_inf", walk, "--fps inf: frame rate must be a positive number", "argument", args=("--fps", "inf")),
        Case("fps_arg_1e10", walk, "--fps 1e+10: frame rate 1e+10 fps is above the 1000", "argument", args=("--fps", "1e10")),
        # D14: messages that name the real culprit
        Case("range_reversed", walk, "frame range 30..10 is reversed", "argument", args=("--start", "30", "--end", "10")),
        Case("range_reversed_by_one", walk, "frame range 11..10 is reversed", "argument",
             args=("--start", "11", "--end", "10")),
        Case("method_result_not_finite_butterworth", _huge_trans, "method butterworth produced NaN or infinite", "method"),
        Case("method_result_not_finite_gaussian", _huge_trans, "method gaussian produced NaN or infinite", "method",
             method="gaussian"),
        Case("method_result_not_finite_savgol", _huge_trans, "method savgol produced NaN or infinite", "method",
             method="savgol"),
    ]


CASES += issue20_output_cases()

BY_NAME = {case.name: case for case in CASES}  # after every block: the add-on tests look cases up by name
