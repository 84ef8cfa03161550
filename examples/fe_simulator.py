"""An independent elastic simulator: periodic finite elements, run by matgen as an external program.

    python examples/fe_simulator.py SAMPLES.h5 OUT.csv            # what a campaign calls: {input} {output}
    python examples/fe_simulator.py --compare SAMPLES.h5          # FE against matgen's FFT simulator, per sample

A lab plugs its own finite-element code into matgen this way: matgen writes the candidates to
``{input}`` (a matgen HDF5 dataset of two-phase label maps), runs the program without a shell and
with a timeout, and reads ``{output}`` (CSV: one row per sample, an ``id`` column, one column per
property). In a campaign config::

    simulator = ["python", "examples/fe_simulator.py", "{input}", "{output}"]
    [simulator_options]
    outputs = ["density:g/cm3", "modulus:GPa", "modulus_x:GPa", "modulus_y:GPa", "shear_modulus:GPa", "phase_fraction:"]
    output_suffix = ".csv"
    timeout_s = 600

The method is not matgen's: each pixel is split into 2 x 2 bilinear quadrilaterals (Q4, full
2 x 2 Gauss integration), the displacement is a macroscopic strain E plus a periodic fluctuation,
and for each of the three unit strains (exx, eyy, engineering gxy) the sparse system
K u = -f(E) (one rigid-body node pinned) is solved by a sparse LU factorisation. The effective
stiffness is the area-averaged stress, C_eff[:, k] = <C (E_k + B u_k)>; the moduli follow as in
matgen (1/S11, 1/S22, 1/S33 and the orientation mean of 1/S'11), plane stress, with the phase
constants of matgen.physics.phases (Al: E 70 GPa, nu 0.33, 2.70 g/cm3; SiC: 410 GPa, 0.14,
3.21 g/cm3). Rows are y, columns x, as in matgen. Only numpy, scipy and h5py (through matgen's
reader) are used.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

PHASES = {0: (70.0, 0.33, 2.70), 1: (410.0, 0.14, 3.21)}  # E (GPa), Poisson ratio, density (g/cm3)
SUBDIVISION = 2  # elements per pixel edge
GAUSS = np.array([-1.0, 1.0]) / np.sqrt(3.0)  # 2-point Gauss abscissae (weights 1)
LOCAL = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float)  # (xi, eta) of the Q4's nodes


def plane_stress(E: float, nu: float) -> np.ndarray:
    """(3, 3) Voigt stiffness of an isotropic phase in plane stress, engineering shear."""
    return E / (1 - nu**2) * np.array([[1, nu, 0], [nu, 1, 0], [0, 0, (1 - nu) / 2]])


def strain_matrices() -> list[np.ndarray]:
    """B (3, 8) of a unit square Q4 at each of its 4 Gauss points (element side h = 1: d/dx = 2 d/dxi)."""
    out = []
    for xi in GAUSS:
        for eta in GAUSS:
            dxi = LOCAL[:, 0] * (1 + eta * LOCAL[:, 1]) / 4
            deta = LOCAL[:, 1] * (1 + xi * LOCAL[:, 0]) / 4
            dx, dy = 2 * dxi, 2 * deta
            B = np.zeros((3, 8))
            B[0, 0::2], B[1, 1::2] = dx, dy
            B[2, 0::2], B[2, 1::2] = dy, dx
            out.append(B)
    return out


def homogenize_fe(labels: np.ndarray) -> np.ndarray:
    """(3, 3) effective plane-stress stiffness (GPa) of one periodic two-phase label map (H, W)."""
    H, W = labels.shape
    ny, nx = SUBDIVISION * H, SUBDIVISION * W  # elements (and, periodic, nodes) per direction
    phase = np.repeat(np.repeat(labels, SUBDIVISION, 0), SUBDIVISION, 1).ravel()  # (n_el,)
    Bs = strain_matrices()
    weight = 0.25  # det J = (h / 2)^2 for h = 1, Gauss weights 1
    C = {p: plane_stress(*PHASES[p][:2]) for p in PHASES}
    Ke = {p: sum(B.T @ C[p] @ B for B in Bs) * weight for p in PHASES}  # (8, 8)
    FeE = {p: sum(B.T @ C[p] for B in Bs) * weight for p in PHASES}  # (8, 3): f_e = -FeE E
    r, c = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    corners = [(r, c), (r, (c + 1) % nx), ((r + 1) % ny, (c + 1) % nx), ((r + 1) % ny, c)]  # y = rows, x = columns
    nodes = np.stack([(rr * nx + cc).ravel() for rr, cc in corners], 1)  # (n_el, 4)
    dofs = np.stack([2 * nodes, 2 * nodes + 1], 2).reshape(len(phase), 8)  # (n_el, 8): (ux, uy) per node
    K_el = np.stack([Ke[int(p)] for p in phase])  # (n_el, 8, 8)
    n_dof = 2 * ny * nx
    K = sparse.coo_matrix((K_el.ravel(), (np.repeat(dofs, 8, 1).ravel(), np.tile(dofs, (1, 8)).ravel())),
                          shape=(n_dof, n_dof)).tocsc()
    free = np.arange(2, n_dof)  # pin node 0 (the fluctuation is defined up to a translation)
    lu = splu(K[free][:, free])
    F_el = np.stack([FeE[int(p)] for p in phase])  # (n_el, 8, 3)
    f = np.zeros((n_dof, 3))
    np.add.at(f, dofs.ravel(), -F_el.reshape(-1, 3))
    u = np.zeros((n_dof, 3))
    u[free] = lu.solve(f[free])
    C_eff = np.zeros((3, 3))
    for p in PHASES:
        mask = phase == p
        ue = u[dofs[mask]]  # (n_p, 8, 3)
        strain = sum(np.einsum("ij,njk->nik", B, ue) for B in Bs) * weight  # (n_p, 3, 3): integral of B u
        C_eff += C[p] @ (strain.sum(0) + mask.sum() * np.eye(3))  # integral of C (E + B u) over the phase
    return C_eff / len(phase)


def properties(labels: np.ndarray) -> dict[str, float]:
    """The elastic simulator's outputs of one label map, by finite elements."""
    C = homogenize_fe(labels)
    C = (C + C.T) / 2
    S = np.linalg.inv(C)
    theta = np.arange(360) * np.pi / 360
    c, s = np.cos(theta), np.sin(theta)
    s11 = (S[0, 0] * c**4 + S[1, 1] * s**4 + (2 * S[0, 1] + S[2, 2]) * c**2 * s**2
           + 2 * S[0, 2] * c**3 * s + 2 * S[1, 2] * c * s**3)
    fraction = float(labels.mean())
    return {"phase_fraction": fraction, "modulus": float(np.mean(1 / s11)), "modulus_x": float(1 / S[0, 0]),
            "modulus_y": float(1 / S[1, 1]), "shear_modulus": float(1 / S[2, 2]),
            "density": (1 - fraction) * PHASES[0][2] + fraction * PHASES[1][2]}


