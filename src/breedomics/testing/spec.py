"""The one API of the panel simulators: :class:`GenomeSpec`, what a panel is asked for.

Every genotype-panel simulator of :mod:`breedomics.testing` (landraces, outbred breed,
gene-dropped population, island model, Balding-Nichols stream) is asked for the same
things: how many samples in how many groups, how many markers, how many chromosomes and
how long, the rates of a coalescent, a MAF filter, missing calls and a seed. They are
given once, as a :class:`GenomeSpec`, and each simulator keeps only its own design
(founders, migration, Fst, admixed lines ...) as keyword arguments::

    simulate_structured(
        GenomeSpec(n_samples=300, n_snps=3000, n_chrom=6, seed=11), segments=5, inbred=False
    )

A field left ``None`` takes the simulator's default (listed in its docstring); a field
that a simulator cannot honour (a gene-dropped population has no effective size) is an
error rather than silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from breedomics.errors import UserError

__all__ = ["GenomeSpec", "DEFAULT_GENOME"]


@dataclass(frozen=True, kw_only=True)
class GenomeSpec:
    """Size, genome and seed of a simulated panel; ``None`` is the simulator's default.

    Attributes
    ----------
    n_samples : int, optional
        Individuals (lines, animals) in the panel.
    n_groups : int, optional
        Groups (demes) the samples come from: the panel's structure.
    n_snps : int, optional
        Markers of the panel (how they are picked is the simulator's: see its docstring).
    n_chrom : int, optional
        Chromosomes.
    chrom_length : int, optional
        Length of a chromosome (bp).
    ne : float, optional
        Diploid effective size of the (founder or per-group) population.
    mu, rho : float, optional
        Mutation and recombination rates per bp per generation.
    maf_min : float, optional
        Minimum minor-allele frequency of a kept marker.
    missing_rate : float, optional
        Fraction of genotypes set missing at random.
    seed : int
        Random seed.
    """

    n_samples: int | None = None
    n_groups: int | None = None
    n_snps: int | None = None
    n_chrom: int | None = None
    chrom_length: int | None = None
    ne: float | None = None
    mu: float | None = None
    rho: float | None = None
    maf_min: float | None = None
    missing_rate: float | None = None
    seed: int = 1

    def resolve(
        self, simulator: str, required: tuple[str, ...] = (), **defaults: float | None
    ) -> GenomeSpec:
        """The spec a simulator runs with: unset fields take the simulator's ``defaults``.

        Parameters
        ----------
        simulator : str
            Name of the simulator, for the error messages.
        required : tuple of str
            Fields the caller must set (no default).
        **defaults
            The simulator's default of every other field it takes (``None``: optional,
            e.g. "all markers"). ``seed`` is always taken.

        Raises
        ------
        UserError
            A required field is unset, or a field the simulator does not take is set.
        """
        taken = {*required, *defaults, "seed"}
        given = {f.name for f in fields(self) if getattr(self, f.name) is not None}
        extra = sorted(given - taken)
        if extra:
            raise UserError(f"{simulator} does not take GenomeSpec field(s) {extra}")
        missing = [name for name in required if getattr(self, name) is None]
        if missing:
            raise UserError(f"{simulator} needs GenomeSpec field(s) {missing}")
        unset = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        return replace(self, **unset)


#: Every field at the simulator's default: the default ``genome`` of the simulators.
DEFAULT_GENOME = GenomeSpec()
