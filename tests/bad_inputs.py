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
  most ``warning:`` lines.

Every case, whatever its stage, leaves no temporary file (``.*.tmp``) in
its folder.

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
BY_NAME = {case.name: case for case in CASES}


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
    temps: tuple = ()  # temporary files left in the case folder

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
    before = output_state(out)
    try:
        r = subprocess.run([sys.executable, "-m", "refine_core", "refine", str(src), "-o", str(out),
                            "--method", case.method, *case.args], capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        after = output_state(out)
        written = after is not None and after != before
    finally:
        release(folder)
    return CliResult(src, out, r.returncode, r.stderr, r.stdout, written, (folder / MARKER).exists(),
                     tuple(temps_left(folder)))


EXIT_CODES = {"read": 2, "refine": 2, "output": 2, "argument": 2, "method": 1}


def problems(case: Case, r: CliResult) -> str:
    """'' if the case did what the corpus expects, else what went wrong."""
    if r.payload_ran:
        return "PAYLOAD RAN"
    if r.temps:
        return f"temporary files left: {', '.join(r.temps)}"
    lines = r.stderr.strip().splitlines()
    if case.stage == "ok":
        if r.code != 0 or not r.output_written:
            return f"expected success, got exit {r.code}"
        noise = [line for line in lines if not line.startswith("warning: ")]
        return f"stderr: {noise[0]}" if noise else ""
    named = {"output": r.output, "argument": ""}.get(case.stage, r.input)
    code = EXIT_CODES[case.stage]
    found = [msg for bad, msg in (
        (r.code != code, f"exit {r.code}, expected {code}"), (len(lines) != 1, f"{len(lines)} stderr lines"),
        (str(named) not in r.message, "file not named"), (case.expect not in r.message, "problem not stated"),
        (r.output_written, "output written")) if bad]
    return "; ".join(found)
