"""The reliability corpus: bad (and borderline) inputs, built at test time.

Each ``Case`` writes its file(s) into a folder and says what must happen:

- stage "read": the file cannot be read. CLI: exit 2, one stderr line naming
  the file and ``expect``, no output file. Add-on import: the error is
  reported, nothing is created, other armatures' keys are unchanged.
- stage "refine": the file reads (and imports) but cannot be refined
  (fewer than 3 frames). CLI: as "read"; add-on: the refine operator reports
  it and the keys are unchanged.
- stage "output": the input is fine, the output cannot be written (CLI exit
  2 naming the output, no file; add-on: export reports it, no file).
- stage "ok": a borderline input the project accepts (``note`` says what it
  does with it); the CLI exits 0 and writes the output.

Hostile cases (``marker=True``) carry a payload that would create
``folder / MARKER`` if it ever ran. Bad files are made from the valid samples
of tests/format_samples.py by truncation and mutation. ``run_cli`` runs one
case through ``python -m refine_core refine``; the tests and
tools/reliability_report.py share it.
"""
import os
import pickle
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

import format_samples as fs

ROOT = Path(__file__).resolve().parents[1]
MARKER = "PAYLOAD_RAN"
LONG_FRAMES = 100_000


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Path]  # writes the input into a folder, returns its path
    expect: Optional[str]  # substring of the one-line problem; None for "ok"
    stage: str = "read"  # read | refine | output | ok
    method: str = "butterworth"
    marker: bool = False  # hostile payload: folder / MARKER must never appear
    note: str = ""  # what the project does with a borderline input
    output: Optional[Callable[[Path], Path]] = None  # output path (default folder/refined.npz)


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
    Case("nan_in_poses", _poses_npz("nan_poses.npz", poses=_with_nan(lambda t: (t, 72), (4, 5))), "NaN or infinite values at frame(s) 4"),
    Case("inf_in_trans", _poses_npz("inf_trans.npz", trans=_with_nan(lambda t: (t, 3), 2, np.inf)), "NaN or infinite values at frame(s) 2"),
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
BY_NAME = {case.name: case for case in CASES}


# ---------------------------------------------------------------- running
@dataclass
class CliResult:
    input: Path
    output: Path
    code: int
    stderr: str
    stdout: str
    output_written: bool
    payload_ran: bool

    @property
    def message(self) -> str:
        """The last stderr line (the one-line error), else stdout's."""
        lines = (self.stderr or self.stdout).strip().splitlines()
        return lines[-1] if lines else ""


def run_cli(case: Case, folder) -> CliResult:
    """Build ``case`` in ``folder`` and refine it with the CLI in a fresh process."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    src = case.build(folder)
    out = (case.output or default_output)(folder)
    try:
        r = subprocess.run([sys.executable, "-m", "refine_core", "refine", str(src), "-o", str(out),
                            "--method", case.method], capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        written = out.exists()
    finally:
        release(folder)
    return CliResult(src, out, r.returncode, r.stderr, r.stdout, written, (folder / MARKER).exists())


def problems(case: Case, r: CliResult) -> str:
    """'' if the case did what the corpus expects, else what went wrong."""
    if r.payload_ran:
        return "PAYLOAD RAN"
    if case.stage == "ok":
        return "" if r.code == 0 and r.output_written else f"expected success, got exit {r.code}"
    lines = r.stderr.strip().splitlines()
    named = r.output if case.stage == "output" else r.input
    found = [msg for bad, msg in (
        (r.code != 2, f"exit {r.code}, expected 2"), (len(lines) != 1, f"{len(lines)} stderr lines"),
        (str(named) not in r.message, "file not named"), (case.expect not in r.message, "problem not stated"),
        (r.output_written, "output written")) if bad]
    return "; ".join(found)
