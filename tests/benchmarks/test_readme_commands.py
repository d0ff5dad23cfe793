"""Every command in `benchmarks/README.md` runs, at a small size.

A command is a line of a fenced code block that starts with ``python -m benchmarks.`` or
``bash benchmarks/`` (with its ``\\`` continuation lines). :data:`SMALL` says how each one runs
small: the arguments appended to it (argparse keeps the last value of an option), mostly
``--quick``, the scripts' smoke-run size. Paths the command reads or writes under
``benchmarks/results/``, ``docs/``, ``runs/`` and ``data/`` are redirected into a temporary
folder (a copy of ``benchmarks/results/``, and toy KTC2023 data sets), so nothing in the
repository changes. A README command without an entry in :data:`SMALL` fails, and so does a
command that exits with an error.

The ``python -m`` commands run in this process (``runpy`` with ``sys.argv`` set: no second
interpreter start and import of torch per command); the thread settings a script changes are
restored after it. The ``bash`` drivers run in a subprocess (about 1 min each at ``--quick``
size); ``INVTOOLS_README_DRIVERS=0`` leaves them out of a quick local run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "benchmarks" / "README.md"
NEEDS_KTC = "needs the KTC2023 measurements"  # a marker in SMALL: skipped where they are absent
DRIVERS = "INVTOOLS_README_DRIVERS"  # "0": leave the bash drivers out (about 1 min each)

# (module or script, a word the command must contain or None, the arguments appended)
SMALL: list[tuple[str, str | None, list[str]]] = [
    ("benchmarks.speed.blur", None, ["--size", "16", "--batch", "2", "--repeats", "1"]),
    ("benchmarks.speed.eit", None, ["--quick"]),
    ("benchmarks.speed.eit_stages", None, ["--size", "2k", "--repeats", "1"]),
    ("benchmarks.speed.blas_threads", None, ["--quick"]),
    ("benchmarks.speed.soak", None, ["--quick"]),
    ("benchmarks.speed.unrolled", None, ["--quick"]),
    ("benchmarks.speed.solver_layers", None, ["--sizes", "8", "--batch", "2", "--epochs", "1",
                                              "--figure", "{tmp}/solver_layers.png"]),
    ("benchmarks.speed.label_layer", None, ["--h", "0.3", "--batch", "2", "--repeats", "1"]),
    ("benchmarks.speed.generate", None, ["--samples", "4", "--h", "0.3", "--repeats", "1",
                                         "--out", "{tmp}/generate.json"]),
    ("benchmarks.speed.gpu", None, ["--batch", "2", "--repeats", "1", "--samples", "2",
                                    "--skip-cpu-dense", "--json", "{tmp}/gpu.json"]),
    ("benchmarks.speed.tank", None, ["--quick"]),
    ("benchmarks.speed.data_loading", None, ["--samples", "8", "--repeats", "1"]),
    ("benchmarks.studies.ktc_mesh", None, [NEEDS_KTC, "--quick"]),
    ("benchmarks.studies.calibrate_tank", None, [NEEDS_KTC, "--quick"]),
    ("benchmarks.studies.ktc", "--figure", [NEEDS_KTC, "--quick"]),
    ("benchmarks.studies.ktc", "--calibrate-levels", ["--calibrate-levels", "2", "--quick"]),
    ("benchmarks.studies.ktc", "ktc_physics_levels", []),
    ("benchmarks.studies.ktc_real", "ktc_physics_real", []),
    ("benchmarks.studies.ktc_gn_levels", "--from-json", []),
    ("benchmarks.studies.ktc_gn_levels", None, [NEEDS_KTC, "--quick", "--images", "{tmp}/gn_images.npz"]),
    ("benchmarks.speed.ktc_score", None, ["--repeats", "1"]),
    ("benchmarks.studies.ktc_real", "--figure", [NEEDS_KTC, "--quick"]),
    ("benchmarks.studies.ktc_real", "--from-json", ["--gn-sim", "1", "--quick"]),
    ("benchmarks.studies.ktc_real", "--currents", [NEEDS_KTC, "--quick"]),
    ("benchmarks.studies.ktc_rma_levels", "--from-json", []),
    ("benchmarks.studies.ktc_frame", "--from-json", []),
    ("benchmarks.studies.ktc_frame", None, [NEEDS_KTC, "--quick"]),  # both fits, nominal and calibrated
    ("benchmarks.studies.ktc_fine_labels", None, ["--n-train", "4", "--samples", "2", "--epochs", "1",
                                                  "--batch", "4"]),
    ("benchmarks.studies.embedded_layers", "--from-json", []),
    # the tank's own paths (its backbone checkpoint, its frame); the LP variants run on blur
    ("benchmarks.studies.embedded_layers", "tank", ["--seeds", "0", "--train", "2", "--val", "2",
                                                     "--test", "2", "--epochs", "1", "--taus", "1",
                                                     "--skip", "DBB", "centred", "implicit",
                                                     "--backbone", "{ktc}/backbone/best.pt",
                                                     "--data", "{ktc}"]),
    # every method once for the first seed's command, one method for the second's; each writes
    # its own file, since the --from-json command joins the README's two (same methods) files
    ("benchmarks.studies.embedded_layers", "embedded_blur.json",
     ["--seeds", "0", "--train", "4", "--val", "2", "--test", "2", "--epochs", "1", "--taus", "1",
      "--pretrain-epochs", "1", "--steps", "1", "--hidden", "4", "--work", "{tmp}/embedded",
      "--json", "{tmp}/embedded_blur_small.json"]),
    ("benchmarks.studies.embedded_layers", "embedded_blur_seed2.json",
     ["--seeds", "2", "--train", "4", "--val", "2", "--test", "2", "--epochs", "1", "--taus", "1",
      "--pretrain-epochs", "1", "--steps", "1", "--hidden", "4", "--work", "{tmp}/embedded",
      "--skip", "LP", "softmax", "Otsu", "--json", "{tmp}/embedded_blur_seed2_one_method.json"]),
    # one seed, one blur operator, one EIT training size: every net of the command still trains
    ("benchmarks.studies.reproduce_rma", None, ["--quick", "--seeds", "0", "--a", "2",
                                                "--eit-n-train", "8"]),
    ("benchmarks.studies.plot_study", None, ["--out", "{tmp}/study.png"]),
    ("benchmarks.studies.rma_blur1d", None, ["--n-train", "32", "--n-val", "8", "--n-test", "8",
                                             "--epochs", "1", "--rma-hidden", "8"]),
    ("benchmarks/studies/ktc_model.sh", None, ["--quick"]),
    ("benchmarks/studies/ktc_levels.sh", None, ["--quick"]),
    ("benchmarks/studies/ktc_rma_levels.sh", None, ["--quick"]),
]
# without the bench extra (pip install -e ".[bench]") these run without the tools compared against
OPTIONAL = {"benchmarks.speed.eit": ("pyeit", "--no-pyeit"),
            "benchmarks.speed.solver_layers": ("cvxpylayers", "--skip-cvxpylayers")}


def readme_commands(text: str) -> list[tuple[list[str], dict[str, str]]]:
    """Each command of the README's code blocks as (argv, environment set by ``export`` lines
    above it in the same block)."""
    commands = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        env: dict[str, str] = {}
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv[:1] == ["export"]:
                env.update(a.split("=", 1) for a in argv[1:])
            elif (argv[:2] == ["python", "-m"] and argv[2].startswith("benchmarks.")
                  or argv[:1] == ["bash"] and argv[1].startswith("benchmarks/")):
                commands.append((argv, dict(env)))
    return commands


def small_args(argv: list[str]) -> list[str]:
    """The entry of :data:`SMALL` for ``argv``; fails the test when there is none."""
    target = argv[2] if argv[0] == "python" else argv[1]
    for name, word, extra in SMALL:
        if name == target and (word is None or any(word in a for a in argv)):
            return extra
    pytest.fail(f"no small-size entry in SMALL for a README command: {shlex.join(argv)}")


def redirect(arg: str, tmp: Path, ktc_data: Path) -> str:
    """Paths under benchmarks/results/, docs/, runs/ and data/ into the temporary folder."""
    if arg.startswith("benchmarks/results/"):
        return str(tmp / "results" / arg.removeprefix("benchmarks/results/"))
    if arg.startswith(("docs/", "runs/")):
        return str(tmp / arg)
    if arg.startswith("data/ktc_train"):
        return str(ktc_data / "ktc_train.h5")
    return arg


COMMANDS = readme_commands(README.read_text())


def test_the_readme_has_commands_and_each_has_a_small_size():
    assert len(COMMANDS) >= 25
    for argv, _ in COMMANDS:
        small_args(argv)


def test_a_command_without_an_entry_or_that_fails_fails(tmp_path):
    text = ("```bash\nexport A=1\npython -m benchmarks.speed.blur --size 8 \\\n    --batch 2\n"
            "python -m benchmarks.speed.nothing_like_it\n```\n")
    (blur, env), (unknown, _) = readme_commands(text)
    assert blur == ["python", "-m", "benchmarks.speed.blur", "--size", "8", "--batch", "2"]
    assert env == {"A": "1"}
    assert small_args(blur) == SMALL[0][2]
    with pytest.raises(pytest.fail.Exception, match="no small-size entry"):
        small_args(unknown)
    with pytest.raises(pytest.fail.Exception, match="exited with 2"):
        run(["python", "-m", "benchmarks.speed.blur", "--no-such-option"], {})
    with pytest.raises(pytest.fail.Exception, match="failed"):
        run(["bash", "-c", "exit 3"], {})


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A copy of benchmarks/results/ (the --from-json commands read it) in a temporary folder."""
    tmp = tmp_path_factory.mktemp("readme_commands")
    shutil.copytree(ROOT / "benchmarks" / "results", tmp / "results")
    for folder in ("docs", "runs"):
        (tmp / folder).mkdir()
    return tmp