def read_labels(path: str):
    """(ids, label maps (N, H, W)) of a matgen dataset of two-phase micrographs."""
    from matgen.data import read

    ds = read(path)
    maps = np.asarray(ds.signals)
    maps = maps[:, 0] if maps.ndim == 4 else maps
    if np.issubdtype(maps.dtype, np.floating):
        maps = (maps >= 0.5).astype(np.int64)
    return [str(i) for i in ds.ids], maps.astype(np.int64)


def simulate(input_path: str, output_path: str) -> None:
    """The external-program contract: samples from ``input_path``, one CSV row per sample to ``output_path``."""
    ids, maps = read_labels(input_path)
    names = ["phase_fraction", "modulus", "modulus_x", "modulus_y", "shear_modulus", "density"]
    with open(output_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *names, "error"])
        for row_id, labels in zip(ids, maps):
            if labels.min() < 0 or labels.max() > 1:
                writer.writerow([row_id] + [""] * len(names) + ["not a two-phase label map"])
                continue
            props = properties(labels)
            writer.writerow([row_id] + [f"{props[n]:.8g}" for n in names] + [""])


def compare(input_path: str) -> None:
    """Print FE against matgen's FFT simulator for every sample, and the median and worst disagreement."""
    from matgen.data import read
    from matgen.simulators import get_simulator

    ids, maps = read_labels(input_path)
    fft = get_simulator("elastic")(read(input_path)).properties
    rel = {name: [] for name in ("modulus_x", "modulus_y", "modulus")}
    for i, labels in enumerate(maps):
        fe = properties(labels)
        for name in rel:
            rel[name].append((fft[name][i] - fe[name]) / fe[name])
    for name, values in rel.items():
        values = np.abs(values)
        print(f"{name}: FFT vs FE median |difference| {100 * np.median(values):.2f} %, worst {100 * values.max():.2f} % "
              f"over {len(values)} samples")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--compare":
        compare(sys.argv[2])
    elif len(sys.argv) == 3:
        simulate(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__.split("\n\n")[0] + "\n\nusage: fe_simulator.py INPUT.h5 OUTPUT.csv | --compare INPUT.h5")
    if len(sys.argv) == 3 and not Path(sys.argv[-1]).exists():
        sys.exit(1)
