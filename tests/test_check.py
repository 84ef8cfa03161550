"""`check_file` reports every problem of a damaged or hand-edited dataset file."""

import re

import h5py
import numpy as np

from matgen.data import write
from matgen.data.check import check_file

from test_format import raman


def test_valid_file_has_no_problems(tmp_path):
    assert check_file(write(tmp_path / "r.h5", raman())) == []


def test_every_structural_problem_is_listed(tmp_path):
    path = write(tmp_path / "r.h5", raman())
    with h5py.File(path, "a") as f:
        del f["rows/id"]
        f.attrs["kind"] = "sem"
        del f["axis"].attrs["unit"]
        del f["conditions/laser_nm"]
        f["conditions/laser_nm"] = np.arange(3)
    problems = check_file(path)
    assert any("/rows/id is missing" in p for p in problems)
    assert any("kind is 'sem'" in p for p in problems)
    assert any("condition 'laser_nm' should be an array of 5 values" in p for p in problems)
    assert len(problems) >= 3


def test_content_problems_nan_and_duplicate_ids(tmp_path):
    path = write(tmp_path / "r.h5", raman())
    with h5py.File(path, "a") as f:
        f["signals"][2, 5] = np.nan
        ids = f["rows/id"].asstr()[()]
        ids[1] = ids[0]
        f["rows/id"][...] = ids.astype(object)
    problems = check_file(path)
    assert any("NaN or inf" in p and "row 2" in p for p in problems)
    assert any("not unique: 's0'" in p for p in problems)


def test_not_a_dataset(tmp_path):
    (tmp_path / "x.h5").write_text("hello")
    assert check_file(tmp_path / "x.h5") == [f"{tmp_path / 'x.h5'}: not an HDF5 file, or damaged (it cannot be opened)"]
    assert check_file(tmp_path / "missing.h5") == [f"{tmp_path / 'missing.h5'}: no such file"]


def test_a_damaged_file_is_one_problem_not_a_crash(tmp_path):
    path = write(tmp_path / "r.h5", raman(200))
    data = bytearray(path.read_bytes())
    data[len(data) // 50:len(data) // 50 + 512] = bytes(512)  # inside the headers
    path.write_bytes(bytes(data))
    (problem,) = check_file(path)
    assert problem.startswith(f"{path}: damaged HDF5 file (") and problem.endswith("restore it from a copy or re-create it")


def test_the_advice_for_an_uncompressed_file_works_when_followed(tmp_path):
    import subprocess
    import sys

    path = write(tmp_path / "r.h5", raman())
    with h5py.File(path, "a") as f:
        signals = f["signals"][()]
        del f["signals"]
        f["signals"] = signals
    (problem,) = check_file(path)
    command = re.search(r'python -c "(.*)"$', problem)[1].replace("NEW.h5", str(tmp_path / "new.h5"))
    subprocess.run([sys.executable, "-c", command.replace("FILE.h5", str(path))], check=True)
    assert check_file(tmp_path / "new.h5") == []