@pytest.fixture(scope="module")
def ktc_data(tmp_path_factory):
    """Toy KTC2023 data sets (train 4, val 2, test 2) and an LPGD backbone trained on them for
    one epoch, as the embedded-layers study's tank problem expects (made once, in this process)."""
    from invtools.workflow.cli import main as cli

    folder = tmp_path_factory.mktemp("ktc_data")
    for name, n, seed in (("train", 4, 1), ("val", 2, 3), ("test", 2, 2)):
        assert cli(["generate", "ktc2023", "--out", str(folder / f"ktc_{name}.h5"), "-n", str(n),
                    "--seed", str(seed)]) == 0
    (folder / "train.toml").write_text(
        'out = "backbone"\n[data]\ntrain = "ktc_train.h5"\nval = "ktc_val.h5"\n[net]\narch = "lpgd"\n'
        'steps = 1\ndirection = "none"\nhidden = 4\n[train]\nepochs = 1\nbatch_size = 2\nlr = 1e-3\n'
        'seed = 0\n')
    with restored_state():
        assert cli(["train", str(folder / "train.toml"), "--quiet"]) == 0
    return folder


@contextlib.contextmanager
def restored_state():
    """Undo what a script changes for the rest of the process: torch's threads, the BLAS
    libraries' threads, the working directory, open figures."""
    import torch
    from threadpoolctl import threadpool_limits

    threads, cwd = torch.get_num_threads(), os.getcwd()
    try:
        with threadpool_limits(limits=None):  # restores the BLAS limits on exit
            yield
    finally:
        torch.set_num_threads(threads)
        os.chdir(cwd)
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


