"""Dense linear algebra of the kernel models (REML, BLUP, Gibbs samplers).

The expensive step of a single-kernel REML fit is diagonalising the
relationship matrix of the training set (GEMMA, Zhou & Stephens 2012,
*Nat Genet* 44:821; EMMA, Kang et al. 2008, *Genetics* 178:1709). Its
eigenvectors are, however, never needed explicitly: every REML quantity is a
quadratic form in ``y`` and the fixed-effect columns. :class:`Tridiagonal`
therefore stops at the Householder tridiagonalisation ``K = Q T Q'`` (LAPACK
``dsytrd``, 4/3 n^3 flops) and evaluates ``(T + delta I)^{-1}`` and
``log|T + delta I|`` with banded Cholesky factorisations in O(n) per
``delta``. This is exact (T is similar to K) and avoids the eigenvector
back-transformation that dominates ``numpy.linalg.eigh``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl
from scipy.linalg import lapack

__all__ = ["Tridiagonal", "available_threads", "chol_logdet_solve", "single_thread"]


def available_threads() -> int:
    """Threads this process may keep busy: the job's ``OMP_NUM_THREADS`` (the workflow
    sets it to the rule's threads), else the CPUs the process may run on."""
    import os

    try:
        n = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        n = 0
    if n > 0:
        return n
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def single_thread(all_apis: bool = False):
    """Context limiting BLAS to one thread.

    Householder tridiagonalisation and the matrix-vector products of the
    Gibbs samplers are memory-bound BLAS-2 operations: a second thread gains
    little, and on a loaded machine spinning BLAS threads slow them down by an
    order of magnitude. ``all_apis`` also limits OpenMP (scikit-learn's
    histogram gradient boosting).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api=None if all_apis else "blas")


class Tridiagonal:
    """Householder tridiagonalisation ``K = Q T Q'`` of a symmetric matrix.

    Parameters
    ----------
    K : numpy.ndarray
        Symmetric ``(n, n)`` matrix (only the lower triangle is read).
    single : bool, default False
        Reduce in float32 (about twice as fast, memory-bound; adequate for
        variance-component estimation, not for exact comparisons).

    Attributes
    ----------
    d, e : numpy.ndarray
        Diagonal (n) and sub-diagonal (n-1) of ``T`` (float64).
    n : int
    """

    def __init__(self, K: np.ndarray, single: bool = False):
        K = np.asarray(K)
        n = K.shape[0]
        self.n = n
        if n == 1:
            self.d = np.array([float(K[0, 0])])
            self.e = np.zeros(0)
            self._c = np.zeros((1, 1))
            self._tau = np.zeros(0)
            self._eig = None
            self._wy_blocks = []
            return
        dtype = np.float32 if single else np.float64
        fn = lapack.ssytrd if single else lapack.dsytrd
        lwork_fn = lapack.ssytrd_lwork if single else lapack.dsytrd_lwork
        lwork = int(lwork_fn(n, lower=1)[0])
        with single_thread():
            c, d, e, tau, info = fn(np.asarray(K, dtype=dtype), lower=1, lwork=max(lwork, n))
        if info != 0:  # pragma: no cover - LAPACK failure
            raise np.linalg.LinAlgError(f"sytrd failed with info={info}")
        self.d = d.astype(np.float64)
        self.e = e.astype(np.float64)
        self._c = c
        self._tau = tau.astype(np.float64)
        self._eig: tuple[np.ndarray, np.ndarray] | None = None
        self._wy_blocks: list | None = None

    # -------------------------------------------------------------- Q products
    def _wy(self, block: int = 64) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Compact-WY blocks ``H_s ... H_{s+b-1} = I - V T V'`` (Schreiber & Van Loan 1989).

        Built once (O(n^2) work), after which ``Q' Y`` and ``Q Y`` are two
        matrix-matrix products per block.
        """
        if getattr(self, "_wy_blocks", None) is not None:
            return self._wy_blocks
        n = self.n
        c, tau = self._c, self._tau
        blocks = []
        for s in range(0, n - 1, block):
            t = min(s + block, n - 1)
            b = t - s
            V = np.zeros((n - s - 1, b))
            for k in range(b):
                i = s + k
                V[k, k] = 1.0
                V[k + 1 :, k] = c[i + 2 :, i]
            T = np.zeros((b, b))
            for k in range(b):
                tk = tau[s + k]
                T[k, k] = tk
                if k:
                    T[:k, k] = -tk * (T[:k, :k] @ (V[:, :k].T @ V[:, k]))
            blocks.append((s, V, T))
        self._wy_blocks = blocks
        return blocks

    def qt(self, Y: np.ndarray) -> np.ndarray:
        """Return ``Q' Y`` for ``Y`` of shape ``(n,)`` or ``(n, k)``."""
        Y = np.array(Y, dtype=np.float64, copy=True)
        vec = Y.ndim == 1
        if vec:
            Y = Y[:, None]
        for s, V, T in self._wy():
            sub = Y[s + 1 :]
            sub -= V @ (T.T @ (V.T @ sub))
        return Y[:, 0] if vec else Y

    def q(self, Y: np.ndarray) -> np.ndarray:
        """Return ``Q Y`` for ``Y`` of shape ``(n,)`` or ``(n, k)``."""
        Y = np.array(Y, dtype=np.float64, copy=True)
        vec = Y.ndim == 1
        if vec:
            Y = Y[:, None]
        for s, V, T in reversed(self._wy()):
            sub = Y[s + 1 :]
            sub -= V @ (T @ (V.T @ sub))
        return Y[:, 0] if vec else Y

    # -------------------------------------------------------------- T algebra
    def matvec(self, Y: np.ndarray) -> np.ndarray:
        """Return ``T Y`` (tridiagonal product)."""
        Y = np.asarray(Y, dtype=np.float64)
        d, e = self.d, self.e
        if Y.ndim == 1:
            out = d * Y
            out[:-1] += e * Y[1:]
            out[1:] += e * Y[:-1]
            return out
        out = d[:, None] * Y
        out[:-1] += e[:, None] * Y[1:]
        out[1:] += e[:, None] * Y[:-1]
        return out

    def shifted_factor(self, a: float, b: float) -> np.ndarray:
        """Banded Cholesky factor of ``a T + b I`` (upper form for :func:`cho_solve_banded`).

        Raises :class:`numpy.linalg.LinAlgError` if not positive definite.
        """
        ab = np.zeros((2, self.n))
        ab[0, 1:] = a * self.e
        ab[1] = a * self.d + b
        return sl.cholesky_banded(ab, lower=False, check_finite=False)

    @staticmethod
    def factor_logdet(cb: np.ndarray) -> float:
        """``log|A|`` from a banded Cholesky factor."""
        return 2.0 * float(np.sum(np.log(cb[1])))

    @staticmethod
    def factor_solve(cb: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Solve with a banded Cholesky factor from :meth:`shifted_factor`."""
        return sl.cho_solve_banded((cb, False), Y, check_finite=False)

    def eigvals(self) -> np.ndarray:
        """Eigenvalues of ``T`` (and of ``K``), ascending."""
        if self.n == 1:
            return self.d.copy()
        return sl.eigh_tridiagonal(self.d, self.e, eigvals_only=True, check_finite=False)

    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues and eigenvectors ``W`` of ``T`` (``K = (Q W) diag (Q W)'``)."""
        if self._eig is None:
            if self.n == 1:
                self._eig = (self.d.copy(), np.ones((1, 1)))
            else:
                self._eig = sl.eigh_tridiagonal(self.d, self.e, check_finite=False)
        return self._eig


def chol_logdet_solve(A: np.ndarray, B: np.ndarray) -> tuple[float, np.ndarray]:
    """``log|A|`` and ``A^{-1} B`` for a symmetric positive-definite ``A``."""
    c = sl.cho_factor(A, lower=True, check_finite=False)
    return 2.0 * float(np.sum(np.log(np.diag(c[0])))), sl.cho_solve(c, B, check_finite=False)
