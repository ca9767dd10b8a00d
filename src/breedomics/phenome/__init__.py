"""Phenome: field-trial phenotypes turned into genotype values for GWAS and GS.

Modules
-------
psanova
    Mixed-model form of the 2-D tensor-product P-spline with the PS-ANOVA
    decomposition (fixed linear terms, separately smoothed random terms).
spatial
    One trial fitted with the SpATS model (Rodriguez-Alvarez et al. 2018): BLUEs and
    standard errors, generalised heritability, effective dimensions, fitted trend.
layout
    Checks of the plot coordinates (naming file and line).
variogram
    Sample semivariogram of the residuals by row/column displacement.
trials
    Stage-wise analysis: spatial (or block) model per trial, weighted second stage.
plots
    Field map of the trend and the variogram figure.
series
    Long tables of repeated measurements (unit, time, value), checked and padded.
growth
    Logistic and Gompertz curves fitted to many units at once (Levenberg-Marquardt).
monotone
    Monotone P-splines (asymmetric difference penalty) fitted to many units at once.
curves
    Robust curve fits, AICc model choice and derived traits per unit.
derived
    Per-genotype means of the derived traits; their join to a phenotype table.
cli, curves_cli
    ``breedomics phenome spatial`` and ``breedomics phenome curves``.

References
----------
Rodriguez-Alvarez MX, Boer MP, van Eeuwijk FA, Eilers PHC (2018) Correcting for spatial
heterogeneity in plant breeding experiments with P-splines. *Spatial Statistics*
23:52-71.
"""