def run(argv: list[str], env: dict[str, str]) -> None:
    """``python -m module ...`` in this process, anything else in a subprocess."""
    if argv[:2] != ["python", "-m"]:
        done = subprocess.run(argv, cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                              text=True, timeout=600)
        if done.returncode:
            pytest.fail(f"{shlex.join(argv)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return
    saved_argv, saved_env = sys.argv, dict(os.environ)
    sys.argv = [argv[2], *argv[3:]]
    os.environ.update(env)
    try:
        with restored_state(), warnings.catch_warnings():
            # "found in sys.modules": the module was imported before (by another script), harmless
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")
            runpy.run_module(argv[2], run_name="__main__", alter_sys=False)
    except SystemExit as stop:
        if stop.code not in (None, 0):
            pytest.fail(f"{shlex.join(argv)} exited with {stop.code}")
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)


@pytest.mark.parametrize("argv,env", COMMANDS, ids=[" ".join(a[:4])[:60] for a, _ in COMMANDS])
def test_readme_command_runs_small(argv, env, work, ktc_or_none, request):
    extra = small_args(argv)
    if argv[0] == "bash" and os.environ.get(DRIVERS) == "0":
        pytest.skip(f"{DRIVERS}=0: the bash drivers are left out")
    needs_data = any("{ktc}" in a for a in extra) or any(a.startswith("data/ktc_train") for a in argv)
    ktc_data = request.getfixturevalue("ktc_data") if needs_data else work / "no_ktc_data"
    if NEEDS_KTC in extra:
        if ktc_or_none is None:
            pytest.skip("KTC2023 measurements not found (set INVTOOLS_KTC2023)")
        extra = [a for a in extra if a != NEEDS_KTC] + ["--ktc", str(ktc_or_none)]
    module, flag = OPTIONAL.get(argv[2] if argv[0] == "python" else argv[1], (None, None))
    if module and flag not in argv and importlib.util.find_spec(module) is None:
        extra = [*extra, flag]
    extra = [a.format(tmp=work, ktc=ktc_data) for a in extra]
    run([redirect(a, work, ktc_data) for a in argv] + extra, env)
